//! What one pack is asked to do, and the knobs that shape how it does it.

use super::retry::Backoff;
use crate::plan::{PackRequest, MIN_PART_SIZE};
use crate::store::StoreConfig;

/// Everything the engine needs; it reads nothing from its surroundings.
#[derive(Clone, Debug)]
pub struct Job {
    pub store: StoreConfig,
    pub request: PackRequest,
    /// The archive's key (upload mode).
    pub dest: String,
    pub mode: Mode,
    pub limits: Limits,
    pub tuning: Tuning,
    /// Where zip-oss keeps what it learned of objects (their CRC-32s) for later packs to
    /// copy instead of carry (`copy.rs`); `None`: no records read or written.
    pub records: Option<String>,
    /// Seeds the retry jitter: a simulated run with the same seed replays exactly.
    pub seed: u64,
}

/// Where the archive's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A multipart upload to `dest`, then a presigned link.
    Upload,
    /// Straight to the caller ([`super::Action::Output`]), nothing uploaded.
    Stream,
}

/// What the operator allows one pack; checked against the plan before anything is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// How many reads and parts are in flight and how large they are. The defaults are what
/// the service runs with; the simulation shrinks them to exercise every path with little data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Objects up to this size are read whole, `read_ahead` at once, ahead of their turn.
    pub small_object_max: u64,
    pub read_ahead: usize,
    /// Larger objects are read as ranges of this size, `read_ranges` at once across objects;
    /// with `read_ranges == 1` each is one stream, `range_bytes` of it buffered at most.
    pub range_bytes: u64,
    pub read_ranges: usize,
    /// Parts uploading at once. Three: a fourth measured no faster, on loopback or behind
    /// 10 ms, and would reserve 5 MiB more (BENCHMARKS 2026-12-05).
    pub parts_in_flight: usize,
    /// The smallest part cut (the store's minimum, except the last part).
    pub min_part_size: u64,
    /// Pieces of a streamed archive the caller may hold unconsumed.
    pub stream_pieces: usize,
    /// Source-file lookups, or listing requests, in flight at once.
    pub heads_in_flight: usize,
    /// Key ranges a folder's listing is split into at most, listed at once
    /// (`list_split.rs`); 1 lists each folder flat, its pages one after another.
    pub list_ranges: usize,
    pub backoff: Backoff,
    /// Attempts of the requests that clean up (abort, sweep, settle): more than the rest,
    /// since giving up on them leaves an upload open.
    pub cleanup_attempts: u32,
    /// And for at least this long (seconds) since the pack's first failed cleanup
    /// request: a store outage of a minute or two at the end of a pack is waited out
    /// rather than an upload left open until a lifecycle rule.
    pub cleanup_for_secs: u64,
    /// How often one read may break off and resume.
    pub max_resumes: u32,
    /// Verify reads against the store's checksums and state ours on every part and on the
    /// archive. Off only for stores that refuse the checksum headers (and to measure what
    /// the checks cost): objects are then counted unverified and the summary has no checksum.
    pub checksums: bool,
    /// An uploading pack keeps a checkpoint next to its archive and renews it this often
    /// (seconds) times three, so that the same request resumes it after it died
    /// (`resume.rs`); 0 turns resuming off.
    pub resume_lease_secs: u64,
    /// Let the store copy the middle of large stored objects into the archive instead of
    /// reading and uploading them (`copy.rs`), when their CRC-32 is known.
    pub copy: bool,
    /// The host hashes an answer's body without handing the guest its bytes
    /// (`store::host_hashes`, heads only): a large stored object whose CRC-32 nothing else
    /// tells is read by the host once for it, and then copied (`copy.rs`). Off where the
    /// guest would hash it itself, which costs more than carrying the bytes.
    pub hash_to_copy: bool,
    /// And hashes a large object in ranges of this size, at once (`heads_in_flight`): small
    /// enough that the first objects' ranges are all in the first few at once, so the
    /// writer, which waits for each object's CRC-32 in turn, waits little.
    pub hash_range_bytes: u64,
    /// The store's smallest part (also the head of a copied entry); 0: the provider's.
    pub copy_min_part: u64,
    /// Two copied entries in a row are joined by a seam (`seams.rs`) instead of carrying
    /// the second one's head, when the head is at least this: a seam costs six requests,
    /// worth it for S3's 5 MiB, not for OSS's 128 KiB.
    pub seam_min_head: u64,
}

/// The sniff of `auto` compression looks at this much of an object's start; a first
/// read is never smaller, so the decision never depends on how the bytes arrived.
pub const SNIFF_BYTES: u64 = 64 << 10;

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            small_object_max: 1 << 20,
            read_ahead: 16,
            range_bytes: 2 << 20,
            read_ranges: 4,
            parts_in_flight: 3,
            min_part_size: MIN_PART_SIZE,
            stream_pieces: 8,
            heads_in_flight: 16,
            list_ranges: 16,
            backoff: Backoff::default(),
            cleanup_attempts: 10,
            cleanup_for_secs: 120,
            max_resumes: 5,
            checksums: true,
            resume_lease_secs: 20,
            copy: true,
            hash_to_copy: false,
            hash_range_bytes: 16 << 20,
            copy_min_part: 0,
            seam_min_head: 1 << 20,
        }
    }
}

impl Tuning {
    /// The same knobs held within what the engine's guarantees need.
    pub fn normalized(mut self) -> Self {
        self.range_bytes = self.range_bytes.max(SNIFF_BYTES);
        self.small_object_max = self.small_object_max.min(self.range_bytes);
        self.read_ahead = self.read_ahead.max(1);
        self.read_ranges = self.read_ranges.clamp(1, 64);
        self.parts_in_flight = self.parts_in_flight.max(1);
        self.min_part_size = self.min_part_size.max(1);
        self.stream_pieces = self.stream_pieces.max(1);
        self.heads_in_flight = self.heads_in_flight.max(1);
        self.hash_range_bytes = self.hash_range_bytes.max(1);
        self.list_ranges = self.list_ranges.max(1);
        self.backoff.max_attempts = self.backoff.max_attempts.max(1);
        self.cleanup_attempts = self.cleanup_attempts.max(self.backoff.max_attempts);
        self
    }
}

impl Job {
    pub fn new(store: StoreConfig, request: PackRequest, dest: String, mode: Mode) -> Self {
        Job {
            store,
            request,
            dest,
            mode,
            limits: Limits::default(),
            tuning: Tuning::default(),
            records: None,
            seed: 0,
        }
    }
}
