//! The multipart upload's state: its id, the parts in flight and done, and what is needed
//! to settle answers that were lost after the store acted.
//!
//! - A lost `CreateMultipartUpload` answer may have left an upload we never heard of: the
//!   sweep lists the destination's open uploads and aborts those initiated within the
//!   window of our own attempts (so another writer's upload of the key is left alone).
//! - A lost `CompleteMultipartUpload` answer makes the retry meet `NoSuchUpload`: the
//!   destination is looked at, and an object of our size and part count means success.
//! - A lost `AbortMultipartUpload` answer: the retry's `NoSuchUpload` means done.
//! - A lost `UploadPart` answer: the part is sent again under its number.
//!
//! Every part's CRC-64 is kept: S3 checks each part against it and the whole archive
//! against their combination; OSS answers its own, which must agree. A completed archive
//! the store contradicts is deleted.

use std::collections::{BTreeMap, VecDeque};

use super::part_splitter::CopyRange;
use super::rope::Rope;
use crate::store::checksum::{self, Algorithm};

/// Without a `Date` from the store, how far its clock may be from ours: the stores refuse
/// requests signed further off (`RequestTimeTooSkewed`).
const UNKNOWN_SKEW: i64 = 15 * 60;
/// Room for the store's clock granularity and time spent in flight, with a known skew.
const SKEW_MARGIN: i64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Sweep {
    #[default]
    NotStarted,
    Listing,
    Aborting,
    Done,
}

#[derive(Debug, Default)]
pub(crate) struct Upload {
    pub id: Option<String>,
    /// Random, sent as the archive's metadata when the upload is created: how a lost
    /// Complete's archive is told from an older object at the destination. `None` for an
    /// upload resumed from a version that did not mark its uploads.
    pub marker: Option<String>,
    /// An attempt failed without a clear answer: the store may hold an upload we never saw.
    pub create_ambiguous: bool,
    /// Our clock (unix) when the first create attempt left and when the last one ended.
    pub create_window: Option<(u64, u64)>,
    /// Parts being uploaded, kept for their retries.
    pub sending: BTreeMap<u32, Rope>,
    pub etags: BTreeMap<u32, String>,
    /// Each part's CRC-64 (the store's algorithm) and length.
    pub crcs: BTreeMap<u32, (u64, u64)>,
    /// Parts the store is copying (`copy.rs`), kept for their retries.
    pub copying: BTreeMap<u32, CopyRange>,
    /// The CRC and length of runs of copied parts, by their first part's number: known as
    /// a run (from the object's CRC), or part by part (from the copy answers).
    pub copied_crcs: BTreeMap<u32, (u64, u64)>,
    /// A copied part's CRC is unknown: the archive's cannot be stated.
    pub crc_unknown: bool,
    /// Copied parts the store refused to copy, to be read and uploaded instead (one at a
    /// time), and the CRCs those uploads state.
    pub refused_copies: VecDeque<u32>,
    pub fallback_crcs: BTreeMap<u32, u64>,
    /// The refused copy being uploaded from the bytes read (at most one).
    pub fallback_uploading: Option<u32>,
    /// The archive is in place (no upload to abort any more).
    pub completed: bool,
    /// The store's checksum of the completed archive is not ours: it must go.
    pub wrong_archive: bool,
    pub delete_started: bool,
    pub delete_done: bool,
    pub complete_started: bool,
    pub complete_ambiguous: bool,
    /// A repeated Complete found the upload gone (or the destination taken): completed
    /// after all, or aborted; sending it again can tell nothing more.
    pub complete_gone: bool,
    /// When the destination was first found without our archive after a lost Complete
    /// (monotonic ms): it is looked at again for a while (`engine.rs`, `look_again`).
    pub settle_since: Option<u64>,
    pub abort_started: bool,
    pub abort_done: bool,
    /// The upload was aborted (or gone) after a lost Complete, and the destination was
    /// looked at once more (`engine.rs`, `aborted`).
    pub rechecked: bool,
    pub sweep: Sweep,
    /// Uploads to abort: `(key, upload id)`.
    pub strays: VecDeque<(String, String)>,
    /// The store's clock minus ours lies in `low..=high`: from the answer whose `Date`
    /// pinned it down best (the store wrote it between our send and our receipt).
    pub skew: Option<(i64, i64)>,
    /// Our clock when the last `Date` was taken into `skew`.
    pub date_seen: Option<u64>,
    /// A cleanup request was given up on: an upload may be left open.
    pub leaked: bool,
    /// Our own upload's abort was given up on: the checkpoint naming it stays, so the
    /// same request made again takes the upload over (resumes or aborts it).
    pub abort_given_up: bool,
}

impl Upload {
    pub fn create_attempt(&mut self, unix: u64) {
        let (first, _) = self.create_window.unwrap_or((unix, unix));
        self.create_window = Some((first, unix));
    }

    pub fn create_attempt_ended(&mut self, unix: u64) {
        if let Some((first, last)) = self.create_window {
            self.create_window = Some((first, last.max(unix)));
        }
    }

    /// Whether an upload initiated at `initiated` (the store's clock) may be one of ours.
    pub fn in_create_window(&self, initiated: Option<i64>) -> bool {
        let Some((first, last)) = self.create_window else {
            return false;
        };
        let Some(at) = initiated else {
            // No time to judge by: the key is ours to write, so an unknown upload is taken as ours.
            return true;
        };
        let ((low, high), margin) = match self.skew {
            Some(s) => (s, SKEW_MARGIN),
            None => ((0, 0), UNKNOWN_SKEW),
        };
        let from = first as i64 + low - margin;
        let to = last as i64 + high + margin;
        (from..=to).contains(&at)
    }

    /// The CRC of the parts uploaded so far, in order, as one object.
    pub fn archive_crc(&self, algorithm: Algorithm) -> Option<u64> {
        if self.crc_unknown {
            return None;
        }
        let mut all: Vec<(u32, (u64, u64))> = self.crcs.iter().map(|(n, c)| (*n, *c)).collect();
        all.extend(self.copied_crcs.iter().map(|(n, c)| (*n, *c)));
        all.sort_by_key(|(n, _)| *n);
        all.into_iter()
            .map(|(_, c)| c)
            .fold(None, |acc, (crc, len)| {
                Some(match acc {
                    None => crc,
                    Some(a) => checksum::combine(algorithm, a, crc, len),
                })
            })
    }

    /// Whether an answer received at `received` (our clock) could tell more of the skew
    /// than is known: not once an exact bound was taken in this same second. Parsing every
    /// answer's `Date` cost ~1 % of a pack of small objects, one answer each.
    pub fn wants_date(&self, received: u64) -> bool {
        !(self.skew.is_some_and(|(l, h)| l == h) && self.date_seen == Some(received))
    }

    /// An answer sent at `sent` and received at `received` (our clock) said `date`.
    pub fn saw_date(&mut self, date: i64, sent: u64, received: u64) {
        self.date_seen = Some(received);
        // A late answer (stalled on the way) bounds the skew loosely; keep the tightest.
        let seen = (date - received as i64, date - sent as i64);
        if self.skew.is_none_or(|(l, h)| seen.1 - seen.0 <= h - l) {
            self.skew = Some(seen);
        }
    }

    /// Parts of either kind in flight.
    pub fn in_flight(&self) -> usize {
        self.sending.len() + self.copying.len()
    }

    /// Bytes of parts in flight.
    pub fn held(&self) -> u64 {
        self.sending.values().map(|b| b.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::Upload;

    #[test]
    fn a_date_is_read_until_the_skew_is_exact_within_the_second() {
        let mut u = Upload::default();
        assert!(u.wants_date(100));
        // Sent at 99, received at 100: the skew is known within a second only.
        u.saw_date(1_000, 99, 100);
        assert_eq!(u.skew, Some((900, 901)));
        assert!(u.wants_date(100));
        // Sent and received in one second: exact, nothing more to learn in it.
        u.saw_date(1_000, 100, 100);
        assert_eq!(u.skew, Some((900, 900)));
        assert!(!u.wants_date(100));
        // The next second is looked at again (the store's clock may step).
        assert!(u.wants_date(101));
    }
}
