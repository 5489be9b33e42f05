//! The store requests of one pack: which operation each in-flight token stands for, and
//! the retries waiting for their time. Ordered maps only, so a run replays exactly.

use std::collections::BTreeMap;

use super::io::Token;

/// One logical store operation; its attempts share it, each under a fresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// A page of the listing's stream number `stream` (`listing.rs`).
    List {
        stream: usize,
        token: Option<String>,
    },
    /// The lookup of `source-files` number `index`.
    Head {
        index: usize,
    },
    /// Whether the destination exists, before the upload starts (no overwriting allowed).
    CheckDest,
    /// The checkpoint a died pack of this destination may have left (`resume.rs`).
    GetCheckpoint,
    /// Writes ours: to claim the destination (`renew: false`), or renewing the lease.
    PutCheckpoint {
        renew: bool,
    },
    /// A page of the parts of the upload being resumed.
    ListParts {
        marker: Option<u32>,
    },
    /// Whether the checkpoint names our upload, after a write of it ended without a clear
    /// answer (a claim refused on its retry, or a pack ending).
    VerifyCheckpoint,
    /// Aborts the upload a checkpoint of another plan names.
    AbortStale {
        upload_id: String,
    },
    /// Removes our checkpoint as the pack ends.
    DeleteCheckpoint,
    Create,
    Part {
        number: u32,
    },
    Complete,
    /// Looks at the destination after a completion whose answer was lost.
    HeadDest,
    Abort,
    /// A page of the open uploads of the destination key (the sweep after a lost create).
    ListUploads {
        key_marker: Option<String>,
        id_marker: Option<String>,
    },
    AbortStray {
        key: String,
        upload_id: String,
    },
    Read {
        unit: usize,
    },
    /// S3: the checksum of an object read in ranges (range answers carry none).
    Checksum {
        entry: usize,
    },
    /// Looks at the completed archive when the completion's answer showed no checksum.
    VerifyDest,
    /// Removes a completed archive whose checksum the store contradicts.
    DeleteDest,
    /// An object that may be copied, for its checksum (S3's CRC32 gives the CRC-32; OSS
    /// is looked up only with seams, for the CRC-64 of an entry none of which is read).
    Probe {
        entry: usize,
    },
    /// The record an earlier pack left of an object that may be copied (`copy.rs`).
    GetRecord {
        entry: usize,
    },
    /// The first bytes of an `auto` object that may be copied, for the sniff that decides
    /// whether it is stored (and so copied), before the choice (`copy.rs`).
    Sniff {
        entry: usize,
    },
    /// Range number `range` of an object that may be copied, read by the host for its
    /// CRCs alone when nothing else tells its CRC-32 (`store::host_hashes`, heads only):
    /// its bytes never enter the guest. Ranges, so a large object is hashed as fast as
    /// it is read.
    HashObject {
        entry: usize,
        range: u32,
    },
    /// A part the store copies from an object.
    CopyPart {
        number: u32,
    },
    /// The bytes of a copied part the store refused to copy, read to be uploaded instead.
    CopyRead {
        number: u32,
    },
    /// Leaves what this pack learned of an object for later packs.
    PutRecord {
        entry: usize,
    },
    /// A step of a seam (`seams.rs`).
    Seam(SeamOp),
}

/// The steps of the seam that becomes the archive's part `number`: its scratch upload,
/// the tail copied into it, its bytes, its completion, the archive's part copied from it,
/// and its removal (abort or delete); and the sweep of scratch keys (a page of the
/// scratch objects after the destination's key, and the removal of one found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SeamOp {
    Create { number: u32 },
    Tail { number: u32 },
    Bytes { number: u32 },
    Complete { number: u32 },
    Copy { number: u32 },
    Abort { number: u32 },
    Delete { number: u32 },
    ListScratch { token: Option<String> },
    DeleteScratch { key: String },
}

impl Op {
    /// Cleanup gets more attempts, and runs on after the pack failed.
    pub fn is_cleanup(&self) -> bool {
        matches!(
            self,
            Op::Abort
                // An older plan's upload, which nothing else will abort once the checkpoint
                // naming it is gone: it must go even if this pack fails.
                | Op::AbortStale { .. }
                | Op::ListUploads { .. }
                | Op::AbortStray { .. }
                | Op::HeadDest
                | Op::DeleteDest
                | Op::DeleteCheckpoint
                | Op::VerifyCheckpoint
        ) || matches!(self, Op::Seam(step) if !step.is_write())
    }

    /// A step of a seam's scratch upload that writes (waited for before cleanup).
    pub fn is_seam_write(&self) -> bool {
        matches!(self, Op::Seam(step) if step.is_write())
    }
}

impl SeamOp {
    /// The archive part whose seam the step is of (none for the sweep's steps).
    pub fn number(&self) -> Option<u32> {
        match *self {
            SeamOp::Create { number }
            | SeamOp::Tail { number }
            | SeamOp::Bytes { number }
            | SeamOp::Complete { number }
            | SeamOp::Copy { number }
            | SeamOp::Abort { number }
            | SeamOp::Delete { number } => Some(number),
            SeamOp::ListScratch { .. } | SeamOp::DeleteScratch { .. } => None,
        }
    }

    /// Builds the seam (the rest remove it, or sweep).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            SeamOp::Create { .. }
                | SeamOp::Tail { .. }
                | SeamOp::Bytes { .. }
                | SeamOp::Complete { .. }
                | SeamOp::Copy { .. }
        )
    }
}

/// An attempt on its way: the answer is gathered here (reads excepted, whose bytes go
/// to their unit as they come).
#[derive(Debug)]
pub(crate) struct InFlight {
    pub op: Op,
    pub attempt: u32,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Our clock (unix) when it left: with the answer's `Date`, it bounds the store's skew.
    pub sent_unix: u64,
}

impl InFlight {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

pub(crate) fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    next_token: u64,
    pub in_flight: BTreeMap<Token, InFlight>,
    /// `(due, sequence) → (op, attempt)`: retries in the order they were scheduled.
    timers: BTreeMap<(u64, u64), (Op, u32)>,
}

impl Requests {
    /// A new attempt in flight; its token.
    pub fn register(&mut self, op: Op, attempt: u32, sent_unix: u64) -> Token {
        self.next_token += 1;
        let token = Token(self.next_token);
        self.in_flight.insert(
            token,
            InFlight {
                op,
                attempt,
                status: None,
                headers: Vec::new(),
                body: Vec::new(),
                sent_unix,
            },
        );
        token
    }

    pub fn schedule(&mut self, op: Op, attempt: u32, due_ms: u64) {
        self.next_token += 1;
        self.timers.insert((due_ms, self.next_token), (op, attempt));
    }

    /// The retries whose time has come, in order.
    pub fn due(&mut self, now_ms: u64) -> Vec<(Op, u32)> {
        let later = self.timers.split_off(&(now_ms + 1, 0));
        std::mem::replace(&mut self.timers, later)
            .into_values()
            .collect()
    }

    pub fn deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|(due, _)| *due)
    }

    /// Drops every waiting retry `drop` picks.
    pub fn unschedule(&mut self, drop: impl Fn(&Op) -> bool) {
        self.timers.retain(|_, (op, _)| !drop(op));
    }

    /// Whether an operation `pick` picks is in flight or waiting to retry.
    pub fn pending(&self, pick: impl Fn(&Op) -> bool) -> bool {
        self.in_flight.values().any(|f| pick(&f.op)) || self.timers.values().any(|(op, _)| pick(op))
    }

    /// How many operations `pick` picks are in flight or waiting to retry.
    pub fn count(&self, pick: impl Fn(&Op) -> bool) -> usize {
        self.in_flight.values().filter(|f| pick(&f.op)).count()
            + self.timers.values().filter(|(op, _)| pick(op)).count()
    }

    /// The tokens of the in-flight attempts `pick` picks.
    pub fn tokens(&self, pick: impl Fn(&Op) -> bool) -> Vec<Token> {
        self.in_flight
            .iter()
            .filter(|(_, f)| pick(&f.op))
            .map(|(t, _)| *t)
            .collect()
    }
}
