//! The engine's side of seams (`seams.rs`): each seam part the writer hands out becomes a
//! scratch upload (create; tail copied and bytes uploaded at once; complete), the
//! archive's part copied from it, and its removal; cleanup and the sweep of scratch keys
//! as the pack ends, whether it succeeded or failed.

use crate::pack::rope::Rope;

use super::{Engine, Phase};
use crate::pack::copy;
use crate::pack::error::PackError;
use crate::pack::io::Now;
use crate::pack::part_splitter::{CopyRange, Part};
use crate::pack::requests::{InFlight, Op, SeamOp};
use crate::pack::seams::{scratch_key, scratch_prefix, ScratchSweep, Seam, SEAM_SUFFIX};
use crate::store::checksum::{self, Checksum, Claimed};
use crate::store::ETag;
use crate::store::{
    AbortMultipartUpload, CompleteMultipartUpload, CompletedPart, CreateMultipartUpload,
    DeleteObject, ErrorKind, HttpRequest, ListObjectsV2, ObjectKey, StoreError, UploadPart,
    UploadPartCopy,
};

impl Engine {
    /// The scratch prefix of our archive upload.
    fn our_scratch_prefix(&self) -> String {
        scratch_prefix(
            self.dest.as_str(),
            self.upload.id.as_deref().unwrap_or_default(),
        )
    }

    /// Whether this pack's destination and store allow seams at all: the store's minimum
    /// part is worth a seam, and the longest scratch key is a valid key.
    pub(super) fn seams_possible(&self) -> bool {
        let longest = scratch_key(&scratch_prefix(self.dest.as_str(), ""), u32::MAX);
        let head = copy::min_part(self.provider(), self.tuning.copy_min_part);
        head >= self.tuning.seam_min_head && ObjectKey::new(longest).is_ok()
    }

    /// A died pack's upload (found by its checkpoint) may have left scratch keys.
    pub(super) fn sweep_scratch_of(&mut self, upload_id: &str) {
        if !(self.job.tuning.copy && self.seams_possible()) {
            return;
        }
        let prefix = scratch_prefix(self.dest.as_str(), upload_id);
        self.seams.sweep.insert(prefix);
    }

    /// A seam part from the writer: its scratch upload starts.
    pub(super) fn start_seam(&mut self, part: Part, now: Now) {
        let Some(tail) = part.seam.clone() else {
            return;
        };
        let number = part.number;
        let key = scratch_key(&self.our_scratch_prefix(), number);
        // A tail whose CRC is in its entry's run (known from the object's): the part adds
        // only its bytes' (and the run's, when the tail is all of it).
        if let (true, Some(crc)) = (tail.known, part.crc) {
            let len = part.data.len() as u64;
            let run = match tail.group_crc {
                Some((run, run_len)) => {
                    let a = self.archive_algorithm;
                    (checksum::combine(a, run, crc, len), run_len + len)
                }
                None => (crc, len),
            };
            self.upload.copied_crcs.insert(number, run);
        }
        let bytes = part.data;
        self.seams
            .open
            .insert(number, Seam::new(key, tail, bytes, part.crc));
        if self.seams.refused {
            // The store refused a seam already: read this one at once.
            return self.seam_refused_by_store(number, now);
        }
        self.send(Op::Seam(SeamOp::Create { number }), 0, now);
    }

    /// The store will not build a seam (no right on scratch keys, no UploadPartCopy, …):
    /// its tail is read and the seam goes up as an ordinary part; later seams too.
    fn seam_refused_by_store(&mut self, number: u32, now: Now) {
        self.seams.refused = true;
        match self.seams.open.get_mut(&number) {
            Some(s) if !s.refused && !s.placed => s.refused = true,
            _ => return,
        }
        self.upload.refused_copies.push_back(number);
        self.read_refused_copies(now);
    }

    /// The object range a copied part or a seam's tail copies (for a refused copy's read).
    pub(super) fn copy_source(&self, number: u32) -> Option<&CopyRange> {
        self.upload
            .copying
            .get(&number)
            .or_else(|| self.seams.open.get(&number).map(|s| &s.tail))
    }

    pub(super) fn build_seam(&self, op: &Op, now: Now) -> Option<(HttpRequest, Rope)> {
        let (cfg, bucket, t) = (&self.job.store, &self.bucket, now.unix);
        let a = self.archive_algorithm;
        let xml = |request| Some((request, Rope::new()));
        let Op::Seam(step) = op else { return None };
        if let SeamOp::ListScratch { token } = step {
            let prefix = format!("{}.", self.dest.as_str());
            return xml(ListObjectsV2::new(bucket, &prefix)
                .continuation_token(token.as_deref())
                .max_keys(1000)
                .sign(cfg, t));
        }
        if let SeamOp::DeleteScratch { key } = step {
            let key = ObjectKey::new(key.as_str()).ok()?;
            return xml(DeleteObject::new(bucket, &key).sign(cfg, t));
        }
        let number = step.number()?;
        let s = self.seams.open.get(&number)?;
        let key = ObjectKey::new(s.key.as_str()).ok()?;
        let id = s.upload_id.as_deref();
        // A refused seam is read instead: only its cleanup still goes out.
        if s.refused && step.is_write() {
            return None;
        }
        match step {
            SeamOp::Create { .. } => {
                let create = CreateMultipartUpload::new(bucket, &key);
                xml(match self.tuning.checksums {
                    true => create.full_object_checksum(a),
                    false => create,
                }
                .sign(cfg, t))
            }
            SeamOp::Tail { .. } => {
                let e = &self.plan.entries[s.tail.entry];
                let source = ObjectKey::new(e.key.as_str()).ok()?;
                let range = (s.tail.start, s.tail.end);
                let mut copy = UploadPartCopy::new(bucket, &key, id?, 1, &source, range);
                let etag = e.etag.as_ref().map(ETag::text);
                if let Some(etag) = etag.as_deref() {
                    copy = copy.if_match(etag);
                }
                xml(copy.sign(cfg, t))
            }
            SeamOp::Bytes { .. } => {
                let crc = s.bytes_crc.map(|c| Checksum::crc(a, c));
                let mut part = UploadPart::new(bucket, &key, id?, 2, s.bytes.len() as u64);
                if let Some(crc) = &crc {
                    part = part.checksum(crc);
                }
                Some((part.sign(cfg, t), s.bytes.clone()))
            }
            SeamOp::Complete { .. } => {
                let (tail_etag, tail_crc) = s.tail_done.clone()?;
                let parts = [
                    CompletedPart {
                        part_number: 1,
                        etag: tail_etag,
                        checksum: tail_crc.map(|c| Checksum::crc(a, c)),
                    },
                    CompletedPart {
                        part_number: 2,
                        etag: s.bytes_etag.clone()?,
                        checksum: s.bytes_crc.map(|c| Checksum::crc(a, c)),
                    },
                ];
                let whole = self.seam_crc(s).map(|c| Checksum::crc(a, c));
                let mut complete = CompleteMultipartUpload::new(bucket, &key, id?, &parts);
                if let Some(whole) = &whole {
                    complete = complete.checksum(whole);
                }
                Some((complete.sign(cfg, t), Rope::from(complete.body())))
            }
            SeamOp::Copy { .. } => {
                let upload_id = self.upload.id.as_deref()?;
                let range = (0, s.len());
                let mut copy =
                    UploadPartCopy::new(bucket, &self.dest, upload_id, number, &key, range);
                if let Some(Some(etag)) = &s.completed {
                    copy = copy.if_match(etag);
                }
                xml(copy.sign(cfg, t))
            }
            SeamOp::Abort { .. } => xml(AbortMultipartUpload::new(bucket, &key, id?).sign(cfg, t)),
            SeamOp::Delete { .. } => xml(DeleteObject::new(bucket, &key).sign(cfg, t)),
            _ => None,
        }
    }

    /// The whole scratch object's CRC: its tail's (as the copy answer stated) and its bytes'.
    fn seam_crc(&self, s: &Seam) -> Option<u64> {
        let (_, tail) = s.tail_done.as_ref()?;
        let a = self.archive_algorithm;
        Some(checksum::combine(
            a,
            (*tail)?,
            s.bytes_crc?,
            s.bytes.len() as u64,
        ))
    }

    pub(super) fn seam_succeeded(&mut self, f: InFlight, now: Now) {
        let going = self.phase != Phase::Failing;
        let what = self.what(&f.op);
        let Op::Seam(step) = f.op.clone() else { return };
        match step {
            SeamOp::Create { number } => {
                let id = match CreateMultipartUpload::parse(&f.body) {
                    Ok(id) => id,
                    Err(e) => {
                        // The store made an upload whose id we could not read.
                        self.seam_create_unsure(&f.op);
                        return self.refused(f.op, f.attempt, e, now);
                    }
                };
                let Some(s) = self.seams.open.get_mut(&number) else {
                    return;
                };
                s.upload_id = Some(id);
                if going && !s.refused {
                    self.send(Op::Seam(SeamOp::Tail { number }), 0, now);
                    self.send(Op::Seam(SeamOp::Bytes { number }), 0, now);
                }
            }
            SeamOp::Tail { number } => {
                let copied = match UploadPartCopy::parse(200, &f.body, self.archive_algorithm) {
                    Ok(c) => c,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                let Some(s) = self.seams.open.get_mut(&number) else {
                    return;
                };
                let crc = copied.checksum.as_ref().and_then(Checksum::as_crc);
                s.tail_done = Some((copied.etag, crc));
                self.seam_parts_done(number, now);
            }
            SeamOp::Bytes { number } => {
                let Some(s) = self.seams.open.get(&number) else {
                    return;
                };
                let claimed = Claimed::from_headers(self.provider(), |n| f.header(n));
                let ours = s
                    .bytes_crc
                    .map(|c| Checksum::crc(self.archive_algorithm, c));
                if self.contradicts(&claimed, ours) {
                    let e = self.mismatch(&f.op);
                    return self.retry_or_give_up(f.op, f.attempt, e, now);
                }
                let Some(etag) = f.header("etag").map(str::to_string) else {
                    return self.fail(PackError::InvalidResponse {
                        what,
                        detail: "no ETag in the answer".into(),
                    });
                };
                if let Some(s) = self.seams.open.get_mut(&number) {
                    s.bytes_etag = Some(etag);
                }
                self.seam_parts_done(number, now);
            }
            SeamOp::Complete { number } => {
                let done = match CompleteMultipartUpload::parse(200, &f.body) {
                    Ok(done) => done,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                self.seam_completed(number, done.etag, now);
            }
            SeamOp::Copy { number } => {
                let copied = match UploadPartCopy::parse(200, &f.body, self.archive_algorithm) {
                    Ok(c) => c,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                let Some(s) = self.seams.open.get(&number) else {
                    return;
                };
                if !s.tail.known {
                    // The part's CRC: from its tail's and bytes', else as the answer stated.
                    let stated = copied.checksum.as_ref().and_then(Checksum::as_crc);
                    match self.seam_crc(s).or(stated) {
                        Some(crc) => drop(self.upload.copied_crcs.insert(number, (crc, s.len()))),
                        None => self.upload.crc_unknown = true,
                    }
                }
                self.upload.etags.insert(number, copied.etag);
                let s = self.seams.open.get_mut(&number).expect("looked at");
                s.placed = true;
                s.bytes = Rope::new();
                s.delete_sent = true;
                self.send(Op::Seam(SeamOp::Delete { number }), 0, now);
            }
            SeamOp::Abort { number } => self.seam_aborted(number),
            SeamOp::Delete { number } => self.seam_deleted(number),
            SeamOp::ListScratch { .. } => {
                let page = match ListObjectsV2::parse(&f.body, self.provider()) {
                    Ok(page) => page,
                    Err(e) => return self.refused(f.op, f.attempt, e, now),
                };
                for o in &page.objects {
                    if self.seams.swept(&o.key) {
                        self.seams.found_objects.push(o.key.clone());
                    }
                }
                match page.next_continuation_token.filter(|_| page.is_truncated) {
                    Some(token) => {
                        self.send(Op::Seam(SeamOp::ListScratch { token: Some(token) }), 0, now)
                    }
                    None => self.seams.sweep_state = ScratchSweep::Removing,
                }
            }
            SeamOp::DeleteScratch { .. } => {}
        }
    }

    /// Both parts of a scratch upload are in: complete it.
    fn seam_parts_done(&mut self, number: u32, now: Now) {
        let going = self.phase != Phase::Failing;
        let Some(s) = self.seams.open.get_mut(&number) else {
            return;
        };
        if going
            && !s.refused
            && !s.complete_sent
            && s.tail_done.is_some()
            && s.bytes_etag.is_some()
        {
            s.complete_sent = true;
            self.send(Op::Seam(SeamOp::Complete { number }), 0, now);
        }
    }

    /// The scratch object is in place (its ETag, if the answer said): the archive copies it.
    fn seam_completed(&mut self, number: u32, etag: Option<String>, now: Now) {
        let Some(s) = self.seams.open.get_mut(&number) else {
            return;
        };
        s.completed = Some(etag);
        if self.phase != Phase::Failing && !s.refused {
            self.send(Op::Seam(SeamOp::Copy { number }), 0, now);
        }
    }

    fn seam_aborted(&mut self, number: u32) {
        if let Some(s) = self.seams.open.get_mut(&number) {
            s.abort_done = true;
        }
    }

    fn seam_deleted(&mut self, number: u32) {
        if let Some(s) = self.seams.open.get_mut(&number) {
            s.delete_done = true;
        }
    }

    /// A store's refusal of a seam step, if it is one this handles; `false` leaves it to
    /// the general rules (a failure).
    pub(super) fn seam_refused(
        &mut self,
        op: &Op,
        attempt: u32,
        error: &StoreError,
        now: Now,
    ) -> bool {
        let not_found = error.kind() == ErrorKind::NotFound;
        let going = self.phase != Phase::Failing;
        let Op::Seam(step) = op else { return false };
        match *step {
            SeamOp::Abort { number } if not_found => self.seam_aborted(number),
            SeamOp::Delete { number } if not_found => self.seam_deleted(number),
            SeamOp::DeleteScratch { .. } if not_found => {}
            // A retry after a lost answer meets the upload completed: the copy settles it
            // (a scratch object not there fails it).
            SeamOp::Complete { number } if not_found && attempt > 0 => {
                self.seam_completed(number, None, now)
            }
            // The tail's object changed since it was listed.
            SeamOp::Tail { number }
                if matches!(error.status, 404 | 412) && error.code != "NoSuchUpload" =>
            {
                let entry = self.seams.open.get(&number).map_or(0, |s| s.tail.entry);
                let key = self.plan.entries[entry].key.clone();
                self.fail(PackError::ObjectChanged { key })
            }
            // The store holds other bytes than the scratch upload's parts said: as with
            // the archive's own completion, the pack fails.
            SeamOp::Complete { .. } if error.code == "BadDigest" => {
                let e = self.mismatch(op);
                self.fail(e)
            }
            SeamOp::Bytes { .. }
                if matches!(error.code.as_str(), "BadDigest" | "InvalidDigest") =>
            {
                let e = self.mismatch(op);
                self.retry_or_give_up(op.clone(), attempt, e, now)
            }
            // The store will not build the seam (no right on scratch keys, no
            // UploadPartCopy, …): it is read and uploaded as an ordinary part.
            SeamOp::Create { number }
            | SeamOp::Tail { number }
            | SeamOp::Bytes { number }
            | SeamOp::Complete { number }
            | SeamOp::Copy { number }
                if going && !matches!(error.status, 404 | 412) =>
            {
                self.seam_refused_by_store(number, now)
            }
            _ => return false,
        }
        true
    }

    /// A seam step given up on, if it is one this handles.
    pub(super) fn seam_given_up(&mut self, op: &Op) -> bool {
        let Op::Seam(step) = op else { return false };
        match *step {
            SeamOp::Abort { number } => self.seam_aborted(number),
            SeamOp::Delete { number } => self.seam_deleted(number),
            SeamOp::DeleteScratch { .. } => {}
            SeamOp::ListScratch { .. } => self.seams.sweep_state = ScratchSweep::Removing,
            // A refused seam's scratch steps no longer matter (its part is read instead).
            SeamOp::Create { number }
            | SeamOp::Tail { number }
            | SeamOp::Bytes { number }
            | SeamOp::Complete { number }
                if self.seams.open.get(&number).is_some_and(|s| s.refused) =>
            {
                return true
            }
            _ => return false,
        }
        if op.is_cleanup() {
            self.upload.leaked = true;
        }
        true
    }

    /// A seam's create answer was lost: a scratch upload we never heard of may be open.
    pub(super) fn seam_create_unsure(&mut self, op: &Op) {
        if matches!(op, Op::Seam(SeamOp::Create { .. })) {
            let prefix = self.our_scratch_prefix();
            self.seams.sweep.insert(prefix);
        }
    }

    /// The seams' part of the pack's end: once no scratch step is on its way, abort the
    /// scratch uploads left open and delete the scratch objects that may exist, then
    /// sweep. `true` once nothing is left to do.
    pub(super) fn clean_seams(&mut self, now: Now) -> bool {
        if self.requests.pending(Op::is_seam_write) {
            return false;
        }
        let mut sends = Vec::new();
        for (&number, s) in self.seams.open.iter_mut() {
            if s.needs_abort() && !s.abort_sent {
                s.abort_sent = true;
                sends.push(Op::Seam(SeamOp::Abort { number }));
            }
            if s.needs_delete() && !s.delete_sent {
                s.delete_sent = true;
                sends.push(Op::Seam(SeamOp::Delete { number }));
            }
        }
        for op in sends {
            self.send(op, 0, now);
        }
        if self
            .requests
            .pending(|op| matches!(op, Op::Seam(SeamOp::Abort { .. } | SeamOp::Delete { .. })))
        {
            return false;
        }
        self.sweep_scratch_objects(now)
    }

    /// Deletes the scratch objects under the prefixes to sweep (their open uploads go with
    /// the destination's strays, `Engine::sweep`).
    fn sweep_scratch_objects(&mut self, now: Now) -> bool {
        if self.seams.sweep.is_empty() {
            return true;
        }
        match self.seams.sweep_state {
            ScratchSweep::NotStarted => {
                self.seams.sweep_state = ScratchSweep::Listing;
                self.send(Op::Seam(SeamOp::ListScratch { token: None }), 0, now);
                false
            }
            ScratchSweep::Listing => false,
            ScratchSweep::Removing => {
                for key in std::mem::take(&mut self.seams.found_objects) {
                    self.send(Op::Seam(SeamOp::DeleteScratch { key }), 0, now);
                }
                if self
                    .requests
                    .pending(|op| matches!(op, Op::Seam(SeamOp::DeleteScratch { .. })))
                {
                    return false;
                }
                self.seams.sweep_state = ScratchSweep::Done;
                true
            }
            ScratchSweep::Done => true,
        }
    }

    /// A refused copy's bytes were read: a seam's part is them (its tail) and its bytes.
    pub(super) fn seam_read(&mut self, number: u32, mut body: Vec<u8>) -> Vec<u8> {
        if let Some(s) = self.seams.open.get_mut(&number) {
            for piece in s.bytes.pieces() {
                body.extend_from_slice(piece);
            }
            s.placed = true;
            s.bytes = Rope::new();
        }
        body
    }

    pub(super) fn what_seam(&self, op: &Op) -> Option<String> {
        let seam = |number: u32, step: &str| {
            format!("{step} for part {number} (a seam, `{}`)", {
                self.seams
                    .open
                    .get(&number)
                    .map_or(String::new(), |s| s.key.clone())
            })
        };
        let Op::Seam(step) = op else { return None };
        Some(match *step {
            SeamOp::Create { number } => seam(number, "start the scratch upload"),
            SeamOp::Tail { number } => seam(number, "copy the scratch upload's first part"),
            SeamOp::Bytes { number } => seam(number, "upload the scratch upload's last part"),
            SeamOp::Complete { number } => seam(number, "complete the scratch upload"),
            SeamOp::Copy { number } => seam(number, "copy the scratch object"),
            SeamOp::Abort { number } => seam(number, "abort the scratch upload"),
            SeamOp::Delete { number } => seam(number, "delete the scratch object"),
            SeamOp::ListScratch { .. } => {
                format!("list scratch objects (`*{SEAM_SUFFIX}`)")
            }
            SeamOp::DeleteScratch { ref key } => {
                format!("delete the scratch object `{key}`")
            }
        })
    }
}
