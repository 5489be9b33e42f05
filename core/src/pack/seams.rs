//! Seams: how two copied entries in a row join without carrying a byte.
//!
//! Every part but the last must reach the store's minimum (S3: 5 MiB), and a part is
//! either uploaded bytes or one copied range. Between two copied entries the archive holds
//! only the second one's local header, far too short for a part of its own; without a
//! seam the part holding it also holds the second object's first 5 MiB, read and carried
//! (`copy.rs`). A seam builds that part in the store instead: a **scratch object** made
//! by its own multipart upload, the first entry's last 5 MiB copied as its part 1 and the
//! header uploaded as its part 2 (a last part may be short), which the archive then copies
//! whole as one part.
//!
//! Per seam: create, copy the tail and upload the header (at once), complete, copy into
//! the archive, delete: six small requests instead of 5 MiB read and uploaded.
//!
//! Nothing is left behind: a scratch upload not completed is aborted and a scratch object
//! that may exist is deleted, whether the pack succeeds or fails. Scratch keys are the
//! destination's, the archive upload's id (hashed), the part number and
//! [`SEAM_SUFFIX`]; listings skip them. A lost create answer, or a died pack found at the
//! start (its checkpoint names its upload, so its scratch keys), has the end of the pack
//! sweep the store for those keys: open uploads aborted, objects deleted.
//!
//! A store that will not copy the tail has it read, and the seam goes up as an ordinary
//! part, as with any refused copy.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::part_splitter::CopyRange;
use super::rope::Rope;

/// Ends every scratch key: a listing skips such keys.
pub const SEAM_SUFFIX: &str = ".zip-oss-seam";

/// The scratch keys of the archive upload `upload_id` to `dest` start with this.
pub fn scratch_prefix(dest: &str, upload_id: &str) -> String {
    let digest = Sha256::digest(upload_id.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{dest}.{hex}.")
}

pub fn scratch_key(prefix: &str, number: u32) -> String {
    format!("{prefix}{number}{SEAM_SUFFIX}")
}

/// One seam, as the archive's part `number`.
#[derive(Debug)]
pub(crate) struct Seam {
    pub key: String,
    /// Part 1: the end of the copied entry before (copied).
    pub tail: CopyRange,
    /// Part 2: the archive's bytes after it, and their CRC (archive's algorithm).
    pub bytes: Rope,
    pub bytes_crc: Option<u64>,
    pub upload_id: Option<String>,
    /// Part 1's ETag and the CRC its copy answer stated.
    pub tail_done: Option<(String, Option<u64>)>,
    pub bytes_etag: Option<String>,
    /// A completion was sent: the scratch object may exist. Its ETag, once known.
    pub complete_sent: bool,
    pub completed: Option<Option<String>>,
    /// The archive's part is in: copied from the scratch object, or (refused) its bytes
    /// read and handed to the upload.
    pub placed: bool,
    /// The store would not copy: the seam is read and uploaded as an ordinary part.
    pub refused: bool,
    pub abort_sent: bool,
    pub abort_done: bool,
    pub delete_sent: bool,
    pub delete_done: bool,
}

impl Seam {
    pub fn new(key: String, tail: CopyRange, bytes: Rope, bytes_crc: Option<u64>) -> Seam {
        Seam {
            key,
            tail,
            bytes,
            bytes_crc,
            upload_id: None,
            tail_done: None,
            bytes_etag: None,
            complete_sent: false,
            completed: None,
            placed: false,
            refused: false,
            abort_sent: false,
            abort_done: false,
            delete_sent: false,
            delete_done: false,
        }
    }

    /// The scratch object's length.
    pub fn len(&self) -> u64 {
        self.tail.len() + self.bytes.len() as u64
    }

    /// Whether its archive part still waits for it.
    pub fn in_flight(&self) -> bool {
        !self.placed
    }

    /// Whether the scratch upload may be open.
    pub fn needs_abort(&self) -> bool {
        self.upload_id.is_some() && self.completed.is_none() && !self.abort_done
    }

    /// Whether the scratch object may exist.
    pub fn needs_delete(&self) -> bool {
        self.complete_sent && !self.delete_done
    }
}

#[derive(Debug, Default)]
pub(crate) struct Seams {
    pub open: BTreeMap<u32, Seam>,
    /// The store refused a seam: the rest are read at once.
    pub refused: bool,
    /// Scratch prefixes to sweep as the pack ends: a create answer was lost, or a died
    /// pack's keys.
    pub sweep: BTreeSet<String>,
    pub sweep_state: ScratchSweep,
    /// The scratch objects the sweep found.
    pub found_objects: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ScratchSweep {
    #[default]
    NotStarted,
    Listing,
    Removing,
    Done,
}

impl Seams {
    pub fn in_flight(&self) -> usize {
        self.open.values().filter(|s| s.in_flight()).count()
    }

    /// Bytes of seams kept until their part is in (a refused copy needs them).
    pub fn held(&self) -> u64 {
        self.open.values().map(|s| s.bytes.len() as u64).sum()
    }

    /// Whether `key` is a scratch key the sweep removes.
    pub fn swept(&self, key: &str) -> bool {
        key.ends_with(SEAM_SUFFIX) && self.sweep.iter().any(|p| key.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_keys_belong_to_one_upload_of_one_destination() {
        let a = scratch_prefix("out/a.zip", "id-1");
        let b = scratch_prefix("out/a.zip", "id-2");
        assert_ne!(a, b);
        assert!(a.starts_with("out/a.zip."));
        let key = scratch_key(&a, 7);
        assert!(key.ends_with(SEAM_SUFFIX) && key.starts_with(&a));
        let seams = Seams {
            sweep: [a.clone()].into(),
            ..Seams::default()
        };
        assert!(seams.swept(&key));
        assert!(!seams.swept(&scratch_key(&b, 7)));
        assert!(!seams.swept(&format!("{a}7")));
    }
}
