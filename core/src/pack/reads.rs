//! Which object bytes are read when: every entry's data cut into read units (whole small
//! objects, ranges of large ones, or one stream per large object), started in plan order
//! within two windows, their bytes buffered until the encoder takes them in order.
//!
//! Small objects are read ahead (a folder of thousands of small files is not one round
//! trip per file); large ones are read as ranges several at once, across objects, since a
//! store serves one connection at a pace of its own. What a unit may hold is granted as
//! credit up front, so the bytes held never exceed the windows' budget.
//!
//! Every object's bytes are checked against the store's checksum on their way to the
//! encoder (`verify.rs`): a small object is handed over only once it is whole and checked.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::copy::Copies;
use super::io::Token;
use super::job::Tuning;
use super::read_window::ReadWindow;
use super::verify::{PieceCrcs, Verdict, Verify};
use crate::plan::Plan;
use crate::store::checksum::{self, Algorithm};
use crate::store::host_hashes::{self, Hashed};
use crate::store::ETag;

/// The most small reads in flight, however small the objects: the host's connection
/// limit (`--max-outgoing`, 64 by default) would queue more anyway.
pub(crate) const MAX_READ_AHEAD: usize = 64;

/// One read: bytes `start..end` of entry `entry`'s object.
#[derive(Debug)]
pub(crate) struct Unit {
    pub entry: usize,
    pub start: u64,
    pub end: u64,
    /// Covers the whole object: its first attempt is a plain GET.
    pub whole: bool,
    /// Read ahead in the small-object window (else the range window). A small unit is
    /// its whole object, handed over only once all of it is here and checked.
    pub small: bool,
    /// Ends at the object's last byte.
    pub last: bool,
    /// Credit is granted as the encoder takes bytes (one stream per large object).
    pub windowed: bool,
    pub started: bool,
    pub consumed: u64,
    /// The read's state from its start until it is taken whole. Units are made for the
    /// whole plan up front (one per small object), and a waiting or spent one keeps none:
    /// ~60 bytes an object less for the whole pack.
    flight: Option<Box<Flight>>,
}

/// A started unit's read: its attempts, what arrived and what was granted.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    /// Whether a small unit's bytes were checked (and may be handed over).
    pub checked: bool,
    /// The attempt in flight, and whether its answer's head arrived.
    pub token: Option<Token>,
    pub answered: bool,
    /// Bytes received from `start` on; the next attempt resumes there.
    pub received: u64,
    /// Granted to the attempt in flight and not yet received.
    pub credit: u64,
    /// What arrived and was not yet taken, in order.
    chunks: VecDeque<Chunk>,
    pub buffered_bytes: u64,
    /// Bodies that broke off and were resumed.
    pub resumes: u32,
    /// When the attempt in flight was sent (monotonic ms).
    sent_ms: u64,
}

/// What a unit that has no read going shows.
static IDLE: Flight = Flight {
    checked: false,
    token: None,
    answered: false,
    received: 0,
    credit: 0,
    chunks: VecDeque::new(),
    buffered_bytes: 0,
    resumes: 0,
    sent_ms: 0,
};

impl Unit {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Taken whole by the encoder.
    fn spent(&self) -> bool {
        self.consumed == self.len()
    }

    /// Its read's state (an idle one before it starts and once it is spent).
    pub fn flight(&self) -> &Flight {
        self.flight.as_deref().unwrap_or(&IDLE)
    }

    /// Its read's state, which a started unit has until it is spent.
    pub fn flight_mut(&mut self) -> &mut Flight {
        debug_assert!(
            self.started && !self.spent(),
            "a read's state outside its read"
        );
        self.flight.get_or_insert_with(Box::default)
    }

    /// Bytes received from `start` on (all of them once spent).
    pub fn received(&self) -> u64 {
        match &self.flight {
            Some(f) => f.received,
            None if self.started && self.spent() => self.len(),
            None => 0,
        }
    }

    /// Whether this attempt asks for a range (anything but the whole object from byte 0).
    pub fn ranged(&self) -> bool {
        !(self.whole && self.received() == 0)
    }

    /// Lets go of the read's state once the unit is taken whole.
    fn spend(&mut self) {
        self.flight = None;
    }

    /// What the next attempt may be granted: the rest of a fixed unit, or the window.
    fn initial_credit(&self, window: u64) -> u64 {
        let f = self.flight();
        let rest = self.len() - f.received;
        if self.windowed {
            window.saturating_sub(f.buffered_bytes).min(rest)
        } else {
            rest
        }
    }
}

/// Bytes as they arrived, with what the host hashed of them.
#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    hashed: Option<Hashed>,
    /// Set when a small unit is checked: its CRCs in the shared algorithm and CRC-32.
    crcs: PieceCrcs,
}

/// Bytes taken for the encoder.
pub(crate) struct Taken {
    pub bytes: Bytes,
    /// Their CRCs, as far as hashing them for their check gave them.
    pub crcs: PieceCrcs,
    /// Credit to grant a windowed read.
    pub credit: Option<(Token, u64)>,
}

#[derive(Debug)]
pub(crate) struct Reads {
    pub units: Vec<Unit>,
    /// The first unit not wholly taken by the encoder.
    front: usize,
    next_small: usize,
    next_large: usize,
    /// Small units started and not yet whole and checked: the reads the window counts.
    /// One answer slow to arrive at the encoder's front must not stop the reads behind it,
    /// so those whole and waiting their turn are not counted (only `active_small`
    /// bounds them: at the window's cap, which memory sets).
    reading_small: usize,
    active_small: usize,
    active_large: usize,
    /// ETags learned from a first answer, for entries the plan has none of (every read
    /// carries the listing's, else this: [`Reads::etag`]). The plan's are not copied here:
    /// a map of every entry's cost ~100 bytes an object.
    learned_etags: BTreeMap<usize, String>,
    pub verify: Verify,
    /// An object whose bytes (already handed over) did not match its checksum.
    pub mismatch: Option<(usize, crate::store::checksum::Algorithm)>,
    /// The archive's checksum algorithm, when parts carry one: bytes whose object is checked
    /// in it are hashed once, their CRC handed on with them.
    shared: Option<Algorithm>,
    tuning: Tuning,
    /// Entries of which only the head is read (the store copies the rest): their bytes
    /// cannot be checked against the object's checksum, and are not.
    pub copied: std::collections::BTreeSet<usize>,
    /// Small reads in flight: as many as the store's latency needs, at most
    /// [`Reads::small_window`].
    window: ReadWindow,
}

impl Reads {
    /// The reads of `plan`; of a copied entry (`copies`), only its head.
    pub fn new(plan: &Plan, tuning: Tuning, shared: Option<Algorithm>, copies: &Copies) -> Reads {
        // Each entry's bytes to read and the step they are cut by.
        let cuts = |entry: usize, size: u64| {
            let read = copies.read_len(entry, size);
            let small = size <= tuning.small_object_max && read == size;
            let windowed = !small && tuning.read_ranges == 1;
            let step = if small || windowed {
                read
            } else {
                tuning.range_bytes
            };
            (read, small, windowed, step)
        };
        // Counted first: a vector grown by doubling leaves up to half its room unused, and
        // guest memory, once touched, stays.
        let count: u64 = (plan.entries.iter().enumerate())
            .filter(|(_, e)| e.size() > 0)
            .map(|(entry, e)| {
                let (read, _, _, step) = cuts(entry, e.size());
                read.div_ceil(step.max(1))
            })
            .sum();
        let mut units = Vec::with_capacity(count as usize);
        for (entry, e) in plan.entries.iter().enumerate() {
            let size = e.size();
            if size == 0 {
                continue;
            }
            let (read, small, windowed, step) = cuts(entry, size);
            let mut start = 0;
            while start < read {
                let end = (start + step).min(read);
                units.push(Unit {
                    entry,
                    start,
                    end,
                    whole: start == 0 && end == size,
                    small,
                    last: end == read,
                    windowed,
                    started: false,
                    consumed: 0,
                    flight: None,
                });
                start = end;
            }
        }
        debug_assert_eq!(units.len() as u64, count);
        Reads {
            units,
            front: 0,
            next_small: 0,
            next_large: 0,
            reading_small: 0,
            active_small: 0,
            active_large: 0,
            learned_etags: BTreeMap::new(),
            verify: Verify::default(),
            mismatch: None,
            shared,
            tuning,
            copied: copies.chosen.keys().copied().collect(),
            window: ReadWindow::new(tuning.read_ahead, Self::small_window(plan, &tuning)),
        }
    }

    /// Small objects read at once at most: `read_ahead` of the largest small object the
    /// tuning allows, spent on as many of the plan's as fit (at most [`MAX_READ_AHEAD`]). A
    /// folder of tiny files may have more reads in flight, which is what hides a store's
    /// latency (16 in flight at 10 ms each cannot pass 1,600 objects/s), in the same
    /// memory; how many it has is [`ReadWindow`]'s call.
    pub fn small_window(plan: &Plan, tuning: &Tuning) -> usize {
        let largest = Self::largest_small(plan, tuning);
        if largest == 0 {
            return tuning.read_ahead;
        }
        let fit = tuning.read_ahead as u64 * tuning.small_object_max / largest;
        (fit.min(MAX_READ_AHEAD as u64) as usize).max(tuning.read_ahead)
    }

    fn largest_small(plan: &Plan, tuning: &Tuning) -> u64 {
        plan.entries
            .iter()
            .filter(|e| e.size() > 0 && e.size() <= tuning.small_object_max)
            .map(|e| e.size())
            .max()
            .unwrap_or(0)
    }

    /// The ETag every read of `entry` must carry: the listing's, else the first answer's.
    pub fn etag<'a>(&'a self, plan: &'a Plan, entry: usize) -> Option<Cow<'a, str>> {
        plan.entries[entry]
            .etag
            .as_ref()
            .map(ETag::text)
            .or_else(|| {
                self.learned_etags
                    .get(&entry)
                    .map(|e| Cow::Borrowed(e.as_str()))
            })
    }

    /// Remembers the ETag of `entry`'s first answer, when the plan has none.
    pub fn learn_etag(&mut self, entry: usize, etag: &str) {
        self.learned_etags.insert(entry, etag.to_string());
    }

    /// The most the reads can hold at once.
    pub fn budget(plan: &Plan, tuning: &Tuning) -> u64 {
        let small = Self::largest_small(plan, tuning);
        let large = plan
            .entries
            .iter()
            .any(|e| e.size() > tuning.small_object_max);
        Self::small_window(plan, tuning) as u64 * small
            + if large {
                tuning.read_ranges as u64 * tuning.range_bytes
            } else {
                0
            }
    }

    /// Bytes held: buffered, plus granted and not yet arrived.
    pub fn held(&self) -> u64 {
        self.units[self.front..]
            .iter()
            .filter(|u| u.started)
            .map(|u| u.flight().buffered_bytes + u.flight().credit)
            .sum()
    }

    /// The next unit to start, if a window has room; marks it started. Each window starts
    /// its own units in plan order (small ones are read ahead past large ones).
    pub fn next_to_start(&mut self) -> Option<usize> {
        if self.reading_small < self.window.get() && self.active_small < self.window.cap() {
            if let Some(i) = next_of(&mut self.units, &mut self.next_small, true) {
                self.reading_small += 1;
                self.active_small += 1;
                return Some(i);
            }
        }
        if self.active_large < self.tuning.read_ranges {
            if let Some(i) = next_of(&mut self.units, &mut self.next_large, false) {
                self.active_large += 1;
                return Some(i);
            }
        }
        None
    }

    /// A new attempt of unit `i` goes out under `token`; the credit it is granted.
    pub fn attempt(&mut self, i: usize, token: Token, now_ms: u64) -> u64 {
        let window = self.tuning.range_bytes;
        let u = &mut self.units[i];
        let credit = u.initial_credit(window);
        let f = u.flight_mut();
        f.token = Some(token);
        f.sent_ms = now_ms;
        f.answered = false;
        f.credit = credit;
        credit
    }

    /// Unit `i`'s answer began at `now_ms`: a small one's latency sizes the window.
    pub fn answered(&mut self, i: usize, now_ms: u64) {
        let u = &self.units[i];
        if u.small {
            self.window.answered(u.flight().sent_ms, now_ms);
        }
    }

    /// The attempt in flight ended (broke off, or finished): its unspent credit lapses.
    pub fn attempt_over(&mut self, i: usize) {
        if let Some(f) = self.units[i].flight.as_deref_mut() {
            f.token = None;
            f.credit = 0;
        }
    }

    /// Bytes arrived; `false` if more came than the unit asked for.
    pub fn arrived(&mut self, i: usize, bytes: Bytes, hashed: Option<Hashed>) -> bool {
        let u = &mut self.units[i];
        let n = bytes.len() as u64;
        if u.received() + n > u.len() {
            return false;
        }
        if n == 0 {
            return true;
        }
        let f = u.flight_mut();
        f.received += n;
        f.credit = f.credit.saturating_sub(n);
        f.buffered_bytes += n;
        f.chunks.push_back(Chunk {
            bytes,
            hashed,
            crcs: PieceCrcs::default(),
        });
        true
    }

    /// The first `n` bytes of entry `entry` without taking them, once they are here.
    pub fn peek(&self, entry: usize, n: u64) -> Option<Vec<u8>> {
        let u = self.units.get(self.front).filter(|u| u.entry == entry)?;
        let f = u.flight();
        if u.consumed != 0 || f.buffered_bytes < n || (u.small && !f.checked) {
            return None;
        }
        let mut out = Vec::with_capacity(n as usize);
        for b in f.chunks.iter().map(|c| &c.bytes) {
            let take = (n as usize - out.len()).min(b.len());
            out.extend_from_slice(&b[..take]);
            if out.len() == n as usize {
                break;
            }
        }
        Some(out)
    }

    /// The CRC-32 of entry `entry`'s object, once it is here whole, checked and untouched
    /// as a small object is, and every piece's CRC-32 is known (the host's, or the check's):
    /// its header can then carry it, so its part waits for no patch.
    pub fn whole_crc32(&self, entry: usize, size: u64) -> Option<u32> {
        let u = self.units.get(self.front).filter(|u| u.entry == entry)?;
        let f = u.flight();
        if !u.small || !f.checked || u.consumed != 0 || u.len() != size || f.buffered_bytes != size
        {
            return None;
        }
        let mut whole = 0u64;
        for c in &f.chunks {
            let piece = c.crcs.crc32.or(c.hashed.map(|h| h.crc32))?;
            let len = c.bytes.len() as u64;
            whole = checksum::combine(Algorithm::Crc32, whole, u64::from(piece), len);
        }
        Some(whole as u32)
    }

    /// Up to `max` of entry `entry`'s next bytes, in order; `None` until they arrive.
    /// Returns their CRC in the shared algorithm when it is known, and more credit to grant
    /// a windowed unit, if any.
    pub fn take(&mut self, entry: usize, max: usize) -> Option<Taken> {
        let window = self.tuning.range_bytes;
        let u = self
            .units
            .get_mut(self.front)
            .filter(|u| u.entry == entry)?;
        // A larger object's bytes are hashed as they go; its checksum must be known first.
        let copied = self.copied.contains(&entry);
        let checked = u.flight().checked;
        if (u.small && !checked) || (!u.small && !copied && !self.verify.known(entry)) {
            return None;
        }
        if u.flight().chunks.is_empty() {
            return None;
        }
        let f = u.flight_mut();
        let Chunk {
            mut bytes,
            mut hashed,
            mut crcs,
        } = f.chunks.pop_front()?;
        if bytes.len() > max {
            let (head, (tail, tail_hashed)) = host_hashes::split(bytes, hashed, max);
            (bytes, hashed) = head;
            // Split: neither half's CRCs from a check are known.
            crcs = PieceCrcs::default();
            f.chunks.push_front(Chunk {
                bytes: tail,
                hashed: tail_hashed,
                crcs,
            });
        }
        let n = bytes.len() as u64;
        f.buffered_bytes -= n;
        u.consumed += n;
        if !u.small && !copied {
            crcs = self.verify.hash(entry, &bytes, self.shared, hashed);
            if u.last && u.consumed == u.len() {
                if let Verdict::Mismatch(a) = self.verify.finish(entry) {
                    self.mismatch = Some((entry, a));
                }
            }
        }
        let crcs = crcs.or_hashed(hashed, self.shared);
        let mut credit = None;
        if u.consumed == u.len() {
            if u.small {
                self.active_small -= 1;
            } else {
                self.active_large -= 1;
            }
            u.spend();
            self.front += 1;
        } else if let (true, Some(token), true) =
            (u.windowed, u.flight().token, u.flight().answered)
        {
            // Top the window up once a quarter of it is free.
            let len = u.len();
            let f = u.flight_mut();
            let free = window.saturating_sub(f.buffered_bytes + f.credit);
            let grant = free.min(len - f.received - f.credit);
            if grant > 0 && (grant >= window / 4 || f.received + f.credit + grant == len) {
                f.credit += grant;
                credit = Some((token, grant));
            }
        }
        Some(Taken {
            bytes,
            crcs,
            credit,
        })
    }

    /// A small unit is whole: checks it against its object's checksum.
    pub fn check_small(&mut self, i: usize) -> Verdict {
        let u = &self.units[i];
        let chunks = u.flight().chunks.iter().map(|c| (&c.bytes[..], c.hashed));
        let (verdict, crcs) = self.verify.check_whole(u.entry, chunks, self.shared);
        if !matches!(verdict, Verdict::Mismatch(_)) {
            let f = self.units[i].flight_mut();
            if !f.checked {
                self.reading_small -= 1;
            }
            f.checked = true;
            for (chunk, crcs) in f.chunks.iter_mut().zip(crcs) {
                chunk.crcs = crcs;
            }
        }
        verdict
    }

    /// Drops a unit's bytes to read it again from its start.
    pub fn restart(&mut self, i: usize) {
        let u = &mut self.units[i];
        debug_assert_eq!(
            u.consumed, 0,
            "a small unit is handed over only once checked"
        );
        let f = u.flight_mut();
        f.chunks.clear();
        f.buffered_bytes = 0;
        f.received = 0;
    }

    /// Forgets everything buffered (the pack failed).
    pub fn clear(&mut self) {
        for u in &mut self.units[self.front..] {
            u.spend();
        }
        self.front = self.units.len();
    }
}

/// Moves `cursor` to the next unit of the class `small` says, marks it started, returns it.
fn next_of(units: &mut [Unit], cursor: &mut usize, small: bool) -> Option<usize> {
    while *cursor < units.len() && units[*cursor].small != small {
        *cursor += 1;
    }
    let unit = units.get_mut(*cursor)?;
    unit.started = true;
    unit.flight = Some(Box::default());
    *cursor += 1;
    Some(*cursor - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedEntry;
    use crate::store::checksum::Claimed;

    #[test]
    fn a_slow_read_at_the_front_stops_only_what_memory_does() {
        let plan = Plan {
            entries: (0..1_000)
                .map(|i| PlannedEntry::stored_file(&format!("k{i}"), 4 << 10))
                .collect(),
            ..Plan::default()
        };
        let tuning = Tuning {
            read_ahead: 4,
            ..Tuning::default()
        };
        let mut reads = Reads::new(&plan, tuning, None, &Copies::default());
        let cap = reads.window.cap();
        assert!(cap > 4 && cap < 1_000, "{cap}");
        for entry in 0..1_000 {
            reads.verify.claim(entry, Claimed::Nothing);
        }
        // Unit 0 never answers; every other read does, whole, at once.
        let mut started = Vec::new();
        while let Some(i) = reads.next_to_start() {
            started.push(i);
            reads.attempt(i, Token(i as u64 + 1), 0);
            if i != 0 {
                assert!(reads.arrived(i, Bytes::from(vec![1u8; 4 << 10]), None));
                assert!(!matches!(reads.check_small(i), Verdict::Mismatch(_)));
            }
            assert!(reads.reading_small <= 4);
        }
        assert_eq!(
            started.len(),
            cap,
            "reads went on behind the slow one up to the cap"
        );
        assert_eq!(
            reads.reading_small, 1,
            "only the slow read is still reading"
        );
        assert!(
            reads.take(0, usize::MAX).is_none(),
            "the encoder still waits for it"
        );
    }

    #[test]
    fn a_range_taken_whole_holds_no_room() {
        let plan = Plan {
            entries: vec![PlannedEntry::stored_file("k", 8 << 20)],
            ..Plan::default()
        };
        let tuning = Tuning {
            range_bytes: 1 << 20,
            ..Tuning::default()
        };
        let mut reads = Reads::new(&plan, tuning, None, &Copies::default());
        reads.verify.claim(0, Claimed::Nothing);
        let mut token = 0;
        let mut taken = 0;
        while taken < 8 << 20 {
            while let Some(i) = reads.next_to_start() {
                token += 1;
                reads.attempt(i, Token(token), 0);
                reads.answered(i, 0);
                let len = reads.units[i].len() as usize;
                for chunk in vec![7u8; len].chunks(60 << 10) {
                    assert!(reads.arrived(i, Bytes::copy_from_slice(chunk), None));
                }
            }
            let got = reads.take(0, 256 << 10).expect("arrived");
            taken += got.bytes.len();
        }
        assert_eq!(reads.units.len(), 8);
        for u in &reads.units {
            assert_eq!(u.consumed, u.len());
            assert!(u.flight.is_none(), "a spent range keeps its read's state");
        }
    }
}
