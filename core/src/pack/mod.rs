//! The pack: the engine that decides every request of one pack, and its parts.
//!
//! - [`Engine`] (`engine.rs`): the state machine; [`Action`]s out, [`Event`]s in (`io.rs`).
//! - `requests.rs`: tokens, attempts and retry timers; `retry.rs`: the backoff.
//! - `listing.rs`: the objects to pack; `reads.rs`: which bytes are read when.
//! - `writer.rs`: entries through the encoder into parts (`part_splitter.rs`) or pieces.
//! - `upload.rs`: the multipart upload, and settling answers lost after the store acted.
//! - `copy.rs`: large stored objects copied by the store instead of carried.
//! - `resume.rs`: the checkpoint that lets the same request continue a pack that died.
//! - [`PackError`], [`Summary`], [`Job`]: how a pack ends, and what it is asked.
//! - [`Progress`]: how far a pack has come ([`Engine::progress_so_far`]).

mod copy;
mod download_name;
mod engine;
mod error;
mod io;
mod job;
mod list_guess;
mod list_split;
mod listing;
mod part_splitter;
mod progress;
mod read_window;
mod reads;
mod requests;
mod resume;
mod retry;
mod rng;
mod rope;
mod seams;
mod summary;
mod upload;
mod verify;
mod writer;

pub use copy::{record_key, Record};
pub use download_name::{archive_file_name, content_disposition};
pub use engine::Engine;
pub use error::PackError;
pub use io::{Action, Event, NetError, Now, Token};
pub use job::{Job, Limits, Mode, Tuning, SNIFF_BYTES};
pub use part_splitter::{CopyRange, Part, PartSplitter, TooManyParts};
pub use progress::Progress;
pub use resume::{checkpoint_body, checkpoint_key, lease_left, CHECKPOINT_SUFFIX};
pub use retry::Backoff;
pub use rng::Rng;
pub use rope::Rope;
pub use seams::SEAM_SUFFIX;
pub use summary::{ArchiveChecksum, Summary};
