//! How a pack tells the world it ended when nobody holds its request: the status object
//! it keeps current in the bucket, and the signed callback it `POST`s at its end.
//!
//! - [`prefer`]: `Prefer: respond-async` (RFC 7240).
//! - [`status`]: the status document and where it lives (`<dest-key>.status.json`).
//! - [`hosts`]: the operator's allow-list of callback hosts, and callback URLs.
//! - [`callback`]: the callback's body, its HMAC-SHA256 signature, and its retries.
//!
//! No server-side state: everything a caller needs afterwards is in the bucket (the status
//! object, read through its presigned link) or was sent to it (the callback), so any
//! instance — or none — can answer for a pack once its request has been answered.

pub mod callback;
pub mod hosts;
pub mod prefer;
pub mod status;

pub use callback::{
    sign, verify, CallbackBody, CallbackKey, CallbackKeyError, Retry, SignatureError,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
pub use hosts::{CallbackHosts, CallbackUrl, HostsConfigError, UrlError};
pub use prefer::prefers_respond_async;
pub use status::{
    check_dest_is_not_status, is_status_of, status_key, CallbackRecord, ErrorDoc, State, Status,
    StatusKeyError, STATUS_SUFFIX,
};
