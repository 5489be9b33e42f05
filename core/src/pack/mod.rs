//! Stateful pieces of the pack pipeline that need no I/O.

mod part_splitter;
mod retry;

pub use part_splitter::{Part, PartSplitter, TooManyParts};
pub use retry::Backoff;
