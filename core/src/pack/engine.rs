//! The pack engine: every decision of one pack, as a state machine without I/O.
//!
//! The driver feeds it [`Event`]s (answers, body bytes, failures, the time) and carries
//! out the [`Action`]s it yields (send this request, grant credit, reserve memory, emit
//! bytes, done). Like rc-zip's `ArchiveFsm`, scaled to many requests in flight: every
//! request carries a [`Token`]. No clock and no randomness inside: the time comes with
//! each call, the retry jitter from the job's seed, so a simulated pack replays exactly.
//!
//! One pack: list → plan → reserve memory → create the upload (while the first reads
//! start) → encode entries as their bytes arrive, cut into parts, upload them → complete
//! → presign. Any failure after the upload exists aborts it; answers lost after the store
//! acted are settled as `upload.rs` describes. Before the upload starts, a checkpoint left
//! by a pack of the same request that died is looked for, and its upload continued
//! (`resume.rs`). Every object's bytes are checked against
//! the store's checksum (`verify.rs`), every part and the whole archive against ours.

mod seam_flow;

use std::collections::VecDeque;

use bytes::Bytes;

use super::copy::{self, Copies, Record};
use super::error::PackError;
use super::io::{Action, Event, NetError, Now, Token};
use super::job::{Job, Mode, Tuning, SNIFF_BYTES};
use super::listing::Listing;
use super::progress::Progress;
use super::reads::Reads;
use super::requests::{header, InFlight, Op, Requests};
use super::resume::{self, Checkpoint, Found, Resume};
use super::retry::Backoff;
use super::rng::Rng;
use super::rope::Rope;
use super::seams::{Seams, SEAM_SUFFIX};
use super::summary::Summary;
use super::upload::{Sweep, Upload};
use super::verify::Verdict;
use super::writer::{Output, Writer};
use crate::plan::{part_size_at_least, sniffs_stored, Plan, PlanOptions};
use crate::store::checksum::{Algorithm, Checksum, Claimed};
use crate::store::host_hashes::{self, Hashed};
use crate::store::{
    AbortMultipartUpload, Bucket, CompleteMultipartUpload, CompletedPart, CreateMultipartUpload,
    DeleteObject, ETag, ErrorKind, GetObject, HeadObject, HttpRequest, ListMultipartUploads,
    ListObjectsV2, ListParts, ObjectKey, PresignedGet, Provider, PutObject, StoreError, UploadPart,
    UploadPartCopy,
};
use crate::zip::Layout;

/// XML answers larger than this are refused (a listing page of 1,000 long keys fits).
const MAX_XML: u64 = 16 << 20;
/// Error bodies of object reads are read up to this much.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// Room for the encoder (deflate state), the HTTP buffers, XML answers and the rest.
const WORKING_MEMORY: u64 = 4 << 20;
/// The largest piece a streamed archive is handed out in: a data slice, or a header.
const PIECE_MAX: u64 = 400 << 10;
/// Copied parts in flight per uploaded one: the store does the work, not us.
const COPIES_PER_PART: usize = 4;
/// The largest record of an object read back (`copy.rs`); a real one is ~200 bytes.
const MAX_RECORD: u64 = 4 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Listing,
    /// Looking up the CRC-32s of objects that may be copied (`copy.rs`).
    Probing,
    Reserving,
    Writing,
    Completing,
    /// The archive is in place; sweeping strays if a create answer was lost.
    Finishing,
    /// A failure is recorded; waiting for requests in flight, then abort and sweep.
    Failing,
    Over,
}

pub struct Engine {
    job: Job,
    tuning: Tuning,
    bucket: Bucket,
    dest: ObjectKey,
    phase: Phase,
    actions: VecDeque<Action>,
    requests: Requests,
    rng: Rng,
    started_ms: u64,
    listing: Option<Listing>,
    plan: Plan,
    predicted: Option<u64>,
    reserved: u64,
    reads: Option<Reads>,
    writer: Option<Writer>,
    upload: Upload,
    resume: Resume,
    /// Where the checkpoint goes (`None`: resuming is off).
    checkpoint: Option<ObjectKey>,
    /// The CRC-64 the archive's parts and whole are checked with (the store's own).
    archive_algorithm: Algorithm,
    copies: Copies,
    /// The seams' scratch uploads (`seams.rs`).
    seams: Seams,
    /// Records to write once the archive is in place (`copy.rs`), and those on their way.
    records_due: Option<VecDeque<usize>>,
    failure: Option<PackError>,
    /// The host refused a request: it is stopping this pack, and sends only cleanup.
    stopped: bool,
    /// When the cleanup requests began to fail (since the last one answered): cleanup is
    /// retried for a while from then.
    cleanup_failed_at: Option<u64>,
}

impl Engine {
    /// A pack about to start; its first actions come from [`Engine::poll`].
    pub fn new(job: Job, now: Now) -> Engine {
        let tuning = job.tuning.normalized();
        let checked = check_job(&job);
        let (bucket, dest) = match &checked {
            Ok((b, d)) => (b.clone(), d.clone()),
            Err(_) => (
                Bucket::new("invalid").expect("valid"),
                ObjectKey::new("invalid").expect("valid"),
            ),
        };
        let archive_algorithm = Algorithm::for_archive(job.store.provider);
        let checkpoint = (job.mode == Mode::Upload && tuning.resume_lease_secs > 0)
            .then(|| ObjectKey::new(resume::checkpoint_key(&job.dest)).ok())
            .flatten();
        let resume = Resume {
            lease_secs: checkpoint.as_ref().map_or(0, |_| tuning.resume_lease_secs),
            ..Resume::default()
        };
        let mut rng = Rng::new(job.seed);
        let upload = Upload {
            marker: Some(format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())),
            ..Upload::default()
        };
        let mut engine = Engine {
            rng,
            listing: Some(Listing::new(&job.request, tuning.list_ranges)),
            job,
            tuning,
            bucket,
            dest,
            phase: Phase::Listing,
            actions: VecDeque::new(),
            requests: Requests::default(),
            started_ms: now.mono_ms,
            plan: Plan::default(),
            predicted: None,
            reserved: 0,
            reads: None,
            writer: None,
            upload,
            resume,
            checkpoint,
            archive_algorithm,
            copies: Copies::default(),
            seams: Seams::default(),
            records_due: None,
            failure: None,
            stopped: false,
            cleanup_failed_at: None,
        };
        match checked {
            Ok(_) => engine.start_listing(),
            Err(e) => engine.fail(e),
        }
        engine.progress(now);
        engine
    }

    /// The next thing to do, or `None` until an event arrives or [`Engine::deadline`] passes.
    pub fn poll(&mut self, now: Now) -> Option<Action> {
        if self.actions.is_empty() {
            for (op, attempt) in self.requests.due(now.mono_ms) {
                self.send(op, attempt, now);
            }
            // A phase that ends within a step moves on at once, even when it asked for
            // nothing: a failure found while writing, with nothing in flight to cancel,
            // had no event coming to start its cleanup, and the pack hung.
            loop {
                let phase = self.phase;
                self.progress(now);
                if !self.actions.is_empty() || self.phase == phase {
                    break;
                }
            }
        }
        self.actions.pop_front()
    }

    /// When [`Engine::poll`] has more to do even without an event (a retry's time).
    pub fn deadline(&self) -> Option<u64> {
        self.requests.deadline()
    }

    /// Memory held for object bytes, parts and pieces; never more than [`Engine::reserved`].
    pub fn held(&self) -> u64 {
        self.reads.as_ref().map_or(0, Reads::held)
            + self.writer.as_ref().map_or(0, Writer::held)
            + self.upload.held()
            + self.seams.held()
    }

    /// Part buffers alive: uploading (a refused copy's read aside), waiting to, waiting
    /// for a patch, and filling; never more than [`Engine::part_buffers_reserved`].
    pub fn part_buffers(&self) -> usize {
        let fallback = self
            .upload
            .fallback_uploading
            .is_some_and(|n| self.upload.sending.contains_key(&n));
        self.upload.sending.len() - usize::from(fallback)
            + self.writer.as_ref().map_or(0, Writer::part_buffers)
    }

    /// Part buffers the reservation holds: `parts_in_flight` full ones (uploading or
    /// waiting to) and one more. A writer step completes at most one part and the bytes
    /// after it wait outside the filling part (`Writer::pending`), so a part fills only
    /// while fewer than `parts_in_flight` are full; the one held for its header's CRC
    /// (`part_splitter.rs` never cuts among the fields to patch) is not counted among the
    /// full ones, so with it the filling part makes `parts_in_flight + 1`. The simulation
    /// reaches this bound in a quarter of its seeds and never passes it.
    pub fn part_buffers_reserved(&self) -> usize {
        self.tuning.parts_in_flight + 1
    }

    /// Whether the writer waits at an entry whose CRC-32 the host's hashing has yet to
    /// tell (`copy.rs`): the simulation makes sure it comes to that.
    pub fn waits_for_hashing(&self) -> bool {
        let at = self.writer.as_ref().and_then(Writer::between_at);
        at.is_some_and(|e| self.copies.pending.contains(&e))
    }

    /// What the pack asked the driver to set aside (0 before it did).
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Whether a cleanup request (abort, sweep) was given up on, so an upload may be left
    /// open: the driver should say so where operators look.
    pub fn upload_may_be_left_open(&self) -> bool {
        self.upload.leaked
    }

    /// Entries and object bytes packed so far, of the plan's totals (zero while listing,
    /// and once the pack is over). Walks the reads: call it a few times a second, not per event.
    pub fn progress_so_far(&self) -> Progress {
        match (self.phase, &self.reads) {
            (Phase::Completing | Phase::Finishing, _) => Progress::complete(&self.plan),
            (Phase::Writing | Phase::Failing, Some(reads)) => {
                Progress::of_reads(&self.plan, reads, self.copies.copied_bytes)
            }
            _ => Progress::default(),
        }
    }

    /// The plan, once the listing is done.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn handle(&mut self, event: Event, now: Now) {
        match event {
            Event::Reserved { ok } => self.reserved_memory(ok, now),
            Event::OutputTaken => {
                if let Some(Writer {
                    out: Output::Stream { outstanding, .. },
                    ..
                }) = &mut self.writer
                {
                    // Pieces are taken in the order they were handed out.
                    outstanding.pop_front();
                }
            }
            Event::Response {
                token,
                status,
                headers,
            } => self.response(token, status, headers, now),
            Event::Data {
                token,
                bytes,
                hashed,
            } => self.data(token, bytes, hashed, now),
            Event::End { token } => {
                if let Some(f) = self.requests.in_flight.remove(&token) {
                    self.ended(f, now);
                }
            }
            Event::Failed { token, error } => {
                if let Some(f) = self.requests.in_flight.remove(&token) {
                    self.request_failed(f, error, now);
                }
            }
        }
        self.progress(now);
    }

    // ----- the phases -----

    fn start_listing(&mut self) {
        let req = &self.job.request;
        if req.source_files.is_empty() && req.source_dir.is_empty() {
            return self.fail(PackError::invalid(
                "`source-dir` or `source-files` is required",
            ));
        }
        // Each file is a lookup: more than the entries allowed is refused before any.
        let files = self.listing.as_ref().map_or(0, Listing::distinct_files) as u64;
        if let Some(max) = self.job.limits.max_entries.filter(|max| files > *max) {
            self.fail(PackError::TooManyEntries {
                entries: files,
                max,
            });
        }
    }

    /// `source-dir`: the prefixes' listings, several at once; `source-files`: their
    /// lookups, several at once.
    fn look_up(&mut self, now: Now) {
        loop {
            let Some(listing) = self.listing.as_mut() else {
                return;
            };
            let in_flight = listing.heads_in_flight() + listing.streams_in_flight();
            if in_flight >= self.tuning.heads_in_flight {
                return;
            }
            if let Some(stream) = listing.next_stream() {
                let op = Op::List {
                    stream,
                    token: None,
                };
                self.send(op, 0, now);
                continue;
            }
            let Some(index) = listing.next_head() else {
                return;
            };
            self.send(Op::Head { index }, 0, now);
        }
    }

    /// Listing done: the plan, its checks, and the memory it needs.
    fn make_plan(&mut self) {
        // Samples still out advise a listing that is over.
        self.cancel(|op| matches!(op, Op::List { .. }));
        let listing = self.listing.take().expect("listed once");
        // A checkpoint is zip-oss's own bookkeeping, never an entry (and would change the
        // plan of the very pack it is there to resume).
        let mut sources = listing.finish(&self.job.request);
        sources.retain(|s| {
            !s.key.ends_with(resume::CHECKPOINT_SUFFIX) && !s.key.ends_with(SEAM_SUFFIX)
        });
        if let Some(prefix) = self.job.records.as_deref().filter(|p| !p.is_empty()) {
            sources.retain(|s| !s.key.starts_with(prefix));
        }
        let options = match PlanOptions::from_request(&self.job.request) {
            Ok(o) => o,
            Err(e) => return self.fail(PackError::invalid(e.to_string())),
        };
        self.plan = Plan::build(sources, &options);
        if let Err(e) = self.check_plan() {
            return self.fail(e);
        }
        let seams = self.seams_possible();
        self.copies = Copies::new(&self.job, &self.plan, self.job.records.is_some(), seams);
        if self.copies.candidates.is_empty() {
            return self.reserve();
        }
        self.phase = Phase::Probing;
        // S3 shows an object's CRC32 (and CRC-64) on a lookup. OSS's CRC-64 comes with the
        // head read, but an entry after a seam has none read: look it up too.
        let seams = self.seams_possible();
        for &e in &self.copies.candidates {
            if self.provider() == Provider::S3 || seams {
                self.copies.queue.push_back(Op::Probe { entry: e });
            }
            if self.job.records.is_some() {
                self.copies.queue.push_back(Op::GetRecord { entry: e });
            }
        }
        self.copies.lookups_left = self.copies.queue.len();
        // (OSS without records or seams: only the host's hashing may tell.)
        if self.copies.lookups_left == 0 {
            self.lookups_over();
        }
    }

    /// Sends the copy lookups, several at once.
    fn probe(&mut self, now: Now) {
        while self.requests.count(|op| {
            matches!(
                op,
                Op::Probe { .. } | Op::GetRecord { .. } | Op::Sniff { .. } | Op::HashObject { .. }
            )
        }) < self.tuning.heads_in_flight
        {
            let Some(op) = self.copies.queue.pop_front() else {
                return;
            };
            self.send(op, 0, now);
        }
    }

    /// One copy lookup is over, whatever it found.
    fn looked_up(&mut self) {
        self.copies.lookups_left -= 1;
        if self.copies.lookups_left == 0 {
            self.lookups_over();
        }
    }

    /// The copy lookups are over: the choice. What they told no CRC-32 of, the host may
    /// hash: those objects are chosen now and hashed while the archive is written, ahead
    /// of the writer (which waits at each until its CRC-32 is in), so the archive's first
    /// part never waits for a whole folder's hashing.
    fn lookups_over(&mut self) {
        if self.phase != Phase::Probing {
            return;
        }
        let part_size = self.part_size().max(1);
        // `auto` objects no record settled: their first bytes, sniffed as the writer would,
        // say whether they are stored, so hashed and copied (a round of small reads).
        if self.tuning.hash_to_copy && !self.copies.sniff_round {
            self.copies.sniff_round = true;
            let entries = self.copies.to_sniff(&self.plan, part_size);
            if !entries.is_empty() {
                self.copies.lookups_left = entries.len();
                let sniffs = entries.into_iter().map(|entry| Op::Sniff { entry });
                self.copies.queue.extend(sniffs);
                return;
            }
        }
        if self.tuning.hash_to_copy {
            let entries = self.copies.to_hash(&self.plan, part_size);
            self.copies.pending.extend(entries);
        }
        let bound = self.predicted.unwrap_or_else(|| self.plan.archive_bound());
        self.copies.choose(&mut self.plan, bound, part_size);
        if self.seams_possible() {
            self.copies
                .join_seams(&self.plan, self.tuning.seam_min_head);
        }
        self.copies.settle_pending();
        let range_bytes = self.tuning.hash_range_bytes;
        for &entry in &self.copies.pending {
            let ranges = self.plan.entries[entry].size().div_ceil(range_bytes) as u32;
            self.copies
                .hash_ranges
                .insert(entry, vec![None; ranges as usize]);
            let queue = (0..ranges).map(|range| Op::HashObject { entry, range });
            self.copies.queue.extend(queue);
        }
        // `auto` entries a record settled are stored now: the size is known better.
        if let Err(e) = self.check_plan() {
            return self.fail(e);
        }
        self.reserve();
    }

    /// A range of the host's hashing of a chosen entry is in. Once every range is, the
    /// entry's CRC-32, if the store's checksum of the object (on these answers, or the
    /// probe's) agrees. A range that came out short or garbled is sent again, as a cut
    /// read is; a contradicted hashing is sent again once, then fails the pack, as a
    /// flipped read does.
    fn hashed(&mut self, f: &InFlight, now: Now) {
        let Op::HashObject { entry, range } = f.op else {
            return;
        };
        let folded = self.copies.hashing.remove(&(entry, range));
        let size = self.plan.entries[entry].size();
        let (start, end) = Copies::hash_range(size, self.tuning.hash_range_bytes, range);
        let whole = folded.filter(|f| f.len == end - start).map(|f| f.end());
        // OSS states the whole object's CRC-64 on every answer, ranged or not.
        let claimed = Claimed::from_headers(self.provider(), |n| f.header(n));
        let Some(ranges) = self.copies.hash_ranges.get_mut(&entry) else {
            return;
        };
        match whole {
            Some(Ok(h)) => {
                ranges[range as usize] = Some(h);
                self.copies.hashed_bytes += end - start;
            }
            _ => {
                let e = PackError::StoreUnreachable {
                    what: self.what(&f.op),
                    detail: "the host's hashing came out short or garbled".into(),
                };
                return self.retry_or_give_up(f.op.clone(), f.attempt, e, now);
            }
        }
        let done = ranges.iter().all(Option::is_some);
        if let Claimed::Full(c) = claimed {
            self.copies.claims.insert(entry, Claimed::Full(c));
        }
        if !done {
            return;
        }
        let ranges = self.copies.hash_ranges.remove(&entry).unwrap_or_default();
        let mut h = Hashed::of(self.archive_algorithm, b"");
        for (i, r) in ranges.into_iter().flatten().enumerate() {
            let (start, end) = Copies::hash_range(size, self.tuning.hash_range_bytes, i as u32);
            h = h.then(r, end - start);
        }
        let agrees = match self.copies.claims.get(&entry) {
            Some(Claimed::Full(c)) if c.algorithm == h.algorithm => Some(c.as_crc() == Some(h.crc)),
            Some(Claimed::Full(c)) if c.algorithm == Algorithm::Crc32 => {
                Some(c.as_crc() == Some(h.crc32.into()))
            }
            _ => None,
        };
        if agrees == Some(false) {
            // Flipped on the way in, or the store's word is wrong: hashed once more.
            self.copies.contradicted += 1;
            if !self.copies.rehashed.insert(entry) {
                return self.fail(PackError::ChecksumMismatch {
                    what: format!("hash `{}`", self.plan.entries[entry].key),
                    algorithm: h.algorithm.name(),
                });
            }
            let n = size.div_ceil(self.tuning.hash_range_bytes) as u32;
            self.copies
                .hash_ranges
                .insert(entry, vec![None; n as usize]);
            for range in (0..n).rev() {
                self.copies
                    .queue
                    .push_front(Op::HashObject { entry, range });
            }
            return self.probe(now);
        }
        self.copies.hashed_crc32(entry, h.crc32);
        if agrees == Some(true) {
            self.copies.hashed.insert(entry);
        }
    }

    fn reserve(&mut self) {
        self.phase = Phase::Reserving;
        self.reserved = self.reservation();
        self.actions.push_back(Action::Reserve {
            bytes: self.reserved,
        });
    }

    fn check_plan(&mut self) -> Result<(), PackError> {
        let plan = &self.plan;
        if plan.entries.is_empty() {
            return Err(PackError::NoObjects);
        }
        let entries = plan.entries.len() as u64;
        if let Some(max) = self.job.limits.max_entries.filter(|max| entries > *max) {
            return Err(PackError::TooManyEntries { entries, max });
        }
        let bytes = plan.source_bytes();
        if let Some(max) = self.job.limits.max_bytes.filter(|max| bytes > *max) {
            return Err(PackError::TooManyBytes { bytes, max });
        }
        if self.job.mode == Mode::Upload && plan.entries.iter().any(|e| e.key == self.job.dest) {
            return Err(PackError::invalid(
                "`dest-file` is one of the objects being packed",
            ));
        }
        let layout = match self.job.mode {
            Mode::Upload => Layout::Patched,
            Mode::Stream => Layout::Descriptors,
        };
        self.predicted = plan
            .archive_size_in(layout)
            .map_err(|e| PackError::invalid(e.to_string()))?;
        Ok(())
    }

    fn part_size(&self) -> u64 {
        let bound = self.predicted.unwrap_or_else(|| self.plan.archive_bound());
        part_size_at_least(bound, self.tuning.min_part_size).unwrap_or(0)
    }

    /// What the pack holds at its peak besides the plan: the reads, the parts or pieces,
    /// the central directory the encoder keeps, and working memory.
    fn reservation(&self) -> u64 {
        let t = &self.tuning;
        // Per entry: 46 bytes of header, the name (twice with a Unicode Path), ≤ 50 of extras.
        let central: u64 = self
            .plan
            .entries
            .iter()
            .map(|e| 96 + 2 * e.name().len() as u64)
            .sum::<u64>()
            + 256;
        // A copied entry's header and head share the part before its copy, uncut (any
        // part may be one); a copy the store refuses is read whole into one more.
        let (per_part, refused) = match self.copies.chosen.is_empty() {
            true => (self.part_size(), 0),
            false => (
                self.part_size() + self.copies.head + (64 << 10),
                self.part_size().max(2 * self.copies.head),
            ),
        };
        let output = match self.job.mode {
            Mode::Upload => self.part_buffers_reserved() as u64 * per_part + refused,
            Mode::Stream => (t.stream_pieces as u64 + 1) * PIECE_MAX,
        };
        Reads::budget(&self.plan, t) + output + central + WORKING_MEMORY
    }

    fn reserved_memory(&mut self, ok: bool, now: Now) {
        if self.phase != Phase::Reserving {
            return;
        }
        if !ok {
            return self.fail(PackError::InsufficientMemory {
                mib: self.reserved.div_ceil(1 << 20),
            });
        }
        match self.job.mode {
            Mode::Upload => {
                let part_size = self.part_size();
                if part_size == 0 {
                    return self.fail(PackError::ArchiveTooLarge(
                        "the archive would exceed 10,000 parts of 5 GiB".into(),
                    ));
                }
                let crc = self.tuning.checksums.then_some(self.archive_algorithm);
                self.writer = Some(Writer::parts(part_size, crc));
                if self.resume.on() {
                    self.resume.fingerprint = resume::fingerprint(
                        self.provider(),
                        self.bucket.as_str(),
                        self.dest.as_str(),
                        &self.plan,
                        part_size,
                        self.tuning.checksums,
                        &self.copies.layout(),
                    );
                }
                if self.job.store.forbid_overwrite {
                    self.send(Op::CheckDest, 0, now);
                } else {
                    self.dest_is_free(now);
                }
            }
            Mode::Stream => {
                self.writer = Some(Writer::stream());
                self.actions.push_back(Action::StreamHead {
                    content_length: self.predicted,
                });
            }
        }
        // Stream pieces carry no checksum: reads are hashed in their own algorithm only.
        let shared = (self.tuning.checksums && self.job.mode == Mode::Upload)
            .then_some(self.archive_algorithm);
        let mut reads = Reads::new(&self.plan, self.tuning, shared, &self.copies);
        // Which entries matched, and their CRC-32s, serve only the records written after
        // the pack: kept per entry only when there are records to write.
        reads.verify.keep_matched = self.job.records.is_some();
        if let Some(writer) = self.writer.as_mut() {
            writer.keep_crc32s = self.job.records.is_some();
        }
        if self.tuning.checksums {
            // What the probes showed needs no second look.
            for (e, claimed) in &self.copies.claims {
                reads.verify.claim(*e, claimed.clone());
            }
        }
        self.reads = Some(reads);
        self.phase = Phase::Writing;
    }

    /// The destination may be written: resume a died pack's upload, or start one.
    fn dest_is_free(&mut self, now: Now) {
        let first = if self.resume.on() {
            Op::GetCheckpoint
        } else {
            Op::Create
        };
        self.send(first, 0, now);
    }

    /// Whether parts may go up: the upload exists and, resuming, the checkpoint is ours
    /// and the old parts are known.
    fn upload_ready(&self) -> bool {
        self.upload.id.is_some() && (!self.resume.on() || self.resume.ready)
    }

    /// Our checkpoint is written: parts may go, and the lease is renewed from now on.
    fn claimed(&mut self, now: Now) {
        self.resume.ours = true;
        self.resume.ready = true;
        self.renew_later(now);
    }

    fn renew_later(&mut self, now: Now) {
        let due = now.mono_ms + self.resume.renew_every_ms().max(1);
        self.requests
            .schedule(Op::PutCheckpoint { renew: true }, 0, due);
    }

    /// As the pack ends: removes our checkpoint once no write of it is on its way;
    /// `true` once nothing is left to do. Kept when our upload could not be aborted: it
    /// is then the only pointer to that upload.
    fn drop_checkpoint(&mut self, now: Now) -> bool {
        self.requests
            .unschedule(|op| matches!(op, Op::PutCheckpoint { renew: true }));
        if self
            .requests
            .pending(|op| matches!(op, Op::PutCheckpoint { .. } | Op::VerifyCheckpoint))
        {
            return false;
        }
        if self.upload.abort_given_up {
            return true;
        }
        if self.resume.unsure && !self.resume.ours {
            self.send(Op::VerifyCheckpoint, 0, now);
            return false;
        }
        if !self.resume.ours || self.resume.delete_done {
            return true;
        }
        if !self.resume.delete_started {
            self.resume.delete_started = true;
            self.send(Op::DeleteCheckpoint, 0, now);
        }
        false
    }

    /// Moves the pack on as far as it can go without an event.
    fn progress(&mut self, now: Now) {
        match self.phase {
            Phase::Listing => self.look_up(now),
            Phase::Probing => self.probe(now),
            // The hashing goes on from the choice, ahead of the writer.
            Phase::Reserving => self.probe(now),
            Phase::Writing => {
                self.probe(now);
                self.write(now)
            }
            #[allow(clippy::collapsible_match)] // `sweep` moves the pack on: not a guard
            Phase::Finishing => {
                if self.clean_seams(now)
                    && self.sweep(now)
                    && self.drop_checkpoint(now)
                    && self.write_records(now)
                {
                    self.finish(now);
                }
            }
            Phase::Failing => self.unwind(now),
            _ => {}
        }
    }

    fn write(&mut self, now: Now) {
        loop {
            let mut started = 0;
            while let Some(unit) = self.reads.as_mut().and_then(Reads::next_to_start) {
                self.send(Op::Read { unit }, 0, now);
                started += 1;
                // S3 shows no checksum on a range answer: ask for the object's (unless a
                // probe did, or only its head is read).
                let reads = self.reads.as_ref().expect("reading");
                let u = &reads.units[unit];
                if self.tuning.checksums
                    && self.provider() == Provider::S3
                    && u.start == 0
                    && !u.whole
                    && !reads.copied.contains(&u.entry)
                    && !reads.verify.known(u.entry)
                {
                    let entry = u.entry;
                    self.send(Op::Checksum { entry }, 0, now);
                }
            }
            let (Some(writer), Some(reads)) = (self.writer.as_mut(), self.reads.as_mut()) else {
                return;
            };
            let before = writer.bytes_out;
            let (limit, sending) = match self.job.mode {
                Mode::Upload => (self.tuning.parts_in_flight, self.upload.sending.len()),
                Mode::Stream => (self.tuning.stream_pieces, 0),
            };
            // Parts: the next one fills while fewer than `parts_in_flight` are full (a step
            // completes at most one part: `Writer::pending`), so at most `parts_in_flight`
            // full.
            // A part waiting for an upload slot would hold 5 MiB to save only the time to
            // top up the filling one from reads already here (BENCHMARKS 2026-12-05).
            let pumped = writer.pump(&self.plan, reads, &mut self.copies, |out| match out {
                // Copied parts hold no bytes; they wait in `ready` without counting.
                Output::Parts { ready, .. } => {
                    ready.iter().filter(|p| p.copy.is_none()).count() + sending < limit
                }
                Output::Stream {
                    pieces,
                    outstanding,
                    ..
                } => pieces.len() + outstanding.len() < limit,
            });
            let progressed = writer.bytes_out != before;
            match pumped {
                Ok(credits) => {
                    for (token, bytes) in credits {
                        self.actions.push_back(Action::Credit { token, bytes });
                    }
                }
                Err(e) => return self.fail(e),
            }
            self.ship(now);
            if started == 0 && !progressed {
                break;
            }
        }
        self.maybe_complete(now);
    }

    /// Hands out what the writer produced: parts to upload, pieces to the caller.
    fn ship(&mut self, now: Now) {
        self.read_refused_copies(now);
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        match &mut writer.out {
            Output::Parts { ready, .. } => {
                if !(self.upload.id.is_some() && (!self.resume.on() || self.resume.ready)) {
                    return;
                }
                let mut start = Vec::new();
                let copy_limit = self.tuning.parts_in_flight * COPIES_PER_PART;
                let mut seams = Vec::new();
                while let Some(front) = ready.front() {
                    let copying = self.upload.copying.len() + self.seams.in_flight() + seams.len();
                    let room = match (&front.copy, &front.seam) {
                        (Some(_), _) | (_, Some(_)) => copying < copy_limit,
                        _ => self.upload.sending.len() < self.tuning.parts_in_flight,
                    };
                    if !room {
                        break;
                    }
                    let part = ready.pop_front().expect("looked at");
                    if part.seam.is_some() {
                        seams.push(part);
                        continue;
                    }
                    if let Some(range) = part.copy {
                        if let Some(group) = range.group_crc {
                            self.upload.copied_crcs.insert(part.number, group);
                        }
                        self.upload.copying.insert(part.number, range);
                        start.push(part.number);
                        continue;
                    }
                    if let Some(crc) = part.crc {
                        let len = part.data.len() as u64;
                        self.upload.crcs.insert(part.number, (crc, len));
                    }
                    // The died pack's part holds these very bytes: keep it.
                    let ours = part.crc.map(|c| Checksum::crc(self.archive_algorithm, c));
                    if let Some(etag) = self.resume.keep(part.number, &part.data, ours) {
                        self.upload.etags.insert(part.number, etag);
                        continue;
                    }
                    self.upload.sending.insert(part.number, part.data);
                    start.push(part.number);
                }
                for number in start {
                    let op = match self.upload.copying.contains_key(&number) {
                        true => Op::CopyPart { number },
                        false => Op::Part { number },
                    };
                    self.send(op, 0, now);
                }
                for part in seams {
                    self.start_seam(part, now);
                }
            }
            Output::Stream {
                pieces,
                outstanding,
            } => {
                while let Some(piece) = pieces.pop_front() {
                    outstanding.push_back(piece.len() as u64);
                    self.actions.push_back(Action::Output(piece));
                }
            }
        }
    }

    fn maybe_complete(&mut self, now: Now) {
        let Some(writer) = &self.writer else { return };
        if !writer.finished {
            return;
        }
        if let Some(p) = self.predicted.filter(|p| *p != writer.bytes_out) {
            return self.fail(PackError::Internal(format!(
                "the archive is {} bytes, {p} were predicted",
                writer.bytes_out
            )));
        }
        match &writer.out {
            Output::Stream { outstanding, .. } => {
                if outstanding.is_empty() {
                    self.finish(now);
                }
            }
            Output::Parts { ready, .. } => {
                if ready.is_empty()
                    && self.upload.in_flight() == 0
                    && self.seams.in_flight() == 0
                    && self.upload_ready()
                {
                    self.phase = Phase::Completing;
                    self.upload.complete_started = true;
                    self.send(Op::Complete, 0, now);
                }
            }
        }
    }

    fn finish(&mut self, now: Now) {
        self.cancel(|op| matches!(op, Op::Read { .. }));
        let key = self.dest.as_str().to_string();
        let url = match self.job.mode {
            Mode::Stream => String::new(),
            Mode::Upload => PresignedGet::new(
                &self.bucket,
                &self.dest,
                u64::from(self.job.request.url_expires()),
            )
            .map(|p| p.url(&self.job.store, now.unix))
            .unwrap_or_default(),
        };
        let plan = std::mem::take(&mut self.plan);
        let summary = Summary {
            url,
            key,
            entries: plan.entries.len() as u64,
            bytes_read: plan.source_bytes() - self.copies.copied_bytes + self.copies.read_instead,
            copied_bytes: self.copies.copied_bytes - self.copies.read_instead,
            copied_objects: self.copies.chosen.len() as u64,
            hashed_bytes: self.copies.hashed_bytes,
            archive_bytes: self.writer.as_ref().map_or(0, |w| w.bytes_out),
            parts: self.upload.etags.len() as u32,
            resumed_parts: self.resume.kept,
            duration_ms: now.mono_ms.saturating_sub(self.started_ms),
            utf8_fallbacks: plan.utf8_fallbacks(),
            skipped: plan.skipped,
            renamed: plan.renamed,
            verified_objects: self.reads.as_ref().map_or(0, |r| r.verify.verified)
                + self.copies.verified,
            unverified_objects: self.reads.as_ref().map_or(0, |r| r.verify.unverified)
                + self.copies.unverified,
            rereads: self.reads.as_ref().map_or(0, |r| r.verify.rereads())
                + self.copies.contradicted,
            checksum: self.archive_checksum().map(Into::into),
        };
        self.phase = Phase::Over;
        self.actions.push_back(Action::Done(summary));
    }

    /// Records the pack's failure (the first one wins) and stops everything that is not
    /// cleanup; [`Engine::unwind`] then aborts and sweeps.
    fn fail(&mut self, error: PackError) {
        if self.phase == Phase::Over {
            return;
        }
        if matches!(error, PackError::Stopped { .. }) || self.failure.is_none() {
            // A host stop outranks what it caused (the refused requests' own errors).
            if !matches!(self.failure, Some(PackError::Stopped { .. })) {
                self.failure = Some(error);
            }
        }
        self.phase = Phase::Failing;
        // Reads and lookups changed nothing: cut them off. Writes in flight may still act,
        // so they are waited for (and not retried).
        self.cancel(|op| {
            matches!(
                op,
                Op::Read { .. }
                    | Op::List { .. }
                    | Op::Head { .. }
                    | Op::GetCheckpoint
                    | Op::ListParts { .. }
                    | Op::Probe { .. }
                    | Op::GetRecord { .. }
                    | Op::Sniff { .. }
                    | Op::HashObject { .. }
                    | Op::PutRecord { .. }
                    | Op::CopyRead { .. }
            )
        });
        self.requests.unschedule(|op| !op.is_cleanup());
        if let Some(reads) = self.reads.as_mut() {
            reads.clear();
        }
        if let Some(writer) = self.writer.as_mut() {
            if let Output::Parts { ready, .. } = &mut writer.out {
                ready.clear();
            }
        }
    }

    fn cancel(&mut self, pick: impl Fn(&Op) -> bool) {
        for token in self.requests.tokens(&pick) {
            self.requests.in_flight.remove(&token);
            self.actions.push_back(Action::Cancel { token });
        }
        self.requests.unschedule(pick);
    }

    /// After a failure: once no write is in flight, abort the upload, sweep, report.
    fn unwind(&mut self, now: Now) {
        if self.requests.pending(|op| {
            matches!(
                op,
                // (The look after the abort: `aborted`.)
                Op::HeadDest
                    | Op::CheckDest
                    | Op::Create
                    | Op::Part { .. }
                    | Op::CopyPart { .. }
                    | Op::Complete
                    | Op::PutCheckpoint { renew: false }
                    | Op::AbortStale { .. }
            ) || op.is_seam_write()
        }) {
            return;
        }
        self.upload.sending.clear();
        self.upload.copying.clear();
        if self.upload.wrong_archive && !self.upload.delete_done {
            if !self.upload.delete_started {
                self.upload.delete_started = true;
                self.send(Op::DeleteDest, 0, now);
            }
            return;
        }
        if self.upload.id.is_some() && !self.upload.abort_done && !self.upload.completed {
            if !self.upload.abort_started {
                self.upload.abort_started = true;
                self.send(Op::Abort, 0, now);
            }
            return;
        }
        if !self.clean_seams(now) || !self.drop_checkpoint(now) || !self.sweep(now) {
            return;
        }
        self.phase = Phase::Over;
        let error = self
            .failure
            .take()
            .unwrap_or_else(|| PackError::Internal("failed without a reason".into()));
        self.actions.push_back(Action::Failed(error));
    }

    /// Aborts the uploads a lost create answer may have left; `true` once nothing is left to do.
    fn sweep(&mut self, now: Now) -> bool {
        if !self.upload.create_ambiguous && self.seams.sweep.is_empty() {
            return true;
        }
        match self.upload.sweep {
            Sweep::NotStarted => {
                self.upload.sweep = Sweep::Listing;
                self.send(
                    Op::ListUploads {
                        key_marker: None,
                        id_marker: None,
                    },
                    0,
                    now,
                );
                false
            }
            Sweep::Listing => false,
            Sweep::Aborting => {
                let strays: Vec<(String, String)> = self.upload.strays.drain(..).collect();
                for (key, upload_id) in strays {
                    self.send(Op::AbortStray { key, upload_id }, 0, now);
                }
                if self
                    .requests
                    .pending(|op| matches!(op, Op::AbortStray { .. }))
                {
                    return false;
                }
                self.upload.sweep = Sweep::Done;
                true
            }
            Sweep::Done => true,
        }
    }

    // ----- requests -----

    /// Sends attempt `attempt` of `op`, signed now.
    fn send(&mut self, op: Op, attempt: u32, now: Now) {
        let Some((request, body)) = self.build(&op, now) else {
            return;
        };
        if op == Op::Create {
            self.upload.create_attempt(now.unix);
        }
        if let Op::HashObject { entry, range } = op {
            // This attempt's heads, from the first.
            let folded = host_hashes::Folded::new(self.archive_algorithm);
            self.copies.hashing.insert((entry, range), folded);
        }
        let unit = match op {
            Op::Read { unit } => Some(unit),
            _ => None,
        };
        let limit = Self::answer_limit(&op, None);
        // Answers kept whole are granted their limit; streamed ones other than reads,
        // what they bring: a copy read its range, a hashing its heads (unbounded).
        let op_credit = match &op {
            Op::CopyRead { number } => self.copy_source(*number).map(|r| r.end - r.start),
            Op::HashObject { .. } => Some(u64::MAX),
            _ => None,
        };
        let token = self.requests.register(op, attempt, now.unix);
        let credit = match unit {
            Some(unit) => {
                let reads = self.reads.as_mut().expect("reading");
                reads.attempt(unit, token, now.mono_ms)
            }
            // One byte past the most the answer may hold: the byte that tells an answer
            // too large (a store ignoring a range, a proxy's page) from one that fits,
            // which would otherwise wait for credit it never gets.
            None => limit.map_or(op_credit.unwrap_or(u64::MAX), |limit| limit + 1),
        };
        self.actions.push_back(Action::Send {
            token,
            request,
            body,
            credit,
        });
    }

    fn build(&self, op: &Op, now: Now) -> Option<(HttpRequest, Rope)> {
        let cfg = &self.job.store;
        let (bucket, dest, t) = (&self.bucket, &self.dest, now.unix);
        let upload_id = self.upload.id.as_deref().unwrap_or_default();
        let xml = |request| Some((request, Rope::new()));
        match op {
            Op::List { stream, token } => {
                let s = self.listing.as_ref()?.request(*stream);
                // OSS pages hold 100 keys unless asked for more; S3 at most 1,000 anyway.
                let mut list = ListObjectsV2::new(bucket, s.prefix)
                    .continuation_token(token.as_deref())
                    .max_keys(1000);
                if token.is_none() {
                    list = list.start_after(s.start_after);
                }
                if s.delimited {
                    list = list.delimiter("/");
                }
                xml(list.sign(cfg, t))
            }
            Op::Head { index } => {
                let key = ObjectKey::new(self.job.request.source_files[*index].key()).ok()?;
                xml(HeadObject::new(bucket, &key).sign(cfg, t))
            }
            Op::CheckDest => xml(HeadObject::new(bucket, dest).sign(cfg, t)),
            Op::GetCheckpoint | Op::VerifyCheckpoint => {
                xml(GetObject::new(bucket, self.checkpoint.as_ref()?).sign(cfg, t))
            }
            Op::PutCheckpoint { renew } => {
                if *renew && !matches!(self.phase, Phase::Writing | Phase::Completing) {
                    return None;
                }
                let marker = self.upload.marker.as_deref().unwrap_or("");
                let body = Checkpoint::new(&self.resume.fingerprint, upload_id)
                    .with_marker(marker)
                    .to_json();
                let put = PutObject::new(bucket, self.checkpoint.as_ref()?, body.len() as u64)
                    .content_type("application/json")
                    .forbid_overwrite(self.resume.claim_free_key && !renew);
                Some((put.sign(cfg, t), Rope::from(body)))
            }
            Op::ListParts { marker } => xml(ListParts::new(bucket, dest, upload_id)
                .after(*marker)
                .sign(cfg, t)),
            Op::AbortStale { upload_id } => {
                xml(AbortMultipartUpload::new(bucket, dest, upload_id).sign(cfg, t))
            }
            Op::DeleteCheckpoint => {
                xml(DeleteObject::new(bucket, self.checkpoint.as_ref()?).sign(cfg, t))
            }
            Op::Create => {
                let mut create = CreateMultipartUpload::new(bucket, dest)
                    .content_type("application/zip")
                    .forbid_overwrite(cfg.forbid_overwrite);
                if let Some(marker) = &self.upload.marker {
                    create = create.marker(marker);
                }
                xml(match self.tuning.checksums {
                    true => create.full_object_checksum(self.archive_algorithm),
                    false => create,
                }
                .sign(cfg, t))
            }
            Op::Part { number } => {
                let data = self.upload.sending.get(number)?.clone();
                let crc = self.part_checksum(*number);
                let mut part = UploadPart::new(bucket, dest, upload_id, *number, data.len() as u64);
                if let Some(crc) = &crc {
                    part = part.checksum(crc);
                }
                let request = part.sign(cfg, t);
                Some((request, data))
            }
            Op::Complete => {
                let parts = self.completed_parts();
                let whole = self.archive_checksum();
                let mut complete = CompleteMultipartUpload::new(bucket, dest, upload_id, &parts)
                    .forbid_overwrite(cfg.forbid_overwrite);
                if let Some(whole) = &whole {
                    complete = complete.checksum(whole);
                }
                Some((complete.sign(cfg, t), Rope::from(complete.body())))
            }
            Op::Checksum { entry } => {
                let key = ObjectKey::new(self.plan.entries[*entry].key.as_str()).ok()?;
                xml(HeadObject::new(bucket, &key).sign(cfg, t))
            }
            Op::Probe { entry } => {
                let key = ObjectKey::new(self.plan.entries[*entry].key.as_str()).ok()?;
                xml(HeadObject::new(bucket, &key).sign(cfg, t))
            }
            Op::GetRecord { entry } => {
                let key = self.record_key(*entry)?;
                Some((GetObject::new(bucket, &key).sign(cfg, t), Rope::new()))
            }
            Op::Sniff { entry } => {
                let e = &self.plan.entries[*entry];
                let key = ObjectKey::new(e.key.as_str()).ok()?;
                let etag = e.etag.as_ref()?.text();
                let get = GetObject::new(bucket, &key)
                    .if_match(&etag)
                    .range(0, SNIFF_BYTES.min(e.size()));
                Some((get.sign(cfg, t), Rope::new()))
            }
            Op::HashObject { entry, range } => {
                // (A retry due after the pack ended, its plan given up, is not sent.)
                let e = self.plan.entries.get(*entry)?;
                let key = ObjectKey::new(e.key.as_str()).ok()?;
                let etag = e.etag.as_ref()?.text();
                let mut get = GetObject::new(bucket, &key).if_match(&etag);
                let range_bytes = self.tuning.hash_range_bytes;
                if e.size() > range_bytes {
                    let (start, end) = Copies::hash_range(e.size(), range_bytes, *range);
                    get = get.range(start, end);
                }
                let mut request = get.sign(cfg, t);
                // Unsigned: only a host that hashes sees it, and takes it off.
                request.headers.push((
                    host_hashes::ASK_ONLY.into(),
                    self.archive_algorithm.name().into(),
                ));
                // Heads only: 16 bytes for up to 64 KiB, added up as they come.
                Some((request, Rope::new()))
            }
            Op::PutRecord { entry } => {
                let key = self.record_key(*entry)?;
                let e = &self.plan.entries[*entry];
                let writer = self.writer.as_ref()?;
                let record = Record::new(
                    &e.key,
                    &e.etag.as_ref()?.text(),
                    e.size(),
                    *writer.crc32s.get(entry)?,
                    // Sniffed by the writer, or before the choice (`Op::Sniff`).
                    writer.sniffed_stored.contains(entry)
                        || self.copies.sniffed_stored.contains(entry),
                )
                .to_json();
                let put = PutObject::new(bucket, &key, record.len() as u64)
                    .content_type("application/json");
                Some((put.sign(cfg, t), Rope::from(record)))
            }
            Op::CopyRead { number } => {
                let range = self.copy_source(*number)?;
                let e = &self.plan.entries[range.entry];
                let key = ObjectKey::new(e.key.as_str()).ok()?;
                let mut get = GetObject::new(bucket, &key).range(range.start, range.end);
                let etag = e.etag.as_ref().map(ETag::text);
                if let Some(etag) = etag.as_deref() {
                    get = get.if_match(etag);
                }
                Some((get.sign(cfg, t), Rope::new()))
            }
            Op::CopyPart { number } => {
                let range = self.upload.copying.get(number)?;
                let e = &self.plan.entries[range.entry];
                let source = ObjectKey::new(e.key.as_str()).ok()?;
                let mut copy = UploadPartCopy::new(
                    bucket,
                    dest,
                    upload_id,
                    *number,
                    &source,
                    (range.start, range.end),
                );
                let etag = e.etag.as_ref().map(ETag::text);
                if let Some(etag) = etag.as_deref() {
                    copy = copy.if_match(etag);
                }
                xml(copy.sign(cfg, t))
            }
            Op::VerifyDest => xml(HeadObject::new(bucket, dest).sign(cfg, t)),
            Op::DeleteDest => xml(DeleteObject::new(bucket, dest).sign(cfg, t)),
            Op::HeadDest => xml(HeadObject::new(bucket, dest).sign(cfg, t)),
            Op::Abort => xml(AbortMultipartUpload::new(bucket, dest, upload_id).sign(cfg, t)),
            Op::ListUploads {
                key_marker,
                id_marker,
            } => xml(ListMultipartUploads::new(bucket)
                .prefix(dest.as_str())
                .markers(key_marker.as_deref(), id_marker.as_deref())
                .sign(cfg, t)),
            Op::AbortStray { key, upload_id } => {
                let key = ObjectKey::new(key.as_str()).ok()?;
                xml(AbortMultipartUpload::new(bucket, &key, upload_id).sign(cfg, t))
            }
            Op::Seam(_) => self.build_seam(op, now),
            Op::Read { unit } => {
                let reads = self.reads.as_ref()?;
                let u = &reads.units[*unit];
                let entry = &self.plan.entries[u.entry];
                let key = ObjectKey::new(entry.key.as_str()).ok()?;
                let mut get = GetObject::new(bucket, &key);
                if u.ranged() {
                    get = get.range(u.start + u.received(), u.end);
                }
                let etag = reads.etag(&self.plan, u.entry);
                if let Some(etag) = etag.as_deref() {
                    get = get.if_match(etag);
                }
                let mut request = get.sign(cfg, t);
                // Unsigned: only a host that hashes sees it, and takes it off.
                request.headers.push((
                    host_hashes::ASK.into(),
                    self.archive_algorithm.name().into(),
                ));
                Some((request, Rope::new()))
            }
        }
    }

    fn record_key(&self, entry: usize) -> Option<ObjectKey> {
        let prefix = self.job.records.as_deref()?;
        ObjectKey::new(copy::record_key(prefix, &self.plan.entries[entry].key)).ok()
    }

    /// Once the archive is in place: leaves a record of each large object this pack read
    /// and checked (or had the host hash), which no current record describes, so a later
    /// pack can copy it. `true` once nothing is left to do (records are best effort).
    fn write_records(&mut self, now: Now) -> bool {
        if self.records_due.is_none() {
            let due = match (&self.job.records, &self.writer, &self.reads) {
                (Some(_), Some(w), Some(r)) => {
                    let head = copy::min_part(self.provider(), self.tuning.copy_min_part);
                    let worth = copy::smallest(head, self.seams_possible());
                    self.plan
                        .entries
                        .iter()
                        .enumerate()
                        .filter(|(i, e)| {
                            // Read and checked; or copied after the host hashed it,
                            // the store's checksum agreeing.
                            let checked = r.verify.matched.contains(i)
                                && !self.copies.chosen.contains_key(i)
                                || self.copies.hashed.contains(i);
                            e.size() >= worth
                                && e.etag.is_some()
                                && w.crc32s.contains_key(i)
                                && checked
                                && !self.copies.recorded.contains(i)
                        })
                        .map(|(i, _)| i)
                        .collect()
                }
                _ => VecDeque::new(),
            };
            self.records_due = Some(due);
        }
        while self.requests.count(|op| matches!(op, Op::PutRecord { .. }))
            < self.tuning.heads_in_flight
        {
            let Some(entry) = self.records_due.as_mut().and_then(VecDeque::pop_front) else {
                break;
            };
            self.send(Op::PutRecord { entry }, 0, now);
        }
        self.records_due.as_ref().is_some_and(VecDeque::is_empty)
            && !self
                .requests
                .pending(|op| matches!(op, Op::PutRecord { .. }))
    }

    fn completed_parts(&self) -> Vec<CompletedPart> {
        self.upload
            .etags
            .iter()
            .map(|(n, etag)| CompletedPart {
                part_number: *n,
                etag: etag.clone(),
                checksum: self.part_checksum(*n),
            })
            .collect()
    }

    fn provider(&self) -> Provider {
        self.job.store.provider
    }

    fn part_checksum(&self, number: u32) -> Option<Checksum> {
        let crc = match self.upload.fallback_crcs.get(&number) {
            Some(crc) => *crc,
            None => self.upload.crcs.get(&number)?.0,
        };
        Some(Checksum::crc(self.archive_algorithm, crc))
    }

    /// A copy the store refused is read and uploaded instead, one at a time (a copied part
    /// is at most `max(part_size, 2 × head)`, which the reservation holds).
    fn read_refused_copies(&mut self, now: Now) {
        if self.phase != Phase::Writing
            || self.upload.fallback_uploading.is_some()
            || self.upload.sending.len() >= self.tuning.parts_in_flight
            || self
                .requests
                .pending(|op| matches!(op, Op::CopyRead { .. }))
        {
            return;
        }
        if let Some(number) = self.upload.refused_copies.pop_front() {
            self.send(Op::CopyRead { number }, 0, now);
        }
    }

    /// A refused copy's bytes are here: they go up as an uploaded part of the same number.
    fn copy_read(&mut self, number: u32, body: Vec<u8>, now: Now) {
        let Some(range) = self.copy_source(number).cloned() else {
            return;
        };
        if body.len() as u64 != range.len() {
            let key = self.plan.entries[range.entry].key.clone();
            return self.fail(PackError::ObjectChanged { key });
        }
        // A seam's part: its tail, then its bytes.
        let body = self.seam_read(number, body);
        let len = body.len() as u64;
        if self.tuning.checksums {
            let crc = crate::store::checksum::crc(self.archive_algorithm, &body);
            self.upload.fallback_crcs.insert(number, crc);
            if !range.known {
                self.upload.copied_crcs.insert(number, (crc, len));
            }
        }
        self.upload.copying.remove(&number);
        // Carried after all.
        self.copies.read_instead += range.len();
        self.upload.sending.insert(number, Rope::from(body));
        self.upload.fallback_uploading = Some(number);
        self.send(Op::Part { number }, 0, now);
    }

    /// The whole archive's checksum, from its parts' (none for a streamed archive).
    fn archive_checksum(&self) -> Option<Checksum> {
        let crc = self.upload.archive_crc(self.archive_algorithm)?;
        Some(Checksum::crc(self.archive_algorithm, crc))
    }

    /// Whether what an answer says of the archive (or a part) contradicts ours: only a
    /// checksum of our algorithm can.
    fn contradicts(&self, claimed: &Claimed, ours: Option<Checksum>) -> bool {
        match (claimed, ours) {
            (Claimed::Full(c), Some(ours)) => c.algorithm == ours.algorithm && *c != ours,
            _ => false,
        }
    }

    fn what(&self, op: &Op) -> String {
        match op {
            Op::Seam(_) => self.what_seam(op).unwrap_or_default(),
            Op::List { .. } => "list objects".into(),
            Op::Head { index } => {
                format!("look up `{}`", self.job.request.source_files[*index].key())
            }
            Op::CheckDest => "check the destination".into(),
            Op::Create => "start the upload".into(),
            Op::GetCheckpoint => "look for a checkpoint to resume".into(),
            Op::VerifyCheckpoint => "read the checkpoint back".into(),
            Op::PutCheckpoint { .. } => "write the checkpoint".into(),
            Op::ListParts { .. } => "list the parts of the upload to resume".into(),
            Op::AbortStale { .. } => "abort the upload of an older plan".into(),
            Op::DeleteCheckpoint => "delete the checkpoint".into(),
            Op::Part { number } => format!("upload part {number}"),
            Op::Complete => "complete the upload".into(),
            Op::HeadDest => "check the completed archive".into(),
            Op::Abort => "abort the upload".into(),
            Op::ListUploads { .. } => "list open uploads".into(),
            Op::AbortStray { .. } => "abort a stray upload".into(),
            Op::Read { unit } => format!("read `{}`", self.unit_key(*unit)),
            Op::Checksum { entry } => {
                format!(
                    "look up the checksum of `{}`",
                    self.plan.entries[*entry].key
                )
            }
            Op::VerifyDest => "check the completed archive's checksum".into(),
            Op::Probe { entry } => format!(
                "look up the checksum of `{}`",
                self.plan.entries[*entry].key
            ),
            Op::Sniff { entry } => {
                format!(
                    "read the first bytes of `{}`",
                    self.plan.entries[*entry].key
                )
            }
            Op::HashObject { entry, range } => {
                let e = &self.plan.entries[*entry];
                let (a, b) = Copies::hash_range(e.size(), self.tuning.hash_range_bytes, *range);
                format!("hash bytes {a}..{b} of `{}` for its CRC-32", e.key)
            }
            Op::GetRecord { entry } | Op::PutRecord { entry } => {
                format!("the record of `{}`", self.plan.entries[*entry].key)
            }
            Op::CopyRead { number } => {
                format!("read part {number}, which the store would not copy")
            }
            Op::CopyPart { number } => match self.upload.copying.get(number) {
                Some(r) => format!(
                    "copy bytes {}..{} of `{}` into part {number}",
                    r.start, r.end, self.plan.entries[r.entry].key
                ),
                None => format!("copy part {number}"),
            },
            Op::DeleteDest => "delete the corrupted archive".into(),
        }
    }

    fn unit_key(&self, unit: usize) -> String {
        self.reads
            .as_ref()
            .and_then(|r| r.units.get(unit))
            .map(|u| self.plan.entries[u.entry].key.clone())
            .unwrap_or_default()
    }

    fn response(&mut self, token: Token, status: u16, headers: Vec<(String, String)>, now: Now) {
        let Some(f) = self.requests.in_flight.get_mut(&token) else {
            return;
        };
        let date = || header(&headers, "date").and_then(crate::store::parse_http_date);
        if let Some(date) = self.upload.wants_date(now.unix).then(date).flatten() {
            self.upload.saw_date(date, f.sent_unix, now.unix);
        }
        f.status = Some(status);
        f.headers = headers;
        // (A hashing's credit is unbounded already: its heads are added up as they come.)
        let bounded = matches!(f.op, Op::Read { .. } | Op::CopyRead { .. });
        if bounded && !(200..300).contains(&status) {
            // The error's body is read like any answer's (its credit was for the bytes
            // asked for), then judged when it ends.
            self.actions.push_back(Action::Credit {
                token,
                bytes: MAX_ERROR_BODY + 1,
            });
            return;
        }
        if let Op::CopyRead { number } = f.op {
            // A whole object where a range was asked for must not be read into memory.
            if status == 200 {
                let key = self
                    .copy_source(number)
                    .map_or(String::new(), |r| self.plan.entries[r.entry].key.clone());
                self.fail(PackError::RangeNotHonoured { key });
            }
            return;
        }
        let Op::Read { unit } = f.op else { return };
        if let Err(e) = self.check_read(unit, status, token) {
            return self.fail(e);
        }
        self.reads
            .as_mut()
            .expect("reading")
            .answered(unit, now.mono_ms);
    }

    /// A read's answer is the bytes asked for, of the version every read must carry.
    fn check_read(&mut self, unit: usize, status: u16, token: Token) -> Result<(), PackError> {
        let key = self.unit_key(unit);
        let reads = self.reads.as_mut().expect("reading");
        let f = &self.requests.in_flight[&token];
        let u = &reads.units[unit];
        if u.ranged() && status != 206 {
            return Err(PackError::RangeNotHonoured { key });
        }
        let (want, ranged) = (u.len() - u.received(), u.ranged());
        let length = f
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|n| n != want) {
            return Err(PackError::ObjectChanged { key });
        }
        let entry = u.entry;
        match (reads.etag(&self.plan, entry), f.header("etag")) {
            (Some(known), Some(got)) if !same_etag(&known, got) => {
                return Err(PackError::ObjectChanged { key })
            }
            (None, Some(got)) => reads.learn_etag(entry, got),
            _ => {}
        }
        // OSS shows the whole object's CRC on every answer; S3 only on whole-object ones.
        if !self.tuning.checksums {
            reads.verify.claim(entry, Claimed::Nothing);
        } else if self.job.store.provider == Provider::Oss || !ranged {
            let claimed = Claimed::from_headers(self.job.store.provider, |n| f.header(n));
            reads.verify.claim(entry, claimed);
        }
        reads.units[unit].flight_mut().answered = true;
        Ok(())
    }

    /// The most an answer of `op` (with `status`, once known) may hold, where the engine
    /// keeps it whole: its XML, a record, a sniff's bytes, an error's body. `None` where the
    /// bytes go on as they come (object reads, copies, hashing).
    fn answer_limit(op: &Op, status: Option<u16>) -> Option<u64> {
        let ok = status.is_none_or(|s| (200..300).contains(&s));
        match op {
            Op::Read { .. } | Op::CopyRead { .. } | Op::HashObject { .. } if ok => None,
            Op::Read { .. } | Op::CopyRead { .. } | Op::HashObject { .. } => Some(MAX_ERROR_BODY),
            Op::GetRecord { .. } => Some(MAX_RECORD),
            Op::Sniff { .. } => Some(SNIFF_BYTES),
            _ => Some(MAX_XML),
        }
    }

    fn data(&mut self, token: Token, bytes: Bytes, hashed: Option<Hashed>, now: Now) {
        let Some(f) = self.requests.in_flight.get_mut(&token) else {
            return;
        };
        let limit = Self::answer_limit(&f.op, f.status);
        if limit.is_some_and(|limit| (f.body.len() + bytes.len()) as u64 > limit) {
            // Past what it may hold: cut off. An error is judged by what came; a success
            // that large is no answer of the store's to this request.
            let f = self.requests.in_flight.remove(&token).expect("in flight");
            self.actions.push_back(Action::Cancel { token });
            if !f.status.is_some_and(|s| (200..300).contains(&s)) {
                return self.ended(f, now);
            }
            let limit = limit.unwrap_or_default();
            let e = StoreError::invalid_response(format!("an answer of more than {limit} bytes"));
            return self.refused(f.op, f.attempt, e, now);
        }
        let ok = f.status.is_some_and(|s| (200..300).contains(&s));
        if let (&Op::HashObject { entry, range }, true) = (&f.op, ok) {
            // A head that does not parse fails the hashing (at its end).
            if let Some(folded) = self.copies.hashing.get_mut(&(entry, range)) {
                if folded.push(&bytes).is_err() {
                    self.copies.hashing.remove(&(entry, range));
                }
            }
            return;
        }
        let reading = match f.op {
            Op::Read { unit } if ok => Some(unit),
            _ => None,
        };
        match reading {
            Some(unit) => {
                if !self
                    .reads
                    .as_mut()
                    .expect("reading")
                    .arrived(unit, bytes, hashed)
                {
                    let key = self.unit_key(unit);
                    self.fail(PackError::ObjectChanged { key });
                }
            }
            // Bounded by its limit (above), or a copy's read by the credit it was sent
            // with (the part's length).
            None => f.body.extend_from_slice(&bytes),
        }
    }

    /// A whole answer arrived.
    fn ended(&mut self, f: InFlight, now: Now) {
        let status = f.status.unwrap_or(0);
        if f.op == Op::Create {
            self.upload.create_attempt_ended(now.unix);
        }
        if let Op::Read { unit } = f.op {
            if (200..300).contains(&status) {
                return self.read_ended(unit, f, now);
            }
        }
        if (200..300).contains(&status) {
            return self.succeeded(f, now);
        }
        let request_id = f
            .header("x-amz-request-id")
            .or(f.header("x-oss-request-id"))
            .map(str::to_string);
        let error =
            StoreError::from_response(status, &f.body).with_request_id(request_id.as_deref());
        self.refused(f.op, f.attempt, error, now);
    }

    fn read_ended(&mut self, unit: usize, f: InFlight, now: Now) {
        let reads = self.reads.as_mut().expect("reading");
        reads.attempt_over(unit);
        let u = &reads.units[unit];
        if u.received() < u.len() {
            // Ended early: resume where it stopped.
            return self.read_broke(unit, f.attempt, now);
        }
        if !u.small {
            return;
        }
        let entry = u.entry;
        if let Verdict::Mismatch(algorithm) = reads.check_small(unit) {
            if reads.verify.may_reread(entry) {
                reads.restart(unit);
                self.send(Op::Read { unit }, f.attempt + 1, now);
            } else {
                let what = self.what(&f.op);
                self.fail(PackError::ChecksumMismatch {
                    what,
                    algorithm: algorithm.name(),
                });
            }
        }
    }

    fn read_broke(&mut self, unit: usize, attempt: u32, now: Now) {
        let max = self.tuning.max_resumes;
        let reads = self.reads.as_mut().expect("reading");
        let u = &mut reads.units[unit];
        let at = u.start + u.received();
        let f = u.flight_mut();
        f.resumes += 1;
        if f.resumes > max {
            let times = f.resumes;
            let key = self.unit_key(unit);
            return self.fail(PackError::ReadInterrupted { key, times, at });
        }
        let retry = f.resumes;
        self.retry_later(Op::Read { unit }, attempt + 1, retry, now);
    }

    fn request_failed(&mut self, f: InFlight, error: NetError, now: Now) {
        // The host lets a Create or a Complete it has sent finish (`finish_once_sent`), so
        // one it denied was never sent and settles nothing; any other request it denies
        // may have been on its way, and its answer counts as lost.
        let unsent = error.denied && matches!(f.op, Op::Create | Op::Complete);
        self.seam_create_unsure(&f.op);
        match f.op {
            _ if unsent => {}
            Op::Create => {
                self.upload.create_ambiguous = true;
                self.upload.create_attempt_ended(now.unix);
            }
            Op::Complete => self.upload.complete_ambiguous = true,
            Op::PutCheckpoint { renew: false } => self.resume.unsure = true,
            _ => {}
        }
        if error.denied {
            // The host is stopping this pack: only cleanup goes on from here.
            self.stopped = true;
            let what = self.what(&f.op);
            return self.give_up(f.op, PackError::Stopped { what }, now);
        }
        if let Op::Read { unit } = f.op {
            let reads = self.reads.as_mut().expect("reading");
            reads.attempt_over(unit);
            if f.status.is_some_and(|s| (200..300).contains(&s)) {
                return self.read_broke(unit, f.attempt, now);
            }
        }
        let error = PackError::StoreUnreachable {
            what: self.what(&f.op),
            detail: error.message,
        };
        self.retry_or_give_up(f.op, f.attempt, error, now);
    }

    fn retry_or_give_up(&mut self, op: Op, attempt: u32, error: PackError, now: Now) {
        let throttled = matches!(&error, PackError::Store { error, .. } if error.is_throttling());
        let more = if op.is_cleanup() {
            self.cleanup_may_retry(attempt, now)
        } else {
            let attempts = self.tuning.backoff.max_attempts;
            attempt + 1 < if throttled { attempts * 2 } else { attempts }
        };
        // A stopped pack's host lets only cleanup through (deletes, and the reads that
        // decide them), for a grace it keeps itself.
        let wanted = op.is_cleanup() || (self.phase != Phase::Failing && !self.stopped);
        if more && wanted {
            let mut backoff = self.tuning.backoff;
            if throttled {
                // Twice the attempts, each waiting ten times as long (about a minute in
                // all by default, against ~3 s): a throttling store asks for it, and a
                // busy one refuses everything for a while. A pack is not worth failing
                // over it.
                backoff.base = backoff.base.saturating_mul(10);
                backoff.cap = backoff.cap.saturating_mul(4);
                backoff.max_attempts = backoff.max_attempts.saturating_mul(2);
            }
            self.retry_later_by(op, attempt + 1, attempt + 1, backoff, now);
        } else {
            self.give_up(op, error, now);
        }
    }

    /// Cleanup is retried `cleanup_attempts` times, and on for `cleanup_for_secs` since
    /// the pack's first failed cleanup request: giving up leaves an upload open.
    fn cleanup_may_retry(&mut self, attempt: u32, now: Now) -> bool {
        let since = *self.cleanup_failed_at.get_or_insert(now.mono_ms);
        let budget_ms = self.tuning.cleanup_for_secs.saturating_mul(1000);
        attempt + 1 < self.tuning.cleanup_attempts || now.mono_ms.saturating_sub(since) < budget_ms
    }

    fn retry_later(&mut self, op: Op, attempt: u32, retry: u32, now: Now) {
        self.retry_later_by(op, attempt, retry, self.tuning.backoff, now)
    }

    fn retry_later_by(&mut self, op: Op, attempt: u32, retry: u32, mut backoff: Backoff, now: Now) {
        if op.is_cleanup() {
            // Cleanup goes on past the others' attempts, its waits growing to the cap.
            backoff.max_attempts = u32::MAX;
        }
        let delay = backoff
            .delay(
                retry.clamp(1, backoff.max_attempts.max(2) - 1),
                self.rng.next_u32(),
            )
            .unwrap_or_default();
        self.requests
            .schedule(op, attempt, now.mono_ms + delay.as_millis() as u64);
    }

    /// After a lost Complete the destination holds no archive of ours yet. That Complete
    /// may still be assembling it (S3 takes minutes for a large one, and goes on after
    /// the client has given up), so look again every few seconds for a while before
    /// failing with `error`; not once the pack has been stopped.
    fn look_again(&mut self, error: PackError, now: Now) {
        if self.phase == Phase::Failing {
            // The last look, after the abort (`aborted`): the failure stands.
            return;
        }
        const FOR_MS: u64 = 180_000;
        const EVERY_MS: u64 = 3_000;
        let since = *self.upload.settle_since.get_or_insert(now.mono_ms);
        if self.stopped {
            // A stopped pack's host sends no Complete: what the destination showed stands.
            let what = self.what(&Op::Complete);
            return self.give_up(Op::HeadDest, PackError::Stopped { what }, now);
        }
        if now.mono_ms.saturating_sub(since) < FOR_MS {
            // A fresh request each time: a look that finds nothing is no failed attempt.
            // Until the store says the upload is gone, the Complete itself is sent again
            // (its every attempt may have failed on a busy store); once gone, only the
            // destination can tell.
            let op = match self.upload.complete_gone {
                true => Op::HeadDest,
                false => Op::Complete,
            };
            self.requests.schedule(op, 0, now.mono_ms + EVERY_MS);
        } else {
            self.give_up(Op::HeadDest, error, now);
        }
    }

    /// A listing's sample that failed is forgotten (`true`): it was advice, and the folder
    /// is listed without it.
    fn sample_failed(&mut self, op: &Op) -> bool {
        let Op::List { stream, .. } = op else {
            return false;
        };
        let Some(listing) = self.listing.as_mut().filter(|l| l.is_sample(*stream)) else {
            return false;
        };
        listing.sample_failed(*stream);
        true
    }

    /// The upload is aborted, or was gone. After a Complete we gave up on, that may be the
    /// Complete finishing after all, between our last look and the abort (the store goes
    /// on after the client gives up; S3 then answers the abort `204`, OSS `NoSuchUpload`):
    /// one more look at the destination says whether the pack succeeded, rather than
    /// report a failure with the archive in place.
    fn aborted(&mut self, now: Now) {
        self.upload.abort_done = true;
        // (A stopped pack looks too: its host lets a HEAD through.)
        if self.upload.complete_ambiguous && !self.upload.completed && !self.upload.rechecked {
            self.upload.rechecked = true;
            self.send(Op::HeadDest, 0, now);
        }
    }

    /// An operation failed for good.
    fn give_up(&mut self, op: Op, error: PackError, now: Now) {
        if self.seam_given_up(&op) || self.sample_failed(&op) {
            return;
        }
        match op {
            Op::Complete if self.upload.complete_ambiguous && self.phase == Phase::Completing => {
                self.send(Op::HeadDest, 0, now)
            }
            Op::Abort => {
                self.upload.abort_done = true;
                self.upload.leaked = true;
                self.upload.abort_given_up = true;
            }
            Op::ListUploads { .. } => {
                self.upload.leaked = true;
                self.upload.sweep = Sweep::Aborting;
            }
            Op::AbortStray { .. } => self.upload.leaked = true,
            // Not renewed this time: another pack may take over once the lease runs out,
            // and build the same bytes; this one goes on, and renews again at the next turn
            // (one throttled minute must not end the lease for the rest of a long pack).
            Op::PutCheckpoint { renew: true } => {
                if matches!(self.phase, Phase::Writing | Phase::Completing) {
                    self.renew_later(now);
                }
            }
            Op::DeleteCheckpoint => self.resume.delete_done = true,
            // It may be left: a later pack of this destination resumes or replaces it.
            Op::VerifyCheckpoint => {
                self.resume.unsure = false;
                if self.phase != Phase::Failing {
                    self.fail(error)
                }
            }
            Op::AbortStale { .. } => {
                self.upload.leaked = true;
                self.stale_aborted(now);
            }
            Op::DeleteDest => {
                self.upload.delete_done = true;
                self.upload.leaked = true;
            }
            // The store took the archive and stated no contradicting checksum; it cannot be
            // looked at now, so it stays (S3 checked it against ours on completion).
            Op::VerifyDest => self.completed(),
            // No copy for that object: it is read.
            Op::Probe { .. } | Op::GetRecord { .. } | Op::Sniff { .. } => self.looked_up(),
            // The entry is laid out as copied: without its CRC-32 the pack cannot go on,
            // as without a read.
            Op::HashObject { entry, range } => {
                self.copies.hashing.remove(&(entry, range));
                self.fail(error)
            }
            Op::PutRecord { .. } => {}
            _ => self.fail(error),
        }
    }

    /// The store answered with an error.
    fn refused(&mut self, op: Op, attempt: u32, error: StoreError, now: Now) {
        let kind = error.kind();
        // A 5xx may come after the store acted; a 2xx we could not read (a proxy's page,
        // XML broken off) did come after it: both as after a lost answer.
        let unreadable = error.code == StoreError::INVALID_RESPONSE;
        if op.is_cleanup() && kind != ErrorKind::Transient && !unreadable {
            // An answer all the same (`NoSuchUpload`, `404`): the store is back.
            self.cleanup_failed_at = None;
        }
        if kind == ErrorKind::Transient || unreadable {
            self.seam_create_unsure(&op);
            match op {
                Op::Create => {
                    self.upload.create_ambiguous = true;
                    self.upload.create_attempt_ended(now.unix);
                }
                Op::Complete => self.upload.complete_ambiguous = true,
                Op::PutCheckpoint { renew: false } => self.resume.unsure = true,
                _ => {}
            }
            let e = PackError::store(self.what(&op), error);
            return self.retry_or_give_up(op, attempt, e, now);
        }
        if self.seam_refused(&op, attempt, &error, now) || self.sample_failed(&op) {
            return;
        }
        let not_found = kind == ErrorKind::NotFound;
        match op {
            Op::Abort if not_found => self.aborted(now),
            Op::AbortStray { .. } if not_found => {}
            // A retry after a lost answer meets our own completed archive: gone, or (with
            // overwriting refused) already there. The destination settles which.
            Op::Complete
                if self.upload.complete_ambiguous
                    && (not_found || CompleteMultipartUpload::destination_exists(&error.code)) =>
            {
                self.upload.complete_gone = true;
                self.send(Op::HeadDest, 0, now)
            }
            Op::Complete if CompleteMultipartUpload::destination_exists(&error.code) => {
                self.fail(PackError::DestinationExists {
                    key: self.dest.as_str().to_string(),
                })
            }
            Op::CheckDest if not_found => self.dest_is_free(now),
            Op::GetCheckpoint if not_found => {
                self.resume.claim_free_key = true;
                self.send(Op::Create, 0, now)
            }
            Op::VerifyCheckpoint if not_found => {
                // Our write never landed: claim again, or (ending) nothing to remove.
                self.resume.unsure = false;
                if self.phase != Phase::Failing {
                    self.send(Op::PutCheckpoint { renew: false }, 0, now)
                }
            }
            // Another pack claimed the destination first (or a lost answer hides that we
            // did: the checkpoint settles which).
            Op::PutCheckpoint { renew: false }
                if CompleteMultipartUpload::destination_exists(&error.code) =>
            {
                if self.resume.unsure {
                    return self.send(Op::VerifyCheckpoint, 0, now);
                }
                self.in_progress()
            }
            Op::ListParts { .. } if not_found => {
                // The upload is gone (completed, aborted, expired): start over.
                self.upload.id = None;
                self.send(Op::Create, 0, now)
            }
            Op::AbortStale { .. } if not_found => self.stale_aborted(now),
            Op::DeleteCheckpoint if not_found => self.resume.delete_done = true,
            // The part's bytes changed on the way: S3 refused to store them. Send them again.
            Op::Part { .. } if matches!(error.code.as_str(), "BadDigest" | "InvalidDigest") => {
                let e = self.mismatch(&op);
                self.retry_or_give_up(op, attempt, e, now)
            }
            Op::Complete if error.code == "BadDigest" => {
                let e = self.mismatch(&op);
                self.fail(e)
            }
            Op::Checksum { entry } if matches!(error.status, 404 | 412) => {
                let key = self.plan.entries[entry].key.clone();
                self.fail(PackError::ObjectChanged { key })
            }
            Op::DeleteDest if not_found => self.upload.delete_done = true,
            // Said complete, yet not there: the answer was not the store's, or the archive
            // was removed at once. The pack fails; its upload is aborted, and an abort
            // finding nothing has the destination looked at once more.
            Op::VerifyDest if not_found => {
                self.upload.completed = false;
                self.upload.complete_ambiguous = true;
                self.fail(PackError::StoreUnreachable {
                    what: "complete the upload".into(),
                    detail: "the store said the archive was complete, but it is not there".into(),
                })
            }
            Op::Probe { .. }
            | Op::Sniff { .. }
            | Op::HashObject { .. }
            | Op::CopyPart { .. }
            | Op::CopyRead { .. }
                if matches!(error.status, 404 | 412) && error.code != "NoSuchUpload" =>
            {
                let entry = match op {
                    Op::CopyPart { number } | Op::CopyRead { number } => {
                        self.copy_source(number).map_or(0, |r| r.entry)
                    }
                    Op::Probe { entry } | Op::Sniff { entry } | Op::HashObject { entry, .. } => {
                        entry
                    }
                    _ => unreachable!("matched above"),
                };
                let key = self.plan.entries[entry].key.clone();
                self.fail(PackError::ObjectChanged { key })
            }
            Op::GetRecord { .. } if not_found => self.looked_up(),
            // The store will not copy (no permission to read the source, a store without
            // UploadPartCopy, …): the part's bytes are read and uploaded instead.
            Op::CopyPart { number } => {
                self.upload.refused_copies.push_back(number);
                self.read_refused_copies(now);
            }
            Op::Read { unit } if matches!(error.status, 412 | 416) => {
                let key = self.unit_key(unit);
                self.fail(PackError::ObjectChanged { key })
            }
            Op::HeadDest if not_found => self.look_again(
                PackError::StoreUnreachable {
                    what: "complete the upload".into(),
                    detail: "the store lost the upload, and the archive is not in place".into(),
                },
                now,
            ),
            _ => {
                let e = PackError::store(self.what(&op), error);
                self.give_up(op, e, now)
            }
        }
    }

    fn in_progress(&mut self) {
        self.fail(PackError::PackInProgress {
            key: self.dest.as_str().to_string(),
            retry_after: self.resume.lease_secs,
        })
    }

    /// A checkpoint that does not parse may have been changed on the way: read again,
    /// while attempts last. `true` if a retry was scheduled.
    fn reread_checkpoint(&mut self, f: &InFlight, now: Now) -> bool {
        let retry =
            Checkpoint::parse(&f.body).is_none() && f.attempt + 1 < self.tuning.cleanup_attempts;
        if retry {
            self.retry_later(f.op.clone(), f.attempt + 1, f.attempt + 1, now);
        }
        retry
    }

    /// The checkpoint read back after a write without a clear answer: is it ours?
    fn checkpoint_verified(&mut self, f: &InFlight, now: Now) {
        if self.reread_checkpoint(f, now) {
            return;
        }
        self.resume.unsure = false;
        let ours = Checkpoint::parse(&f.body)
            .is_some_and(|c| Some(c.upload_id.as_str()) == self.upload.id.as_deref());
        match (ours, self.phase) {
            (true, Phase::Failing) => self.resume.ours = true,
            (true, _) => self.claimed(now),
            (false, Phase::Failing) => {}
            (false, _) => self.in_progress(),
        }
    }

    /// The checkpoint found: resume, abort a stale upload, or leave a live pack alone.
    fn checkpoint_found(&mut self, f: &InFlight, now: Now) {
        if self.reread_checkpoint(f, now) {
            return;
        }
        let last_modified = f
            .header("last-modified")
            .and_then(crate::store::parse_http_date);
        let store_now = f.header("date").and_then(crate::store::parse_http_date);
        match resume::judge(
            &f.body,
            last_modified,
            store_now,
            self.resume.lease_secs,
            &self.resume.fingerprint,
        ) {
            Found::Live { retry_after } => self.fail(PackError::PackInProgress {
                key: self.dest.as_str().to_string(),
                retry_after,
            }),
            Found::Foreign => self.fail(PackError::DestinationExists {
                key: self
                    .checkpoint
                    .as_ref()
                    .map_or("", |k| k.as_str())
                    .to_string(),
            }),
            Found::Same { upload_id, marker } => {
                self.sweep_scratch_of(&upload_id);
                self.upload.id = Some(upload_id);
                // The upload is an earlier pack's, marked as it was (or, begun by a version
                // before markers, not at all).
                self.upload.marker = marker;
                self.send(Op::ListParts { marker: None }, 0, now);
            }
            Found::Stale { upload_id } => {
                self.sweep_scratch_of(&upload_id);
                self.send(Op::AbortStale { upload_id }, 0, now)
            }
        }
    }

    /// An older plan's upload is gone (or given up on): this pack's own upload may start,
    /// unless the pack failed meanwhile.
    fn stale_aborted(&mut self, now: Now) {
        if self.phase != Phase::Failing {
            self.send(Op::Create, 0, now);
        }
    }

    /// The store's word on the completed archive's checksum: ours, or it must go.
    fn judge_archive(&mut self, claimed: &Claimed) {
        if self.contradicts(claimed, self.archive_checksum()) {
            self.upload.wrong_archive = true;
            let e = self.mismatch(&Op::Complete);
            return self.fail(e);
        }
        self.completed();
    }

    fn mismatch(&self, op: &Op) -> PackError {
        PackError::ChecksumMismatch {
            what: self.what(op),
            algorithm: self.archive_algorithm.name(),
        }
    }

    /// The archive is in place.
    fn completed(&mut self) {
        self.upload.completed = true;
        self.requests
            .unschedule(|op| matches!(op, Op::PutCheckpoint { renew: true }));
        if self.phase == Phase::Completing {
            self.phase = Phase::Finishing;
        }
    }

    /// A 2xx answer with its whole body.
    fn succeeded(&mut self, f: InFlight, now: Now) {
        if f.op.is_cleanup() {
            // The store answers cleanup again: a later outage gets its own two minutes
            // (so does an answer that refuses: `refused`).
            self.cleanup_failed_at = None;
        }
        let what = self.what(&f.op);
        let invalid = |detail: String| PackError::InvalidResponse {
            what: what.clone(),
            detail,
        };
        match f.op {
            Op::List { stream, .. } => {
                let page = match ListObjectsV2::parse(&f.body, self.job.store.provider) {
                    Ok(page) => page,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                let next = page
                    .next_continuation_token
                    .clone()
                    .filter(|_| page.is_truncated);
                let listing = self.listing.as_mut().expect("listing");
                let more = listing.add_page(stream, page, next.is_none());
                if listing.prefixes_done() {
                    return self.make_plan();
                }
                if let Some(token) = next.filter(|_| more) {
                    let op = Op::List {
                        stream,
                        token: Some(token),
                    };
                    self.send(op, 0, now);
                }
                // A stream's end, or the ranges a sample made, start others (`look_up`).
            }
            Op::Head { index } => {
                let head = HeadObject::parse(self.provider(), |n| f.header(n));
                let Some(head) = head else {
                    return self.fail(invalid("no Content-Length".into()));
                };
                let source = crate::plan::Source {
                    key: self.job.request.source_files[index].key().to_string(),
                    size: head.size,
                    mtime_unix: head.last_modified_unix,
                    etag: head.etag.as_deref().map(ETag::new),
                    ..Default::default()
                };
                let listing = self.listing.as_mut().expect("listing");
                listing.head_back(index, source);
                if listing.heads_done() {
                    self.make_plan();
                }
            }
            Op::CheckDest => self.fail(PackError::DestinationExists {
                key: self.dest.as_str().to_string(),
            }),
            Op::Create => match CreateMultipartUpload::parse(&f.body) {
                Ok(id) => {
                    self.upload.id = Some(id);
                    if self.resume.on() {
                        self.send(Op::PutCheckpoint { renew: false }, 0, now);
                    }
                }
                Err(e) => self.refused(f.op, f.attempt, e, now),
            },
            Op::GetCheckpoint => self.checkpoint_found(&f, now),
            Op::VerifyCheckpoint => self.checkpoint_verified(&f, now),
            Op::PutCheckpoint { renew } => {
                if renew {
                    self.renew_later(now);
                } else {
                    self.claimed(now);
                }
            }
            Op::ListParts { .. } => {
                let page = match ListParts::parse(&f.body) {
                    Ok(page) => page,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                for part in page.parts {
                    self.resume.listed.insert(part.number, part);
                }
                match page.next_marker {
                    Some(m) => self.send(Op::ListParts { marker: Some(m) }, 0, now),
                    None => self.send(Op::PutCheckpoint { renew: false }, 0, now),
                }
            }
            Op::AbortStale { .. } => self.stale_aborted(now),
            Op::DeleteCheckpoint => self.resume.delete_done = true,
            Op::Part { number } => {
                // OSS answers the stored part's CRC-64, S3 echoes the one it checked.
                let claimed = Claimed::from_headers(self.provider(), |n| f.header(n));
                if self.contradicts(&claimed, self.part_checksum(number)) {
                    let e = self.mismatch(&f.op);
                    return self.retry_or_give_up(f.op, f.attempt, e, now);
                }
                match f.header("etag") {
                    Some(etag) => {
                        self.upload.etags.insert(number, etag.to_string());
                        self.upload.sending.remove(&number);
                        if self.upload.fallback_uploading == Some(number) {
                            self.upload.fallback_uploading = None;
                        }
                    }
                    None => self.fail(invalid("no ETag in the answer".into())),
                }
            }
            Op::Complete => match CompleteMultipartUpload::parse(200, &f.body) {
                Ok(done) => {
                    self.upload.completed = true;
                    // S3 states the checksum in the body, OSS in a header.
                    let stated = done
                        .checksums
                        .iter()
                        .map(|(n, v)| (format!("x-amz-checksum-{}", &n[8..]).to_lowercase(), v))
                        .collect::<Vec<_>>();
                    let claimed = Claimed::from_headers(self.provider(), |n| {
                        f.header(n).or_else(|| {
                            stated.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str())
                        })
                    });
                    match claimed {
                        _ if !self.tuning.checksums => self.completed(),
                        // The answer agrees: done. It disagrees: its bytes may have been
                        // changed on the way, so the stored object itself settles it (a
                        // good archive is never deleted on a garbled answer's word).
                        Claimed::Full(_)
                            if !self.contradicts(&claimed, self.archive_checksum()) =>
                        {
                            self.completed()
                        }
                        _ => self.send(Op::VerifyDest, 0, now),
                    }
                }
                Err(e) => self.refused(f.op, f.attempt, e, now),
            },
            Op::VerifyDest => {
                let Some(h) = HeadObject::parse(self.provider(), |n| f.header(n)) else {
                    // Unreadable (no size): asked again, as any unreadable answer.
                    let e = StoreError::invalid_response("HeadObject without Content-Length");
                    return self.refused(f.op, f.attempt, e, now);
                };
                let written = self.writer.as_ref().map_or(0, |w| w.bytes_out);
                match self.upload.marker.as_ref() {
                    // Our upload carried a marker, the object does not carry it: another
                    // writer's (a pack, the user's own PUT) since the Complete. Not ours to
                    // judge, nor to delete; only our very bytes (size and checksum) are ours.
                    Some(ours) if h.upload_marker.as_ref() != Some(ours) => {
                        let same = h.size == written
                            && matches!((&h.checksum, self.archive_checksum()),
                                (Claimed::Full(c), Some(o)) if *c == o);
                        if same {
                            self.completed();
                        } else {
                            self.fail(PackError::ObjectChanged {
                                key: self.dest.as_str().to_string(),
                            })
                        }
                    }
                    _ if h.size == written => self.judge_archive(&h.checksum),
                    _ => {
                        self.upload.wrong_archive = true;
                        self.fail(invalid(
                            "the completed archive is not the size written".into(),
                        ))
                    }
                }
            }
            Op::DeleteDest => self.upload.delete_done = true,
            Op::Checksum { entry } => {
                let Some(head) = HeadObject::parse(self.provider(), |n| f.header(n)) else {
                    return self.fail(invalid("no Content-Length".into()));
                };
                let reads = self.reads.as_mut().expect("reading");
                let changed = match (reads.etag(&self.plan, entry), &head.etag) {
                    (Some(known), Some(got)) => !same_etag(&known, got),
                    _ => false,
                };
                if changed || head.size != self.plan.entries[entry].size() {
                    let key = self.plan.entries[entry].key.clone();
                    return self.fail(PackError::ObjectChanged { key });
                }
                reads.verify.claim(entry, head.checksum);
            }
            Op::HeadDest => {
                let head = HeadObject::parse(self.provider(), |n| f.header(n));
                let parts = self.upload.etags.len();
                let ours = head.as_ref().is_some_and(|h| {
                    let size = self.writer.as_ref().map_or(0, |w| w.bytes_out);
                    match &self.upload.marker {
                        // Only our upload's archive carries its marker: an older archive of
                        // the same size (a folder packed again) is not taken for ours.
                        Some(ours) => h.size == size && h.upload_marker.as_ref() == Some(ours),
                        // An upload begun before markers: by size and part count.
                        None => {
                            let etag_parts = h
                                .etag
                                .as_deref()
                                .and_then(|e| e.trim_matches('"').rsplit_once('-'))
                                .and_then(|(_, n)| n.parse::<usize>().ok());
                            h.size == size && etag_parts.is_none_or(|n| n == parts)
                        }
                    }
                });
                if ours {
                    if self.phase == Phase::Failing {
                        // The Complete we gave up on finished after all.
                        self.failure = None;
                        self.phase = Phase::Completing;
                    }
                    // Our archive, as the store assembled it: its checksum must be ours.
                    self.upload.completed = true;
                    let claimed = head.map_or(Claimed::Nothing, |h| h.checksum);
                    self.judge_archive(&claimed);
                } else if self.phase != Phase::Failing {
                    // Perhaps an older object, which the lost Complete is still replacing.
                    let e = PackError::StoreUnreachable {
                        what: "complete the upload".into(),
                        detail: "the answer was lost, and the destination is not this archive"
                            .into(),
                    };
                    self.look_again(e, now);
                }
            }
            // S3 answers the abort of an upload it completed meanwhile with a 204 too.
            Op::Abort => self.aborted(now),
            Op::ListUploads { .. } => {
                let page = match ListMultipartUploads::parse(&f.body) {
                    Ok(page) => page,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                let dest = self.dest.as_str();
                for u in &page.uploads {
                    let ours_now = self.upload.id.as_deref() == Some(u.upload_id.as_str())
                        && !self.upload.abort_done
                        && self.phase != Phase::Finishing;
                    let stray = u.key == dest
                        && !ours_now
                        && self.upload.in_create_window(u.initiated_unix);
                    // Every open upload of a swept scratch key is a stray by now.
                    if stray || self.seams.swept(&u.key) {
                        let found = (u.key.clone(), u.upload_id.clone());
                        self.upload.strays.push_back(found);
                    }
                }
                if page.is_truncated
                    && (page.next_key_marker.is_some() || page.next_upload_id_marker.is_some())
                {
                    let op = Op::ListUploads {
                        key_marker: page.next_key_marker,
                        id_marker: page.next_upload_id_marker,
                    };
                    self.send(op, 0, now);
                } else {
                    self.upload.sweep = Sweep::Aborting;
                }
            }
            Op::AbortStray { .. } => {}
            Op::Probe { entry } => {
                let Some(head) = HeadObject::parse(self.provider(), |n| f.header(n)) else {
                    return self.fail(invalid("no Content-Length".into()));
                };
                let e = &self.plan.entries[entry];
                let changed = match (&e.etag, &head.etag) {
                    (Some(known), Some(got)) => !same_etag(&known.text(), got),
                    _ => false,
                };
                if changed || head.size != e.size() {
                    let key = e.key.clone();
                    return self.fail(PackError::ObjectChanged { key });
                }
                if let Claimed::Full(c) = &head.checksum {
                    if c.algorithm == Algorithm::Crc32 {
                        let crc = c.as_crc().unwrap_or_default() as u32;
                        self.copies.crc32.insert(entry, crc);
                    }
                }
                self.copies.claims.insert(entry, head.checksum);
                self.looked_up();
            }
            Op::GetRecord { entry } => {
                // A record that does not parse, or of another version, is as none.
                if let Some(r) = Record::parse(&f.body) {
                    if r.describes(&self.plan.entries[entry]) {
                        self.copies.recorded.insert(entry);
                        self.copies.crc32.entry(entry).or_insert(r.crc32);
                        if r.stored {
                            self.copies.sniffed_stored.insert(entry);
                        }
                    }
                }
                self.looked_up();
            }
            Op::Sniff { entry } => {
                // As the writer's sniff (`Writer::pump`) will decide on the same bytes. A
                // short answer (the object is pinned by its ETag) settles nothing.
                let e = &self.plan.entries[entry];
                let head = f.body.as_slice();
                if head.len() as u64 == SNIFF_BYTES.min(e.size()) && sniffs_stored(head) {
                    self.copies.sniffed_stored.insert(entry);
                }
                self.looked_up();
            }
            Op::HashObject { .. } => self.hashed(&f, now),
            Op::PutRecord { .. } => {}
            Op::CopyRead { number } => self.copy_read(number, f.body, now),
            Op::CopyPart { number } => {
                let copied = match UploadPartCopy::parse(200, &f.body, self.archive_algorithm) {
                    Ok(c) => c,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                let Some(range) = self.upload.copying.remove(&number) else {
                    return;
                };
                if !range.known {
                    match copied.checksum.as_ref().and_then(|c| c.as_crc()) {
                        Some(crc) => {
                            let len = range.end - range.start;
                            self.upload.copied_crcs.insert(number, (crc, len));
                        }
                        None => self.upload.crc_unknown = true,
                    }
                }
                self.upload.etags.insert(number, copied.etag);
            }
            Op::Seam(_) => self.seam_succeeded(f, now),
            Op::Read { .. } => unreachable!("reads end in read_ended"),
        }
    }
}

/// ETags compare without their quotes (OSS and S3 both quote; some proxies do not).
fn same_etag(a: &str, b: &str) -> bool {
    a.trim().trim_matches('"') == b.trim().trim_matches('"')
}

fn check_job(job: &Job) -> Result<(Bucket, ObjectKey), PackError> {
    let bucket =
        Bucket::new(job.request.bucket.as_str()).map_err(|e| PackError::invalid(e.to_string()))?;
    let dest = ObjectKey::new(job.dest.as_str()).map_err(|e| PackError::invalid(e.to_string()))?;
    PresignedGet::new(&bucket, &dest, u64::from(job.request.url_expires()))
        .map_err(|e| PackError::invalid(e.to_string()))?;
    PlanOptions::from_request(&job.request).map_err(|e| PackError::invalid(e.to_string()))?;
    Ok((bucket, dest))
}
