//! zip-oss-core: everything zip-oss decides, with no I/O.
//!
//! - [`auth`]: who may pack what and where: signed pack links, bearer tokens,
//!   destination and source prefixes.
//! - [`zip`]: ZIP records and the streaming encoder.
//! - [`store`]: object-store requests, one file per operation, and their signing.
//! - [`plan`]: the pack request, listing → entries, naming rules, part sizing.
//! - [`notify`]: packs that outlive their request: the status object, the signed
//!   callback, the callback allow-list.
//! - [`pack`]: the pieces of the pack pipeline that hold state: cutting the
//!   archive into parts, retry timing.
//!
//! The component (wasm) and the host (native) drive these; they only move bytes.

pub mod auth;
#[doc(hidden)]
pub mod fuzzing;
pub mod notify;
pub mod pack;
pub mod plan;
pub mod store;
pub mod zip;
