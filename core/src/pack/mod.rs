//! Stateful pieces of the pack pipeline that need no I/O.

mod download_name;
mod part_splitter;
mod retry;

pub use download_name::{archive_file_name, content_disposition};
pub use part_splitter::{Part, PartSplitter, TooManyParts};
pub use retry::Backoff;
