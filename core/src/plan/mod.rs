//! The pack plan: what the request asks for, which entries the archive gets and
//! under which names, and how the upload is cut into parts.

mod compressibility;
mod entries;
mod entry_name;
mod naming;
mod part_size;
mod request;
mod taken_names;

pub use compressibility::{
    compressed_by_content, compressed_by_extension, incompressible, sniffs_stored,
};
pub use entries::{Plan, PlanOptions, PlannedEntry, Source};
pub use naming::{entry_name, unique_name};
pub use part_size::{part_size, part_size_at_least, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
pub use request::{
    Compression, Folders, PackRequest, RequestError, SourceFile, DEFAULT_DEFLATE_LEVEL,
    DEFAULT_URL_EXPIRES,
};
