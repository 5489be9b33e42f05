//! Cuts the archive byte stream into multipart-upload parts of a fixed size, and keeps
//! each part's CRC: combined from its pieces' CRCs where they are known (bytes hashed once
//! for their object's check), hashed where not (headers, compressed data, a piece a part
//! boundary cuts).
//!
//! A part holding header bytes still to be patched (the CRC-32 of an entry whose data is
//! still coming) waits, and goes out once they are written: parts may be uploaded in any
//! order, so the archive needs no data descriptors. A part is never cut among the header
//! fields still to be patched (it runs on to their end), so one part at most waits.
//!
//! A copied range (`copy.rs`) ends the part filling, however short (the writer makes sure
//! it holds at least the store's minimum), and becomes parts of its own. A seam
//! (`seams.rs`) is a part that starts with a copied range and goes on with the bytes
//! pushed until the next copy.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::rope::Rope;
use crate::plan::{MAX_PARTS, MAX_PART_SIZE};
use crate::store::checksum::{self, Algorithm};
use crate::zip::Patch;

/// A part ready to upload. Numbers start at 1, as the APIs require.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    /// Where it starts in the archive.
    pub start: u64,
    /// Its bytes; empty for a copied part.
    pub data: Rope,
    /// Its CRC in the splitter's algorithm, if it has one (a copied part's, if known).
    pub crc: Option<u64>,
    /// The object range the store copies into it instead of `data`.
    pub copy: Option<CopyRange>,
    /// A seam: the object range the part starts with, before `data` (whose CRC is `crc`).
    pub seam: Option<CopyRange>,
}

/// Bytes `start..end` of entry `entry`'s object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRange {
    pub entry: usize,
    pub start: u64,
    pub end: u64,
    /// The CRC (and length) of all the copied parts of this entry, known from its
    /// object's, held by the first of them; `known` marks every one of them.
    pub group_crc: Option<(u64, u64)>,
    pub known: bool,
}

impl CopyRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl Part {
    pub fn len(&self) -> u64 {
        match &self.copy {
            Some(c) => c.end - c.start,
            None => self.data_start() - self.start + self.data.len() as u64,
        }
    }

    /// Where `data` starts in the archive (after a seam's copied range).
    pub fn data_start(&self) -> u64 {
        self.start + self.seam.as_ref().map_or(0, CopyRange::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the archive outgrew 10,000 parts of {part_size} bytes")]
pub struct TooManyParts {
    pub part_size: u64,
}

/// Buffers at most one part; full parts are handed out as soon as they fill.
pub struct PartSplitter {
    part_size: usize,
    buf: Rope,
    /// Where `buf` starts in the archive.
    buf_start: u64,
    /// Until the next copy, the part filling is not cut (it must hold a copied entry's
    /// header and head in one part, or it is a seam).
    uncut: bool,
    /// The part filling is a seam starting with this copied range (`buf` follows it).
    seam: Option<CopyRange>,
    next_number: u32,
    /// The parts' checksum algorithm (a CRC), and the CRC of `buf` so far.
    crc: Option<Algorithm>,
    buf_crc: u64,
    /// Archive ranges `[start, end)` still to be patched.
    unresolved: Vec<(u64, u64)>,
    /// Full parts waiting for a patch, by number.
    held: BTreeMap<u32, Part>,
}

impl PartSplitter {
    pub fn new(part_size: u64, crc: Option<Algorithm>) -> Self {
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX).max(1);
        PartSplitter {
            part_size,
            buf: Rope::new(),
            buf_start: 0,
            uncut: false,
            seam: None,
            next_number: 1,
            crc,
            buf_crc: 0,
            unresolved: Vec::new(),
            held: BTreeMap::new(),
        }
    }

    /// `patch`'s bytes (zeros so far) will be written later: the parts holding them wait.
    /// Must come before the bytes are pushed.
    pub fn hold(&mut self, patch: &Patch) {
        self.unresolved
            .push((patch.offset, patch.offset + patch.bytes.len() as u64));
    }

    /// Writes a held patch over its zeros, in held parts and in the part filling, and
    /// hands out the parts that no longer wait.
    pub fn patch(&mut self, patch: &Patch, mut emit: impl FnMut(Part)) {
        let range = (patch.offset, patch.offset + patch.bytes.len() as u64);
        self.unresolved.retain(|r| *r != range);
        for part in self.held.values_mut() {
            let start = part.data_start();
            let len = part.data.len() as u64;
            part.crc = patched_crc(self.crc, part.crc, patch, start, len);
            part.data.patch(patch, start);
        }
        let start = self.buf_start;
        let len = self.buf.len() as u64;
        if let Some(crc) = patched_crc(self.crc, Some(self.buf_crc), patch, start, len) {
            self.buf_crc = crc;
        }
        self.buf.patch(patch, start);
        let free: Vec<u32> = self
            .held
            .keys()
            .copied()
            .filter(|n| !self.waits(&self.held[n]))
            .collect();
        for number in free {
            emit(self.held.remove(&number).expect("held"));
        }
    }

    /// Bytes of full parts waiting for a patch.
    pub fn held_bytes(&self) -> usize {
        self.held.values().map(|p| p.data.len()).sum()
    }

    /// Whether `part` holds bytes still to be patched.
    fn waits(&self, part: &Part) -> bool {
        let start = part.data_start();
        let end = start + part.data.len() as u64;
        self.unresolved.iter().any(|&(a, b)| a < end && start < b)
    }

    /// The part filling is not cut before the next [`Self::copy`].
    pub fn hold_together(&mut self) {
        self.uncut = true;
    }

    /// Ends the part filling and adds parts the store copies from `ranges` (in order, each
    /// with its CRC if known), which follow it in the archive.
    pub fn copy(
        &mut self,
        ranges: Vec<(CopyRange, Option<u64>)>,
        mut emit: impl FnMut(Part),
    ) -> Result<(), TooManyParts> {
        self.uncut = false;
        if !self.buf.is_empty() || self.seam.is_some() {
            self.cut(&mut emit)?;
        }
        for (range, crc) in ranges {
            let len = range.len();
            let part = self.numbered(Rope::new(), crc, Some(range), None)?;
            self.buf_start += len;
            emit(part);
        }
        Ok(())
    }

    /// Starts a seam after the copied parts: a part that begins with `tail` (copied) and
    /// holds the bytes pushed until the next [`Self::copy`], uncut.
    pub fn seam(&mut self, tail: CopyRange) {
        debug_assert!(self.buf.is_empty() && self.seam.is_none());
        self.buf_start += tail.len();
        self.seam = Some(tail);
        self.uncut = true;
    }

    fn cut(&mut self, emit: &mut impl FnMut(Part)) -> Result<(), TooManyParts> {
        let part = self.take_part()?;
        match self.waits(&part) {
            true => drop(self.held.insert(part.number, part)),
            false => emit(part),
        }
        Ok(())
    }

    /// Appends bytes, whose CRC may be `known`; calls `emit` with every part this completes.
    /// The bytes go into the part as they are (a part boundary slices them), not copied.
    pub fn push(
        &mut self,
        mut data: Bytes,
        known: Option<u64>,
        mut emit: impl FnMut(Part),
    ) -> Result<(), TooManyParts> {
        let mut known = known;
        while !data.is_empty() {
            data = self.push_one(data, known.take(), &mut emit)?;
        }
        Ok(())
    }

    /// As [`Self::push`], but stops at the first part it completes and gives back the
    /// bytes it did not take (their CRC is not known).
    pub fn push_one(
        &mut self,
        mut data: Bytes,
        known: Option<u64>,
        mut emit: impl FnMut(Part),
    ) -> Result<Bytes, TooManyParts> {
        let mut known = known;
        while !data.is_empty() {
            let cut = self.cut_at();
            let take = match self.uncut {
                true => data.len(),
                false => (cut - self.buf.len().min(cut)).min(data.len()),
            };
            let piece = data.split_to(take);
            if let Some(algorithm) = self.crc {
                // The known CRC is of all of `data`: usable only if it all goes in here.
                let crc = match known {
                    Some(crc) if data.is_empty() => crc,
                    _ => checksum::crc(algorithm, &piece),
                };
                self.buf_crc = checksum::combine(algorithm, self.buf_crc, crc, take as u64);
            }
            self.buf.push(piece);
            known = None;
            if self.buf.len() >= cut && !self.uncut {
                self.cut(&mut emit)?;
                return Ok(data);
            }
        }
        Ok(data)
    }

    /// The last, possibly short, part; `None` if every byte is already in a part. Every
    /// patch must have been written (no part waits).
    pub fn finish(mut self) -> Result<Option<Part>, TooManyParts> {
        debug_assert!(self.unresolved.is_empty() && self.held.is_empty());
        if self.buf.is_empty() && self.seam.is_none() {
            return Ok(None);
        }
        self.take_part().map(Some)
    }

    /// Where the part filling is cut (from its start): at the part size, or just past the
    /// open entry's header fields still to be patched if the part size falls among them, so
    /// that they wait in one part, never two.
    fn cut_at(&self) -> usize {
        let cut = self.buf_start + self.part_size as u64;
        let starts_before = self.unresolved.iter().any(|&(a, _)| a < cut);
        match self.unresolved.iter().map(|&(_, b)| b).max() {
            // (Unless that outgrows the stores' largest part.)
            Some(end) if starts_before && end > cut && end - self.buf_start <= MAX_PART_SIZE => {
                usize::try_from(end - self.buf_start).unwrap_or(usize::MAX)
            }
            _ => self.part_size,
        }
    }

    /// Bytes held: the part filling and the full parts waiting for a patch. What the
    /// reservation must cover.
    pub fn allocated(&self) -> usize {
        self.buf.len() + self.held_bytes()
    }

    /// Parts here: waiting for a patch, and filling.
    pub fn part_buffers(&self) -> usize {
        self.held.len() + usize::from(!self.buf.is_empty())
    }

    /// Bytes waiting to fill the next part.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Parts handed out so far.
    pub fn parts(&self) -> u32 {
        self.next_number - 1
    }

    fn take_part(&mut self) -> Result<Part, TooManyParts> {
        let data = std::mem::take(&mut self.buf);
        let crc = self.crc.map(|_| std::mem::take(&mut self.buf_crc));
        let len = data.len() as u64;
        let seam = self.seam.take();
        let part = self.numbered(data, crc, None, seam)?;
        self.buf_start += len;
        Ok(part)
    }

    /// The next number for a part starting where `buf` does.
    fn numbered(
        &mut self,
        data: Rope,
        crc: Option<u64>,
        copy: Option<CopyRange>,
        seam: Option<CopyRange>,
    ) -> Result<Part, TooManyParts> {
        if u64::from(self.next_number) > MAX_PARTS {
            return Err(TooManyParts {
                part_size: self.part_size as u64,
            });
        }
        let part = Part {
            number: self.next_number,
            start: self.buf_start - seam.as_ref().map_or(0, CopyRange::len),
            data,
            crc,
            copy,
            seam,
        };
        self.next_number += 1;
        Ok(part)
    }
}

/// The CRC of the bytes `[start, start + len)` after `patch` writes over zeros in them.
fn patched_crc(
    algorithm: Option<Algorithm>,
    crc: Option<u64>,
    patch: &Patch,
    start: u64,
    len: u64,
) -> Option<u64> {
    let (algorithm, crc) = (algorithm?, crc?);
    let (a, b) = (patch.offset, patch.offset + patch.bytes.len() as u64);
    let (from, to) = (a.max(start), b.min(start + len));
    if from >= to {
        return Some(crc);
    }
    let new = &patch.bytes[(from - a) as usize..(to - a) as usize];
    Some(checksum::patch_zeros(algorithm, crc, new, start + len - to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_exact_parts_and_a_short_tail() {
        let mut s = PartSplitter::new(4, None);
        let mut parts = Vec::new();
        s.push(Bytes::from_static(b"abcdefghij"), None, |p| parts.push(p))
            .unwrap();
        s.push(Bytes::from_static(b"k"), None, |p| parts.push(p))
            .unwrap();
        parts.extend(s.finish().unwrap());
        let got: Vec<(u32, Vec<u8>)> = parts.iter().map(|p| (p.number, p.data.to_vec())).collect();
        let want = [(1, &b"abcd"[..]), (2, b"efgh"), (3, b"ijk")].map(|(n, b)| (n, b.to_vec()));
        assert_eq!(got, want);
    }

    #[test]
    fn no_empty_tail_after_an_exact_fill() {
        let mut s = PartSplitter::new(2, None);
        let mut n = 0;
        s.push(Bytes::from_static(b"abcd"), None, |_| n += 1)
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(s.finish().unwrap(), None);
    }

    #[test]
    fn each_part_has_the_crc_of_its_bytes_known_pieces_or_not() {
        let nvme = Algorithm::Crc64Nvme;
        let mut s = PartSplitter::new(8, Some(nvme));
        let mut parts = Vec::new();
        // A piece whose CRC is known and fits; one cut by a boundary; one hashed here.
        s.push(
            Bytes::from_static(b"abc"),
            Some(checksum::crc(nvme, b"abc")),
            |p| parts.push(p),
        )
        .unwrap();
        s.push(
            Bytes::from_static(b"defghijk"),
            Some(checksum::crc(nvme, b"defghijk")),
            |p| parts.push(p),
        )
        .unwrap();
        s.push(Bytes::from_static(b"lmn"), None, |p| parts.push(p))
            .unwrap();
        parts.extend(s.finish().unwrap());
        for p in &parts {
            assert_eq!(
                p.crc,
                Some(checksum::crc(nvme, &p.data.to_vec())),
                "part {}",
                p.number
            );
        }
        assert_eq!(parts.len(), 2);
        // A wrong known CRC goes into the part's: the store would refuse the part.
        let mut s = PartSplitter::new(8, Some(nvme));
        s.push(Bytes::from_static(b"abc"), Some(1), |_| {}).unwrap();
        let part = s.finish().unwrap().unwrap();
        assert_ne!(part.crc, Some(checksum::crc(nvme, b"abc")));
    }

    #[test]
    fn a_part_with_bytes_to_patch_waits_for_them_with_its_crc_kept_right() {
        let nvme = Algorithm::Crc64Nvme;
        let mut s = PartSplitter::new(4, Some(nvme));
        let mut out = Vec::new();
        // Zeros at 2..5 would straddle parts 1 and 2: part 1 runs on to 5 and waits alone
        // (filled in after part 3 is cut).
        let later = Patch {
            offset: 2,
            bytes: b"XYZ".to_vec(),
        };
        s.hold(&Patch {
            offset: 2,
            bytes: vec![0; 3],
        });
        s.push(Bytes::from_static(b"ab\0\0\0fghijkl"), None, |p| {
            out.push(p)
        })
        .unwrap();
        let numbers: Vec<u32> = out.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [2], "part 1 waits");
        assert_eq!(s.held_bytes(), 5);
        s.push(Bytes::from_static(b"mn"), None, |p| out.push(p))
            .unwrap();
        s.patch(&later, |p| out.push(p));
        out.extend(s.finish().unwrap());
        out.sort_by_key(|p| p.number);
        let all: Vec<u8> = out.iter().flat_map(|p| p.data.to_vec()).collect();
        assert_eq!(all, b"abXYZfghijklmn");
        let lens: Vec<usize> = out.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [5, 4, 4, 1]);
        for p in &out {
            assert_eq!(
                p.crc,
                Some(checksum::crc(nvme, &p.data.to_vec())),
                "part {}",
                p.number
            );
        }
        // A patch landing in the part still filling.
        let mut s = PartSplitter::new(8, Some(nvme));
        let zeros = Patch {
            offset: 1,
            bytes: vec![0; 2],
        };
        s.hold(&zeros);
        s.push(Bytes::from_static(b"a\0\0d"), None, |_| {}).unwrap();
        s.patch(
            &Patch {
                offset: 1,
                bytes: b"bc".to_vec(),
            },
            |_| {},
        );
        let last = s.finish().unwrap().unwrap();
        assert_eq!(last.data.to_vec(), b"abcd");
        assert_eq!(last.crc, Some(checksum::crc(nvme, b"abcd")));
    }

    #[test]
    fn header_fields_to_patch_on_both_sides_of_a_cut_keep_one_part_waiting() {
        let zeros = |offset, n| Patch {
            offset,
            bytes: vec![0; n],
        };
        // A CRC field at 1..3 and a ZIP64 size at 6..8, a long name between, parts of 4.
        let mut s = PartSplitter::new(4, None);
        let mut out = Vec::new();
        s.hold(&zeros(1, 2));
        s.hold(&zeros(6, 2));
        s.push(Bytes::from_static(b"h\0\0nam\0\0data-data"), None, |p| {
            out.push(p)
        })
        .unwrap();
        assert_eq!(
            s.held_bytes(),
            8,
            "one part, run on to the second field's end"
        );
        let emitted: Vec<(u32, u64, usize)> = out
            .iter()
            .map(|p| (p.number, p.start, p.data.len()))
            .collect();
        assert_eq!(emitted, [(2, 8, 4), (3, 12, 4)]);
        // Fields inside one part do not stretch it.
        let mut s = PartSplitter::new(4, None);
        let mut out = Vec::new();
        s.hold(&zeros(1, 2));
        s.push(Bytes::from_static(b"h\0\0xyz"), None, |p| out.push(p))
            .unwrap();
        assert_eq!((s.held_bytes(), out.len(), s.buffered()), (4, 0, 2));
    }

    #[test]
    fn a_seam_is_a_copied_tail_and_the_bytes_up_to_the_next_copy() {
        let nvme = Algorithm::Crc64Nvme;
        let range = |entry, start, end| CopyRange {
            entry,
            start,
            end,
            group_crc: None,
            known: false,
        };
        let mut s = PartSplitter::new(4, Some(nvme));
        let mut parts = Vec::new();
        s.hold_together();
        s.push(Bytes::from_static(b"ab"), None, |p| parts.push(p))
            .unwrap();
        s.copy(vec![(range(0, 2, 12), None)], |p| parts.push(p))
            .unwrap();
        s.seam(range(0, 12, 18));
        // Longer than a part, yet not cut: a seam ends only at the next copy.
        s.push(Bytes::from_static(b"header"), None, |p| parts.push(p))
            .unwrap();
        assert_eq!(parts.len(), 2);
        s.copy(vec![(range(1, 0, 9), None)], |p| parts.push(p))
            .unwrap();
        s.push(Bytes::from_static(b"end"), None, |p| parts.push(p))
            .unwrap();
        parts.extend(s.finish().unwrap());
        let got: Vec<(u32, u64, u64)> =
            parts.iter().map(|p| (p.number, p.start, p.len())).collect();
        assert_eq!(
            got,
            [(1, 0, 2), (2, 2, 10), (3, 12, 12), (4, 24, 9), (5, 33, 3)]
        );
        let seam = &parts[2];
        assert_eq!(seam.seam, Some(range(0, 12, 18)));
        assert_eq!(
            (seam.data_start(), seam.data.to_vec()),
            (18, b"header".to_vec())
        );
        // Its CRC is its bytes' alone: the tail's comes from the store.
        assert_eq!(seam.crc, Some(checksum::crc(nvme, b"header")));
    }

    #[test]
    fn refuses_the_ten_thousand_and_first_part() {
        let mut s = PartSplitter::new(1, None);
        let err = s
            .push(Bytes::from(vec![0u8; 10_001]), None, |_| {})
            .unwrap_err();
        assert_eq!(err, TooManyParts { part_size: 1 });
    }

    #[test]
    fn pushed_bytes_go_into_parts_uncopied_even_across_a_cut() {
        let big = Bytes::from(vec![9u8; 48 << 10]);
        let mut s = PartSplitter::new(32 << 10, None);
        let mut out = Vec::new();
        s.push(big.clone(), None, |p| out.push(p)).unwrap();
        // What fills the next part is held, counted by its length.
        assert_eq!((s.allocated(), s.part_buffers()), (16 << 10, 1));
        out.extend(s.finish().unwrap());
        let firsts: Vec<*const u8> = out
            .iter()
            .map(|p| p.data.pieces().next().unwrap().as_ptr())
            .collect();
        assert_eq!(firsts, [big.as_ptr(), big[32 << 10..].as_ptr()]);
        assert_eq!((out[0].data.len(), out[1].data.len()), (32 << 10, 16 << 10));
    }
}
