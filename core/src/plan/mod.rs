//! The pack plan: what the request asks for, which entries the archive gets and
//! under which names, and how the upload is cut into parts.

mod entries;
mod naming;
mod part_size;
mod request;

pub use entries::{Plan, PlannedEntry, Source};
pub use naming::{entry_name, unique_name};
pub use part_size::{part_size, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
pub use request::{PackRequest, RequestError, DEFAULT_URL_EXPIRES};
