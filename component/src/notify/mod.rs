//! The I/O of packs that outlive their request; what they write and send, and when, is
//! core's `notify`.
//!
//! - [`respond_async`]: `Prefer: respond-async`: the checks and the status object before
//!   the `202`, then the pack, run after the answer.
//! - [`status`]: the status object's writes.
//! - [`callback`]: the signed callback and its retries.

mod callback;
mod respond_async;
mod status;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use wstd::http::Client;

pub use callback::Callback;
pub use respond_async::start;
pub use status::{StatusObject, STATUS_EVERY_MS};

/// What runs once the answer has been sent (an asynchronous pack, a callback): the handler
/// keeps running, and the instance lives, until it ends.
pub type After = Pin<Box<dyn Future<Output = ()>>>;

/// The store's client for the small requests made here: short timeouts.
fn store_client() -> Client {
    let mut http = Client::new();
    http.set_connect_timeout(Duration::from_secs(10));
    http.set_first_byte_timeout(Duration::from_secs(30));
    http.set_between_bytes_timeout(Duration::from_secs(30));
    http
}
