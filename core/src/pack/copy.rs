//! Copy, don't carry: a stored entry whose CRC-32 is known before its bytes are due goes
//! into the archive as parts the store copies from the object itself (`UploadPartCopy`),
//! so only its head passes through the packer.
//!
//! The local header needs the CRC-32 up front. It comes from S3's full-object CRC32
//! (`HeadObject` in checksum mode; AWS SDKs upload with it by default) or from a
//! **record** zip-oss wrote when an earlier pack read the object: `<prefix><sha256(key)>`
//! under a prefix the operator names, holding the key, ETag, size, CRC-32 and what the
//! `auto` sniff decided. A record whose ETag or size differs is ignored. OSS keeps only a
//! CRC-64 per object, so records are how OSS gets here.
//!
//! Every part but the last must reach the store's minimum (S3 5 MiB, OSS 100 KB), and a
//! part is either uploaded bytes or one copied range. So the part that holds a copied
//! entry's header also holds its first `min_part` bytes (the **head**, read and carried),
//! and is not cut before them; the rest of the object follows as copied parts of at most
//! `max(part_size, 2 × min_part)` each (so each is at least `min_part`), and the next
//! entry starts a new part.
//!
//! Two copied entries in a row need not carry the second one's head: a **seam**
//! (`seams.rs`) joins the first one's last `min_part` bytes (copied) and the second one's
//! header (uploaded) into one part, so neither is read.
//!
//! The archive is byte for byte what a pack without copy writes. Its CRC-64 stays
//! checked end to end: a copied range's CRC follows from the object's CRC-64 (which OSS
//! always shows and S3 may) and the head's, by CRC linearity; else from the copy answer.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::job::{Job, Mode};
use crate::plan::{Plan, PlannedEntry, MAX_PARTS};
use crate::store::checksum::{self, Algorithm, Claimed};
use crate::store::host_hashes::{Folded, Hashed};
use crate::store::{ETag, Provider};
use crate::zip::{EntryKind, Method};

/// S3's smallest part (all but the last).
pub const S3_MIN_PART: u64 = 5 << 20;
/// OSS asks for parts above 100 KB; a little more, so no store's rounding matters.
pub const OSS_MIN_PART: u64 = 128 << 10;
/// A store copies at most this much into one part.
const MAX_COPY_PART: u64 = 5 << 30;

/// What zip-oss learned of an object when it read it whole.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub format: u32,
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub crc32: u32,
    /// `auto`'s sniff chose to store the entry (its first bytes looked compressed); false
    /// when it did not, or when the pack that wrote the record did not sniff.
    pub stored: bool,
    /// A digest of the fields above: a record changed on the way (or by hand) is ignored.
    pub check: String,
}

const RECORD_FORMAT: u32 = 1;

impl Record {
    pub fn new(key: &str, etag: &str, size: u64, crc32: u32, stored: bool) -> Record {
        let mut r = Record {
            format: RECORD_FORMAT,
            key: key.to_string(),
            etag: etag.trim().trim_matches('"').to_string(),
            size,
            crc32,
            stored,
            check: String::new(),
        };
        r.check = r.digest();
        r
    }

    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for field in [
            self.format.to_string(),
            self.key.clone(),
            self.etag.clone(),
            self.size.to_string(),
            self.crc32.to_string(),
            self.stored.to_string(),
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialisable")
    }

    pub fn parse(body: &[u8]) -> Option<Record> {
        serde_json::from_slice::<Record>(body)
            .ok()
            .filter(|r| r.format == RECORD_FORMAT && r.check == r.digest())
    }

    /// Whether the record is of this very version of the entry's object.
    pub fn describes(&self, entry: &PlannedEntry) -> bool {
        let etag = entry.etag.as_ref().map(ETag::text);
        let etag = etag.as_deref().map(|e| e.trim().trim_matches('"'));
        self.key == entry.key && Some(self.etag.as_str()) == etag && self.size == entry.size()
    }
}

/// Where the record of `key` lives: fixed length, whatever the key.
pub fn record_key(prefix: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// The smallest part the store takes (all but the last), which is also the head.
pub fn min_part(provider: Provider, configured: u64) -> u64 {
    match (configured, provider) {
        (0, Provider::S3) => S3_MIN_PART,
        (0, Provider::Oss) => OSS_MIN_PART,
        (n, _) => n,
    }
}

/// The copy decisions of one pack, and what it found out on the way.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// The store's minimum part, and the head carried of each copied entry.
    pub head: u64,
    /// Entries worth copying, if their CRC-32 turns out known; their lookups in flight.
    pub candidates: BTreeSet<usize>,
    pub queue: std::collections::VecDeque<super::requests::Op>,
    pub lookups_left: usize,
    /// What the lookups found: CRC-32s, `auto` entries a record says were stored, and
    /// the checksums S3's `HeadObject` showed.
    pub crc32: BTreeMap<usize, u32>,
    pub sniffed_stored: BTreeSet<usize>,
    pub claims: BTreeMap<usize, Claimed>,
    /// Entries whose record was read and is current (nothing to write afterwards).
    pub recorded: BTreeSet<usize>,
    /// The host's hashing of an object's ranges for its CRC-32, as their heads come
    /// (`HashObject`), by entry and range...
    pub hashing: BTreeMap<(usize, u32), Folded>,
    /// ...each range's CRCs once it is whole, by entry (gone once one failed)...
    pub hash_ranges: BTreeMap<usize, Vec<Option<Hashed>>>,
    /// ...and the entries whose CRC-32 it gave, with the store's checksum agreeing (worth
    /// a record).
    pub hashed: BTreeSet<usize>,
    /// Copied entries whose CRC-32 the host's hashing is to tell, chosen before it does:
    /// the hashing runs while the archive is written, and the writer waits at such an
    /// entry until its CRC-32 is in. They stay chosen whatever the hashing meets (the
    /// parts are laid out): a hashing that fails fails the pack, as a read would.
    pub by_hash: BTreeSet<usize>,
    /// ...those of them still being hashed (their `chosen` CRC-32 a placeholder)...
    pub pending: BTreeSet<usize>,
    /// ...and those hashed again, once, after the store's checksum contradicted the
    /// first hashing (a second contradiction fails the pack, as a second flipped read).
    pub rehashed: BTreeSet<usize>,
    /// Hashings the store's checksum contradicted.
    pub contradicted: u64,
    /// Whether the `auto` candidates the lookups left unsettled were sniffed (`Sniff`).
    pub sniff_round: bool,
    /// Copied entries, each with its CRC-32.
    pub chosen: BTreeMap<usize, u32>,
    /// Copied entries whose header is in a seam, after the copied entry before them (which
    /// gives the seam its last bytes, its **tail**): nothing of them is read.
    pub seamed: BTreeSet<usize>,
    /// The tail each entry before a seam gives it: `head`, or all it has left when that is
    /// under two heads (so an object of one to two heads is copied whole between seams).
    pub tails: BTreeMap<usize, u64>,
    /// Object bytes written as copied parts (progress counts them as packed)...
    pub copied_bytes: u64,
    /// ...and those of them read and uploaded after all, the store refusing to copy.
    pub read_instead: u64,
    /// Object bytes the host hashed whole (`Summary::hashed_bytes`).
    pub hashed_bytes: u64,
    /// Copied entries whose head is covered by the archive's checksum, and those not.
    pub verified: u64,
    pub unverified: u64,
}

impl Copies {
    /// Entries worth a lookup: files stored (or `auto`, which a record may settle) large
    /// enough for a head and one copied part, or (with `seams`) for a seam's tail.
    pub fn new(job: &Job, plan: &Plan, records: bool, seams: bool) -> Copies {
        let head = min_part(job.store.provider, job.tuning.copy_min_part);
        let mut copies = Copies {
            head,
            ..Copies::default()
        };
        let on = job.mode == Mode::Upload && job.tuning.copy && job.request.copy.unwrap_or(true);
        // Without records, only S3's own CRC32 or the host's hashing can tell a CRC-32.
        let told = records || job.store.provider == Provider::S3 || job.tuning.hash_to_copy;
        if !on || !told {
            return copies;
        }
        // What `auto`'s sniff decides, a record tells, or the object's first bytes (sniffed
        // before the choice where the host hashes: only then can such an entry be copied
        // without a record).
        let sniffable = records || job.tuning.hash_to_copy;
        copies.candidates = plan
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| worth_copying(e, smallest(head, seams), sniffable))
            .map(|(i, _)| i)
            .collect();
        copies
    }

    /// The `auto` candidates no record settled, worth the host's hashing if their sniff
    /// chooses stored: their first bytes are read for it before the choice.
    pub fn to_sniff(&self, plan: &Plan, part_size: u64) -> Vec<usize> {
        let smallest = self.smallest_hashed(part_size);
        self.candidates
            .iter()
            .copied()
            .filter(|e| !self.recorded.contains(e) && !self.sniffed_stored.contains(e))
            .filter(|&e| plan.entries[e].sniff && plan.entries[e].size() >= smallest)
            .collect()
    }

    /// The lookups are in: picks the entries to copy, no more than the part count allows
    /// for an archive of at most `bound` bytes: those whose CRC-32 is known, and those
    /// `pending` the host's hashing (which is then sent for the chosen ones only). `auto`
    /// entries a record shows were stored become stored in the plan (the same bytes a
    /// pack without copy writes: its sniff decides the same).
    pub fn choose(&mut self, plan: &mut Plan, bound: u64, part_size: u64) {
        // Parts: the carried bytes cut at `part_size`, plus per copied entry the part its
        // copy cuts short and its copied parts.
        let (mut carried, mut extra) = (bound, 0u64);
        for &e in &self.candidates {
            let crc32 = match self.crc32.get(&e) {
                Some(&crc32) => crc32,
                // Until the hashing tells; the writer waits for it.
                None if self.pending.contains(&e) => 0,
                None => continue,
            };
            let entry = &mut plan.entries[e];
            if entry.sniff {
                if !self.sniffed_stored.contains(&e) {
                    continue;
                }
                entry.sniff = false;
                entry.method = Method::Stored;
            }
            if entry.method != Method::Stored {
                continue;
            }
            let rest = entry.size() - self.head;
            let more = 1 + copy_chunks(rest, part_size, self.head).len() as u64;
            let left = carried.saturating_sub(rest);
            if left.div_ceil(part_size) + extra + more > MAX_PARTS {
                continue;
            }
            (carried, extra) = (left, extra + more);
            self.chosen.insert(e, crc32);
        }
    }

    /// Joins copied entries in a row by seams, where the head is worth it (`min_head`).
    /// Every part but the last must reach the store's minimum (`head`): a seam's tail (its
    /// scratch object's first part) and the copied middle the entry before keeps (unless
    /// none). An entry that joins nothing and is under two heads is not copied after all.
    pub fn join_seams(&mut self, plan: &Plan, min_head: u64) {
        let h = self.head;
        let chosen: Vec<usize> = self.chosen.keys().copied().collect();
        if h >= min_head {
            for &b in &chosen {
                let Some(a) = b.checked_sub(1).filter(|a| self.chosen.contains_key(a)) else {
                    continue;
                };
                let left = plan.entries[a].size() - self.read_len(a, u64::MAX);
                let tail = match left {
                    l if l < h => continue,
                    l if l < 2 * h => l,
                    _ => h,
                };
                self.tails.insert(a, tail);
                self.seamed.insert(b);
            }
        }
        for e in chosen {
            let joined = self.seamed.contains(&e) || self.tails.contains_key(&e);
            if !joined && plan.entries[e].size() < 2 * h {
                self.chosen.remove(&e);
            }
        }
    }

    /// After the choice (and the seams): only chosen entries are hashed.
    pub fn settle_pending(&mut self) {
        let chosen = &self.chosen;
        self.pending.retain(|e| chosen.contains_key(e));
        self.by_hash = self.pending.clone();
    }

    /// The host's hashing told entry `e`'s CRC-32: the writer may go on past it.
    pub fn hashed_crc32(&mut self, e: usize, crc32: u32) {
        self.pending.remove(&e);
        if let Some(c) = self.chosen.get_mut(&e) {
            *c = crc32;
        }
    }

    /// The candidates the lookups told no CRC-32 of, that the host may hash: stored
    /// entries (`auto` ones once a record or their sniff chose stored) of at least two
    /// heads and a part. Below that a copy saves too little upload for its requests:
    /// OSS's heads are 128 KiB, and a folder of 300 KiB files copied would be three
    /// requests and two parts a file instead of a share of one part.
    pub fn to_hash(&self, plan: &Plan, part_size: u64) -> Vec<usize> {
        let smallest = self.smallest_hashed(part_size);
        self.candidates
            .iter()
            .copied()
            .filter(|e| !self.crc32.contains_key(e))
            .filter(|&e| {
                let entry = &plan.entries[e];
                let stored = match entry.sniff {
                    true => self.sniffed_stored.contains(&e),
                    false => entry.method == Method::Stored,
                };
                stored && entry.size() >= smallest
            })
            .collect()
    }

    /// The smallest object worth the host's hashing (and so a sniff): two heads and a part.
    fn smallest_hashed(&self, part_size: u64) -> u64 {
        (2 * self.head).max(part_size)
    }

    /// Bytes `start..end` of range `range` of an object of `size` hashed in ranges of
    /// `range_bytes`.
    pub fn hash_range(size: u64, range_bytes: u64, range: u32) -> (u64, u64) {
        let start = u64::from(range) * range_bytes;
        (start, (start + range_bytes).min(size))
    }

    /// How much of entry `e` is read: the head of a copied entry (nothing after a seam),
    /// else all of it.
    pub fn read_len(&self, e: usize, size: u64) -> u64 {
        match (self.chosen.contains_key(&e), self.seamed.contains(&e)) {
            (true, true) => 0,
            (true, false) => self.head,
            _ => size,
        }
    }

    /// How much of copied entry `e`'s end goes into the seam after it.
    pub fn tail_len(&self, e: usize) -> u64 {
        self.tails.get(&e).copied().unwrap_or(0)
    }

    /// What decides the archive's parts, for the resume fingerprint (taken before the
    /// hashing tells its CRC-32s: those are left out, as a rerun hashes again).
    pub fn layout(&self) -> Vec<u8> {
        let mut out = self.head.to_be_bytes().to_vec();
        for (e, crc) in &self.chosen {
            let crc = if self.by_hash.contains(e) { 0 } else { *crc };
            out.extend((*e as u64).to_be_bytes());
            out.extend(crc.to_be_bytes());
            out.push(u8::from(self.seamed.contains(e)));
        }
        out
    }

    /// The CRC (in the archive's `algorithm`) of bytes `head..size` of an object, from the
    /// object's whole CRC (if the store showed one in that algorithm) and its head's.
    pub fn rest_crc(
        claimed: Option<&Claimed>,
        algorithm: Algorithm,
        head_crc: u64,
        rest: u64,
    ) -> Option<u64> {
        let Some(Claimed::Full(c)) = claimed else {
            return None;
        };
        if c.algorithm != algorithm {
            return None;
        }
        // crc(head ‖ rest) = shift(crc(head), |rest|) ⊕ crc(rest), so crc(rest) follows.
        let whole = c.as_crc()?;
        Some(whole ^ checksum::combine(algorithm, head_crc, 0, rest))
    }
}

/// The smallest object worth copying: a head and a copied part, or (between seams) a
/// seam's tail.
pub fn smallest(head: u64, seams: bool) -> u64 {
    match seams {
        true => head,
        false => 2 * head,
    }
}

/// `auto` entries only where their sniff can be settled before the choice (`sniffable`).
fn worth_copying(e: &PlannedEntry, smallest: u64, sniffable: bool) -> bool {
    matches!(e.kind, EntryKind::File { .. })
        && e.etag.is_some()
        && (e.method == Method::Stored || e.sniff && sniffable)
        && e.size() >= smallest
}

/// The copied parts of `len` bytes: at most `max(part_size, 2 × min)` each, so each is
/// at least `min` (given `len ≥ min`), and never above what one copy may hold.
pub fn copy_chunks(len: u64, part_size: u64, min: u64) -> Vec<u64> {
    let most = part_size.max(2 * min).min(MAX_COPY_PART);
    let n = len.div_ceil(most).max(1);
    let base = len / n;
    let extra = len % n;
    (0..n).map(|i| base + u64::from(i < extra)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_within_bounds_and_add_up() {
        for (len, part, min) in [
            (5 << 20, 8 << 20, 5 << 20),
            ((8 << 20) + 1, 8 << 20, 5 << 20),
            (100 << 20, 8 << 20, 5 << 20),
            (1 << 40, 105 << 20, 5 << 20),
            (300 << 10, 64 << 10, 128 << 10),
        ] {
            let c = copy_chunks(len, part, min);
            assert_eq!(c.iter().sum::<u64>(), len);
            assert!(c.iter().all(|&n| n >= min && n <= MAX_COPY_PART), "{c:?}");
            assert!(c.iter().all(|&n| n <= part.max(2 * min)), "{c:?}");
        }
    }

    #[test]
    fn copied_bytes_free_parts_for_more_copies() {
        let big = |i: usize| PlannedEntry::stored_file(&format!("k{i}"), 45 << 30);
        let mut plan = Plan {
            entries: vec![big(0), big(1)],
            ..Plan::default()
        };
        let mut c = Copies {
            head: S3_MIN_PART,
            ..Copies::default()
        };
        c.candidates = [0, 1].into();
        c.crc32 = [(0, 1), (1, 2)].into();
        // 90 GiB in 10 MiB parts would be 9,216 parts carried: copying frees them.
        c.choose(&mut plan, 90 << 30, 10 << 20);
        assert_eq!(c.chosen.len(), 2);
    }

    #[test]
    fn seams_join_copied_entries_in_a_row() {
        let entry = |i: usize, size: u64| PlannedEntry::stored_file(&format!("k{i}"), size);
        let m = S3_MIN_PART;
        // 0, 1 and 2 copied in a row: 0 gives a head, 1 (under two heads, no head read)
        // all it has; 3 is not copied; 4 is alone and under two heads.
        let plan = Plan {
            entries: vec![
                entry(0, 3 * m),
                entry(1, 2 * m - 1),
                entry(2, 4 * m),
                entry(3, 4 * m),
                entry(4, 3 * m / 2),
            ],
            ..Plan::default()
        };
        let chosen: BTreeMap<usize, u32> = [(0, 1), (1, 2), (2, 3), (4, 5)].into();
        let mut off = Copies {
            head: m,
            chosen: chosen.clone(),
            ..Copies::default()
        };
        off.join_seams(&plan, 2 * m);
        assert!(off.seamed.is_empty(), "heads under the threshold carry");
        assert_eq!(off.chosen.keys().copied().collect::<Vec<_>>(), [0, 2]);
        let mut c = Copies {
            head: m,
            chosen,
            ..Copies::default()
        };
        c.join_seams(&plan, m);
        assert_eq!(c.seamed, [1, 2].into());
        assert_eq!(c.tails, [(0, m), (1, 2 * m - 1)].into());
        assert_eq!(c.chosen.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            (0..5)
                .map(|e| c.read_len(e, plan.entries[e].size()))
                .collect::<Vec<_>>(),
            [m, 0, 0, 4 * m, 3 * m / 2]
        );
        assert_eq!(
            (c.tail_len(0), c.tail_len(1), c.tail_len(2)),
            (m, 2 * m - 1, 0)
        );
    }

    #[test]
    fn records_describe_one_version_of_one_object() {
        let mut entry = PlannedEntry::stored_file("a/b.bin", 10);
        entry.etag = Some(ETag::new("\"e1\""));
        let r = Record::new("a/b.bin", "\"e1\"", 10, 7, false);
        let back = Record::parse(&r.to_json()).unwrap();
        assert!(back.describes(&entry));
        assert!(!Record::new("a/b.bin", "e2", 10, 7, false).describes(&entry));
        assert!(!Record::new("a/b.bin", "e1", 11, 7, false).describes(&entry));
        assert!(!Record::new("a/c.bin", "e1", 10, 7, false).describes(&entry));
        assert_eq!(Record::parse(b"{}"), None);
        // A changed digit is caught.
        let json = String::from_utf8(r.to_json())
            .unwrap()
            .replace("\"crc32\":7", "\"crc32\":8");
        assert!(json.contains("\"crc32\":8"));
        assert_eq!(Record::parse(json.as_bytes()), None);
        let k = record_key(".zip-oss/crc/", "a/b.bin");
        assert_eq!(k.len(), ".zip-oss/crc/".len() + 64);
    }

    #[test]
    fn the_rest_of_an_object_has_the_crc_its_whole_and_head_imply() {
        let a = Algorithm::Crc64Nvme;
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let claim = Claimed::Full(checksum::Checksum::crc(a, checksum::crc(a, &data)));
        let head = checksum::crc(a, &data[..300]);
        assert_eq!(
            Copies::rest_crc(Some(&claim), a, head, 700),
            Some(checksum::crc(a, &data[300..]))
        );
        assert_eq!(
            Copies::rest_crc(Some(&claim), Algorithm::Crc64Ecma, head, 700),
            None
        );
        assert_eq!(Copies::rest_crc(None, a, head, 700), None);
    }
}
