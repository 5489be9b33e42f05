//! One simulated pack: the engine, the simulated store, a virtual clock and a network that
//! misbehaves as the seed says — answers late, cut, lost after the store acted, 5xx, 2xx
//! but unreadable, connections reset before it did, an object replaced between listing
//! and read, a byte flipped on the way in or out, a part the store keeps with a byte
//! flipped, a Complete the store finishes minutes after its answer was lost.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use bytes::Bytes;
use zip_oss_core::pack::{
    Action, Engine, Event, Job, NetError, Now, PackError, Progress, Rng, Summary, Token,
};
use zip_oss_core::plan::Plan;
use zip_oss_core::store::checksum::Algorithm;
use zip_oss_core::store::host_hashes::{self, Hashed};

use super::store::{error, Answer, SimStore};

/// How often each fault strikes a request (per mille).
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// The connection resets before the store saw the request.
    pub reset_before: u64,
    /// 503 SlowDown / 500 InternalError without acting.
    pub transient: u64,
    /// The store acted, then the answer was lost (writes; reads get a fifth of it).
    pub lost_after: u64,
    /// The answer's body breaks off midway.
    pub cut: u64,
    /// The answer comes 1–60 s late.
    pub stall: u64,
    /// At a read, one source object is replaced (new content and ETag).
    pub replace: u64,
    /// The host grants only this much memory (0: any).
    pub memory_limit: u64,
    /// One byte of an object read's answer flips on the way.
    pub flip_read: u64,
    /// One byte of a part flips on its way to the store.
    pub flip_part: u64,
    /// The store keeps a part with one byte flipped, after checking it.
    pub rot: u64,
    /// The checksum a part's or a completion's answer states is changed on the way (the
    /// store holds the right bytes).
    pub garble: u64,
    /// The store takes a Complete on, its answer is lost, and it finishes 30 s to 5.5 min
    /// later (S3 takes minutes over a large archive, and goes on after the client gave
    /// up); meanwhile a repeated Complete is refused with a 500, and an abort races it.
    pub late_complete: u64,
    /// A 2xx answer to a request answered in XML (create, complete, listings) arrives
    /// whole but unreadable: a proxy's page in its place, or the XML broken off where a
    /// connection was cut and the proxy ended the body cleanly. The store acted.
    pub unreadable: u64,
    /// A ranged read answered whole (a store or proxy that ignores `Range`), or a 5xx
    /// whose body is a 100 KiB page: answers larger than the engine takes them.
    pub sloppy: u64,
    /// The store throttles: from this request on, every request is answered
    /// `503 SlowDown` for 1–20 s (faults above strike each request on its own; a busy
    /// store refuses everything for a while).
    pub burst: u64,
}

#[derive(Debug)]
pub enum Outcome {
    Done(Summary),
    Failed(PackError),
}

/// A body being delivered as the engine's credit allows.
struct Delivery {
    body: Bytes,
    sent: usize,
    credit: u64,
    /// The body breaks off after this many bytes.
    cut_at: Option<usize>,
    /// A chunk or the end is already queued.
    queued: bool,
    answered: bool,
    /// The host hashes each chunk, in this CRC-64, as zip-oss's host does when asked.
    hashes: Option<Algorithm>,
    /// And sends only the heads of its frames (asked with `ASK_ONLY`).
    heads_only: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Respond(Token, u16, Vec<(String, String)>),
    Fail(Token),
    /// The host refused to send it: the pack has been stopped.
    Denied(Token),
    /// The next chunk of a delivery (or its end).
    Chunk(Token),
    Reserved(bool),
    OutputTaken,
    /// The store finishes the Complete it took on for this upload id.
    Late(String),
}

pub struct World {
    pub engine: Engine,
    pub store: SimStore,
    rng: Rng,
    faults: Faults,
    /// Whether the host hashes the answers it is asked to (`store::host_hashes`).
    pub host_hashes: bool,
    /// Extra milliseconds per chunk of an object the host hashes for its heads alone: a
    /// host that hashes slower than the writer writes, so the writer waits for it.
    pub hashing_ms_per_chunk: u64,
    /// Whether the writer ever waited for the host's hashing.
    pub waited_for_hashing: bool,
    now_ms: u64,
    unix0: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Due)>>,
    deliveries: BTreeMap<Token, Delivery>,
    pub output: Vec<u8>,
    /// The plan as the engine made it, taken when it asked for memory.
    pub plan: Option<Plan>,
    replaced: Option<String>,
    pub outcome: Option<Outcome>,
    pub steps: u64,
    pub trace: bool,
    pub faults_hit: u64,
    /// Answers lost after the store acted, by operation (`create`, `part`, `complete`, `abort`).
    pub lost: BTreeMap<&'static str, u64>,
    /// Answers whose stated checksum was garbled.
    pub garbled: u64,
    /// 2xx answers made unreadable.
    pub unreadable: u64,
    /// Answers larger than asked for.
    pub sloppy: u64,
    /// Bursts of SlowDown, and until when the current one lasts (ms).
    pub bursts: u64,
    burst_until: u64,
    /// Requests on seams' scratch keys.
    pub seam_requests: u64,
    /// Objects the host hashed for their heads alone (`ASK_ONLY`).
    pub hashed_heads: u64,
    /// The bytes of those answers, as the host was to hash them.
    pub hashed_bytes: u64,
    /// Bytes flipped in reads or parts, and parts rotted in the store.
    pub corrupted: u64,
    /// The last [`Engine::progress_so_far`] seen while the pack ran.
    progress: Progress,
    /// The process dies (the run stops, no outcome) once the store holds this many parts
    /// of an upload of this key.
    pub crash_at_parts: Option<(String, usize)>,
    /// Request bodies go up at this rate (default: as fast as anything else).
    pub upload_bytes_per_ms: Option<u64>,
    /// As many part buffers were alive at some moment as the reservation holds.
    pub parts_at_bound: bool,
    /// Completes the store took on and has not finished, by upload id.
    late: BTreeMap<String, (zip_oss_core::store::HttpRequest, Vec<u8>)>,
    /// Completes that finished late, and of those, as an abort arrived.
    pub late_finished: u64,
    pub late_at_abort: u64,
    /// Every `UploadPart` is denied (403): the pack fails once its upload exists.
    pub deny_parts: bool,
    /// An outage at cleanup: every `AbortMultipartUpload` is answered 503 until this
    /// long after the first one arrived.
    pub aborts_refused_for_ms: Option<u64>,
    /// Outages of aborts alone: every `AbortMultipartUpload` in these spans (ms) is 503.
    pub aborts_refused_between: Vec<(u64, u64)>,
    /// When the first abort arrived, and the aborts refused and answered since.
    pub first_abort_ms: Option<u64>,
    pub aborts_refused: u32,
    pub last_abort_ms: u64,
    /// Every `CompleteMultipartUpload` is answered 500 until this long after the first.
    pub completes_refused_for_ms: Option<u64>,
    /// Every write of the checkpoint in this span (ms) is answered 503.
    pub checkpoint_writes_refused_between: Option<(u64, u64)>,
    /// When each write of the checkpoint outside that span was taken.
    pub checkpoint_writes: Vec<u64>,
    /// The host stops the pack at this time: from then on it sends only cleanup.
    pub stop_at_ms: Option<u64>,
    /// The same, this long after the first Complete arrived.
    pub stop_after_complete_ms: Option<u64>,
    /// Requests the stopped host refused.
    pub denied: u32,
    pub first_complete_ms: Option<u64>,
    pub completes_refused: u32,
}

impl World {
    pub fn new(job: Job, store: SimStore, faults: Faults, seed: u64) -> World {
        Self::starting_at(job, store, faults, seed, 1_700_000_000)
    }

    /// A world whose clock starts at `unix0` (a pack repeated after another died).
    pub fn starting_at(job: Job, store: SimStore, faults: Faults, seed: u64, unix0: u64) -> World {
        let engine = Engine::new(
            job,
            Now {
                mono_ms: 0,
                unix: unix0,
            },
        );
        World {
            engine,
            store,
            rng: Rng::new(seed ^ 0x5eed),
            faults,
            host_hashes: seed.is_multiple_of(2),
            // (Of the seed, not drawn: every other choice stays as it was.)
            hashing_ms_per_chunk: [0, 0, 30][(seed / 2 % 3) as usize],
            waited_for_hashing: false,
            now_ms: 0,
            unix0,
            seq: 0,
            queue: BinaryHeap::new(),
            deliveries: BTreeMap::new(),
            output: Vec::new(),
            plan: None,
            replaced: None,
            outcome: None,
            steps: 0,
            trace: false,
            faults_hit: 0,
            lost: BTreeMap::new(),
            garbled: 0,
            unreadable: 0,
            sloppy: 0,
            bursts: 0,
            burst_until: 0,
            seam_requests: 0,
            hashed_heads: 0,
            hashed_bytes: 0,
            corrupted: 0,
            progress: Progress::default(),
            crash_at_parts: None,
            upload_bytes_per_ms: None,
            parts_at_bound: false,
            late: BTreeMap::new(),
            late_finished: 0,
            late_at_abort: 0,
            deny_parts: false,
            aborts_refused_for_ms: None,
            aborts_refused_between: Vec::new(),
            first_abort_ms: None,
            aborts_refused: 0,
            last_abort_ms: 0,
            completes_refused_for_ms: None,
            first_complete_ms: None,
            completes_refused: 0,
            checkpoint_writes_refused_between: None,
            checkpoint_writes: Vec::new(),
            stop_at_ms: None,
            stop_after_complete_ms: None,
            denied: 0,
        }
    }

    /// The simulated time since the start (ms).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Our clock now (unix seconds).
    pub fn unix_now(&self) -> u64 {
        self.now().unix
    }

    fn crashed(&self) -> bool {
        self.crash_at_parts.as_ref().is_some_and(|(key, n)| {
            self.store
                .uploads
                .values()
                .any(|u| &u.key == key && u.parts.len() >= *n)
        })
    }

    fn now(&self) -> Now {
        Now {
            mono_ms: self.now_ms,
            unix: self.unix0 + self.now_ms / 1000,
        }
    }

    fn store_time(&self) -> i64 {
        self.now().unix as i64 + self.store.clock_offset
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        let hit = per_mille > 0 && self.rng.below(1000) < per_mille;
        self.faults_hit += u64::from(hit);
        hit
    }

    fn at(&mut self, delay_ms: u64, due: Due) {
        self.seq += 1;
        self.queue
            .push(Reverse((self.now_ms + delay_ms, self.seq, due)));
    }

    /// Runs the pack to its end; `Err` says how the engine misbehaved.
    pub fn run(&mut self) -> Result<(), String> {
        loop {
            while let Some(action) = self.engine.poll(self.now()) {
                self.act(action)?;
            }
            self.check_memory()?;
            if let Some(Outcome::Done(summary)) = &self.outcome {
                // An upload's last progress seen (while completing) is the whole plan; a
                // stream may end in the step its last bytes were taken.
                let p = self.progress;
                let upload = !summary.url.is_empty();
                if upload
                    && (p.entries_done, p.bytes_done)
                        != (summary.entries, summary.bytes_read + summary.copied_bytes)
                {
                    return Err(format!("done, but progress last said {p:?}"));
                }
            }
            if self.outcome.is_some() {
                // The store finishes what it took on, whatever the pack made of it.
                let ids: Vec<String> = self.late.keys().cloned().collect();
                for id in ids {
                    self.finish_late(&id);
                }
                return Ok(());
            }
            if self.crashed() {
                return Ok(());
            }
            self.check_progress()?;
            self.steps += 1;
            if self.steps > 500_000 {
                return Err("no end after 500,000 steps".into());
            }
            let next_event = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next = match (next_event, self.engine.deadline()) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => {
                    return Err("stuck: nothing in flight, no timer, not over".into());
                }
            };
            self.now_ms = self.now_ms.max(next);
            if next_event.is_some_and(|t| t <= self.now_ms) {
                let Reverse((_, _, due)) = self.queue.pop().expect("peeked");
                self.deliver(due);
                self.check_memory()?;
            }
        }
    }

    /// Progress never goes back, never passes its totals, and its totals are the plan's.
    fn check_progress(&mut self) -> Result<(), String> {
        let now = self.engine.progress_so_far();
        let last = self.progress;
        let (planned, was) = (now.entries_total > 0, last.entries_total > 0);
        if planned
            && was
            && (now.entries_total, now.bytes_total) != (last.entries_total, last.bytes_total)
        {
            return Err(format!("progress totals changed: {last:?} → {now:?}"));
        }
        if planned && (now.entries_done > now.entries_total || now.bytes_done > now.bytes_total) {
            return Err(format!("progress past its totals: {now:?}"));
        }
        if planned && (now.entries_done < last.entries_done || now.bytes_done < last.bytes_done) {
            return Err(format!("progress went back: {last:?} → {now:?}"));
        }
        if let (true, Some(plan)) = (planned, &self.plan) {
            let total = (plan.entries.len() as u64, plan.source_bytes());
            if (now.entries_total, now.bytes_total) != total {
                return Err(format!("progress totals {now:?}, the plan's {total:?}"));
            }
        }
        if planned {
            self.progress = now;
        }
        Ok(())
    }

    fn check_memory(&mut self) -> Result<(), String> {
        let (held, reserved) = (self.engine.held(), self.engine.reserved());
        if reserved > 0 && held > reserved {
            return Err(format!("holds {held} bytes, reserved {reserved}"));
        }
        // Parts are what memory is made of at scale; the bytes above have slack.
        let (parts, limit) = (
            self.engine.part_buffers(),
            self.engine.part_buffers_reserved(),
        );
        if parts > limit {
            return Err(format!(
                "{parts} part buffers alive, the reservation holds {limit}"
            ));
        }
        self.parts_at_bound |= parts == limit;
        self.waited_for_hashing |= self.engine.waits_for_hashing();
        Ok(())
    }

    fn act(&mut self, action: Action) -> Result<(), String> {
        if self.outcome.is_some() {
            return Err(format!("an action after the end: {action:?}"));
        }
        match action {
            Action::Send {
                token,
                request,
                body,
                credit,
            } => {
                if self.trace {
                    eprintln!(
                        "{:>8} ms send {token:?} {} {} ({} bytes)",
                        self.now_ms,
                        request.method,
                        request.url,
                        body.len()
                    );
                }
                self.send(token, &request, &body.to_vec(), credit);
            }
            Action::Credit { token, bytes } => {
                if let Some(d) = self.deliveries.get_mut(&token) {
                    // As the component grants it: unbounded stays unbounded.
                    d.credit = d.credit.saturating_add(bytes);
                }
                self.pump(token);
            }
            Action::Cancel { token } => {
                self.deliveries.remove(&token);
            }
            Action::Reserve { bytes } => {
                self.plan = Some(self.engine.plan().clone());
                let ok = self.faults.memory_limit == 0 || bytes <= self.faults.memory_limit;
                self.faults_hit += u64::from(!ok);
                self.at(0, Due::Reserved(ok));
            }
            Action::StreamHead { .. } => {}
            Action::Output(bytes) => {
                self.output.extend_from_slice(&bytes);
                let delay = self.rng.below(5);
                self.at(delay, Due::OutputTaken);
            }
            Action::Done(summary) => self.outcome = Some(Outcome::Done(summary)),
            Action::Failed(error) => self.outcome = Some(Outcome::Failed(error)),
        }
        Ok(())
    }

    fn send(
        &mut self,
        token: Token,
        request: &zip_oss_core::store::HttpRequest,
        body: &[u8],
        credit: u64,
    ) {
        let stop_at = self.stop_at_ms.or_else(|| {
            let d = self.stop_after_complete_ms?;
            Some(self.first_complete_ms? + d)
        });
        let let_through = allowed_after_stop(request);
        if stop_at.is_some_and(|at| self.now_ms >= at) && !let_through {
            self.denied += 1;
            return self.at(0, Due::Denied(token));
        }
        let mut latency = 1 + self.rng.below(20);
        if let Some(rate) = self.upload_bytes_per_ms {
            // A body takes its time to go up: parts pile up behind slow uploads.
            latency += body.len() as u64 / rate.max(1);
        }
        let is_read = matches!(request.method, "GET" | "HEAD");
        if request.method == "POST" && request.url.contains("uploadId=") {
            let t = self.store_time();
            self.store.plant_twin(&request.url, body, t);
        }
        if request.url.contains(zip_oss_core::pack::SEAM_SUFFIX) {
            self.seam_requests += 1;
        }
        if self.chance(self.faults.reset_before) {
            return self.at(latency, Due::Fail(token));
        }
        let checkpoint_write =
            request.method == "PUT" && request.url.ends_with(zip_oss_core::pack::CHECKPOINT_SUFFIX);
        if checkpoint_write {
            let outage = (self.checkpoint_writes_refused_between)
                .is_some_and(|(from, to)| (from..to).contains(&self.now_ms));
            if outage {
                return self.refuse(token, credit, latency, 503, "ServiceUnavailable");
            }
            self.checkpoint_writes.push(self.now_ms);
        }
        let own_upload = upload_id(&request.url).is_some()
            && !request.url.contains(zip_oss_core::pack::SEAM_SUFFIX);
        if own_upload && request.method == "PUT" && self.deny_parts {
            return self.refuse(token, credit, latency, 403, "AccessDenied");
        }
        if own_upload && request.method == "POST" {
            let first = *self.first_complete_ms.get_or_insert(self.now_ms);
            if (self.completes_refused_for_ms).is_some_and(|d| self.now_ms < first + d) {
                self.completes_refused += 1;
                return self.refuse(token, credit, latency, 500, "InternalError");
            }
        }
        if own_upload && request.method == "DELETE" {
            self.last_abort_ms = self.now_ms;
            let first = *self.first_abort_ms.get_or_insert(self.now_ms);
            let outage = (self.aborts_refused_between.iter())
                .any(|&(from, to)| (from..to).contains(&self.now_ms));
            if outage || (self.aborts_refused_for_ms).is_some_and(|d| self.now_ms < first + d) {
                self.aborts_refused += 1;
                return self.refuse(token, credit, latency, 503, "ServiceUnavailable");
            }
        }
        if self.now_ms >= self.burst_until && self.chance(self.faults.burst) {
            self.bursts += 1;
            self.burst_until = self.now_ms + 1_000 + self.rng.below(19_000);
        }
        if self.now_ms < self.burst_until {
            return self.refuse(token, credit, latency, 503, "SlowDown");
        }
        if self.chance(self.faults.transient) {
            let (status, code) = if self.rng.below(2) == 0 {
                (503, "SlowDown")
            } else {
                (500, "InternalError")
            };
            return self.refuse(token, credit, latency, status, code);
        }
        let upload_id = upload_id(&request.url).filter(|_| {
            !request.url.contains(zip_oss_core::pack::SEAM_SUFFIX)
                && matches!(request.method, "POST" | "DELETE")
        });
        if let Some(id) = upload_id {
            let complete = request.method == "POST";
            if self.late.contains_key(&id) {
                if complete {
                    return self.refuse(token, credit, latency, 500, "InternalError");
                }
                // An abort meets the Complete still assembling: either may win.
                match self.rng.below(2) {
                    0 => {
                        self.late_at_abort += 1;
                        self.finish_late(&id);
                    }
                    _ => drop(self.late.remove(&id)),
                }
            } else if complete && self.chance(self.faults.late_complete) {
                self.late
                    .insert(id.clone(), (request.clone(), body.to_vec()));
                let after = 30_000 + self.rng.below(300_000);
                self.at(after, Due::Late(id));
                return self.at(latency, Due::Fail(token));
            }
        }
        let is_object_read = request.method == "GET"
            && !request.url.contains("list-type")
            && !request.url.contains("uploads");
        let sources = self.store.objects.keys().any(|k| k.starts_with("src/"));
        if is_object_read && sources && self.replaced.is_none() && self.chance(self.faults.replace)
        {
            // A source object (never the destination, which is not read).
            let keys: Vec<String> = self
                .store
                .objects
                .keys()
                .filter(|k| k.starts_with("src/"))
                .cloned()
                .collect();
            let key = keys[self.rng.below(keys.len() as u64) as usize].clone();
            let old = self.store.objects[&key].data.clone();
            let mut new = old.to_vec();
            new.push(b'!');
            let t = self.store_time();
            self.store.put(&key, Bytes::from(new), t);
            self.replaced = Some(key);
        }
        let any_part = request.method == "PUT" && request.url.contains("partNumber=");
        // A part's bytes, uploaded (a copied part has none to flip or rot; a rot flagged
        // on one would land on a later part, maybe of the next run).
        let is_part = any_part
            && request.header("x-amz-copy-source").is_none()
            && request.header("x-oss-copy-source").is_none();
        let mut sent = body.to_vec();
        if is_part && !sent.is_empty() && self.chance(self.faults.flip_part) {
            let at = self.rng.below(sent.len() as u64) as usize;
            sent[at] ^= 1 << self.rng.below(8);
            self.corrupted += 1;
        }
        let body = &sent[..];
        if is_part && self.chance(self.faults.rot) {
            self.store.rot_next_part = true;
            self.corrupted += 1;
        }
        let t = self.store_time();
        let whole = request.header("range").is_some() && self.chance(self.faults.sloppy);
        let mut answer = match whole {
            true => {
                self.sloppy += 1;
                let mut unranged = request.clone();
                unranged.headers.retain(|(n, _)| n != "range");
                self.store.handle(&unranged, body, t)
            }
            false => self.store.handle(request, body, t),
        };
        // The rot was meant for this part: one the store refused (a flipped byte) takes it
        // no further, or it would rot a later part, even the next run's, uncounted there.
        self.store.rot_next_part = false;
        // A stop while it is on its way: the host cuts it off (the store has acted) unless
        // it is one the host lets finish once sent (`finish_once_sent`: a create, a
        // complete) or cleanup.
        let finishes = request.method == "POST"
            && (request.url.contains("?uploads") || request.url.contains("uploadId="));
        if let Some(at) = stop_at.filter(|&at| at <= self.now_ms + latency) {
            if !let_through && !finishes {
                self.denied += 1;
                return self.at(at.saturating_sub(self.now_ms), Due::Denied(token));
            }
        }
        if self.trace && request.url.contains("uploads=") && request.method == "GET" {
            eprintln!("    listed: {}", String::from_utf8_lossy(&answer.body));
        }
        // The host's hashing for a copy is where a flip costs most (a wrong CRC-32 in the
        // archive, its bytes right): flipped more often, to be sure it is caught.
        let flip_read = match request.header(host_hashes::ASK_ONLY) {
            Some(_) => self.faults.flip_read * 4,
            None => self.faults.flip_read,
        };
        if is_object_read
            && answer.status < 300
            && !answer.body.is_empty()
            && self.chance(flip_read)
        {
            self.corrupted += 1;
            let mut b = answer.body.to_vec();
            let at = self.rng.below(b.len() as u64) as usize;
            b[at] ^= 1 << self.rng.below(8);
            answer.body = Bytes::from(b);
        }
        let is_complete = request.method == "POST" && !request.url.contains("uploads");
        if (any_part || is_complete) && answer.status < 300 && self.chance(self.faults.garble) {
            self.garbled += u64::from(garble_checksum(&mut answer));
        }
        let xml = request.method == "POST" || (request.method == "GET" && !is_object_read);
        if xml
            && answer.status < 300
            && !answer.body.is_empty()
            && self.chance(self.faults.unreadable)
        {
            self.unreadable += 1;
            answer.body = match self.rng.below(2) {
                0 => Bytes::from_static(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
                _ => answer
                    .body
                    .slice(..self.rng.below(answer.body.len() as u64) as usize),
            };
            answer.headers.retain(|(n, _)| n != "content-length");
        }
        let lost = if is_read {
            self.faults.lost_after / 5
        } else {
            self.faults.lost_after
        };
        if self.chance(lost) {
            let op = match (request.method, request.url.contains("uploads=")) {
                ("POST", true) => "create",
                ("POST", false) => "complete",
                ("PUT", _) => "part",
                ("DELETE", _) => "abort",
                _ => "read",
            };
            *self.lost.entry(op).or_default() += 1;
            return self.at(latency, Due::Fail(token));
        }
        let stall = if self.chance(self.faults.stall) {
            1000 + self.rng.below(59_000)
        } else {
            0
        };
        let cut_at = (!answer.body.is_empty() && self.chance(self.faults.cut))
            .then(|| self.rng.below(answer.body.len() as u64) as usize);
        let heads_only = request.header(host_hashes::ASK_ONLY).is_some();
        let ok = (200..300).contains(&answer.status);
        if heads_only && ok && !self.host_hashes {
            // A host that does not hash sends the object's bytes, which the component
            // never takes for heads: the request fails, every time, and so does the pack
            // (its parts are laid out for a copy). A fault of the host's: ours says it
            // hashes only when it does.
            self.faults_hit += 1;
            return self.at(latency, Due::Fail(token));
        }
        let hashes = request
            .header(host_hashes::ASK)
            .or(request.header(host_hashes::ASK_ONLY))
            .and_then(host_hashes::asked)
            .filter(|_| self.host_hashes && ok);
        if heads_only && hashes.is_some() {
            self.hashed_heads += 1;
            self.hashed_bytes += answer.body.len() as u64;
        }
        self.deliveries.insert(
            token,
            Delivery {
                body: answer.body,
                sent: 0,
                credit,
                cut_at,
                queued: false,
                answered: false,
                hashes,
                heads_only,
            },
        );
        self.at(
            latency + stall,
            Due::Respond(token, answer.status, answer.headers),
        );
    }

    /// Answers `token` with an error, the store having done nothing.
    fn refuse(&mut self, token: Token, credit: u64, latency: u64, status: u16, code: &str) {
        let mut e = error(status, code);
        if status >= 500 && self.chance(self.faults.sloppy) {
            self.sloppy += 1;
            e.body = Bytes::from(format!("<html>{}</html>", "busy ".repeat(20 << 10)));
        }
        self.deliveries.insert(
            token,
            Delivery {
                body: e.body,
                sent: 0,
                credit,
                cut_at: None,
                queued: false,
                answered: false,
                hashes: None,
                heads_only: false,
            },
        );
        self.at(latency, Due::Respond(token, status, e.headers));
    }

    /// The store finishes the Complete it took on for upload `id`, if it still holds it.
    fn finish_late(&mut self, id: &str) {
        if let Some((request, body)) = self.late.remove(id) {
            let t = self.store_time();
            let answer = self.store.handle(&request, &body, t);
            self.late_finished += u64::from(answer.status < 300);
            if self.trace {
                eprintln!(
                    "{:>8} ms late complete of {id}: {}",
                    self.now_ms, answer.status
                );
            }
        }
    }

    /// Queues the next chunk of `token`'s body if credit allows.
    fn pump(&mut self, token: Token) {
        let Some(d) = self.deliveries.get_mut(&token) else {
            return;
        };
        if d.queued || !d.answered {
            return;
        }
        let rest = d.body.len() - d.sent;
        if rest > 0 && d.credit == 0 && d.cut_at.is_none_or(|c| c > d.sent) {
            return;
        }
        d.queued = true;
        let slow = if d.heads_only {
            self.hashing_ms_per_chunk
        } else {
            0
        };
        let delay = self.rng.below(3) + slow;
        self.at(delay, Due::Chunk(token));
    }

    fn deliver(&mut self, due: Due) {
        let now = self.now();
        let event = match due {
            Due::Reserved(ok) => Event::Reserved { ok },
            Due::OutputTaken => Event::OutputTaken,
            Due::Late(id) => return self.finish_late(&id),
            Due::Fail(token) => {
                if self.trace {
                    eprintln!("{:>8} ms failed {token:?}", self.now_ms);
                }
                self.deliveries.remove(&token);
                Event::Failed {
                    token,
                    error: NetError::new("connection reset (simulated)"),
                }
            }
            Due::Denied(token) => {
                if self.trace {
                    eprintln!("{:>8} ms denied {token:?}", self.now_ms);
                }
                Event::Failed {
                    token,
                    error: NetError::denied(),
                }
            }
            Due::Respond(token, status, headers) => {
                let Some(d) = self.deliveries.get_mut(&token) else {
                    return;
                };
                d.answered = true;
                if self.trace {
                    eprintln!("{:>8} ms answer {token:?} {status}", self.now_ms);
                }
                self.engine.handle(
                    Event::Response {
                        token,
                        status,
                        headers,
                    },
                    now,
                );
                self.pump(token);
                return;
            }
            Due::Chunk(token) => {
                let size = 1 + self.rng.below(32 << 10) as usize;
                let Some(d) = self.deliveries.get_mut(&token) else {
                    return;
                };
                d.queued = false;
                let rest = d.body.len() - d.sent;
                if d.cut_at.is_some_and(|c| c <= d.sent) {
                    self.deliveries.remove(&token);
                    Event::Failed {
                        token,
                        error: NetError::new("body cut off (simulated)"),
                    }
                } else if rest == 0 {
                    self.deliveries.remove(&token);
                    Event::End { token }
                } else {
                    let mut n = size.min(rest).min(d.credit as usize);
                    if let Some(c) = d.cut_at {
                        n = n.min(c - d.sent);
                    }
                    let bytes = d.body.slice(d.sent..d.sent + n);
                    d.sent += n;
                    d.credit -= n as u64;
                    let (bytes, hashed) = match (d.hashes, d.heads_only) {
                        (Some(a), true) => (host_hashes::heads(a, &bytes), None),
                        (a, _) => {
                            let hashed = a.map(|a| Hashed::of(a, &bytes));
                            (bytes, hashed)
                        }
                    };
                    self.engine.handle(
                        Event::Data {
                            token,
                            bytes,
                            hashed,
                        },
                        now,
                    );
                    self.pump(token);
                    return;
                }
            }
        };
        self.engine.handle(event, now);
    }
}

/// Changes the checksum an answer states (OSS's decimal header, S3's base64 header or
/// `<ChecksumCRC64NVME>`), keeping it well-formed; whether there was one to change.
fn garble_checksum(answer: &mut Answer) -> bool {
    let swap = |c: u8| if c == b'A' { b'B' } else { b'A' };
    for (name, value) in answer.headers.iter_mut() {
        if name == "x-oss-hash-crc64ecma" {
            let crc: u64 = value.parse().expect("a decimal CRC-64");
            *value = (crc ^ 1).to_string();
            return true;
        }
        if name.starts_with("x-amz-checksum-") && name != "x-amz-checksum-type" {
            let mut bytes = value.clone().into_bytes();
            bytes[0] = swap(bytes[0]);
            *value = String::from_utf8(bytes).expect("base64");
            return true;
        }
    }
    let tag = b"<ChecksumCRC64NVME>";
    if let Some(at) = answer.body.windows(tag.len()).position(|w| w == tag) {
        let mut body = answer.body.to_vec();
        body[at + tag.len()] = swap(body[at + tag.len()]);
        answer.body = Bytes::from(body);
        return true;
    }
    false
}

/// The `uploadId` a request's URL names.
fn upload_id(url: &str) -> Option<String> {
    let at = url.find("uploadId=")? + "uploadId=".len();
    let id = url[at..].split('&').next()?;
    Some(id.to_string())
}

/// What zip-oss's host still sends for a stopped pack (`host/src/limits.rs`,
/// `allowed_after_cancel`): deletes, and the reads that decide them.
fn allowed_after_stop(request: &zip_oss_core::store::HttpRequest) -> bool {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    match request.method {
        "DELETE" | "HEAD" => true,
        "GET" => {
            query
                .split('&')
                .any(|p| p.split('=').next() == Some("uploads"))
                || path.ends_with(zip_oss_core::pack::CHECKPOINT_SUFFIX)
        }
        _ => false,
    }
}
