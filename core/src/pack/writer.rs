//! The archive's bytes, in order: entries through the encoder as their data arrives, then
//! cut into parts for the upload or handed out as pieces of a streamed answer.
//!
//! Uploaded archives have no data descriptors: each local header gets its entry's CRC-32
//! (and compressed size) once the entry ends, while the parts holding it wait
//! (`part_splitter.rs`). Streamed bytes leave at once, so a streamed archive keeps them.

use std::collections::VecDeque;

use bytes::Bytes;

use super::copy::{copy_chunks, Copies};
use super::error::PackError;
use super::io::Token;
use super::job::SNIFF_BYTES;
use super::part_splitter::{CopyRange, Part, PartSplitter, TooManyParts};
use super::reads::{Reads, Taken};
use super::verify::PieceCrcs;
use crate::plan::{sniffs_stored, Plan};
use crate::store::checksum::{self, Algorithm};
use crate::zip::{EncodeError, Layout, Method, ZipEncoder};

/// The most of one chunk fed to the encoder at once.
const SLICE_BYTES: u64 = 256 << 10;

pub(crate) enum Output {
    /// Full parts waiting for their upload to start.
    Parts {
        splitter: Option<PartSplitter>,
        ready: VecDeque<Part>,
    },
    /// Pieces for the caller, and those handed out but not yet sent.
    Stream {
        pieces: VecDeque<Bytes>,
        /// The sizes of the pieces handed out and not yet taken, oldest first.
        outstanding: VecDeque<u64>,
    },
}

pub(crate) struct Writer {
    encoder: Option<ZipEncoder>,
    /// The entry being written, and whether its header is out.
    entry: usize,
    open: bool,
    /// The current entry's data bytes still to come.
    remaining: u64,
    pub finished: bool,
    pub bytes_out: u64,
    slice: usize,
    pub out: Output,
    /// Parts: their size and CRC algorithm.
    part_size: u64,
    crc: Option<Algorithm>,
    /// The open entry is copied: the CRC of its head so far (archive's algorithm).
    copying: Option<u64>,
    /// Entries' CRC-32s, for the records written after the pack (`copy.rs`), when
    /// `keep_crc32s`; and the `auto` entries whose sniff chose stored.
    pub crc32s: std::collections::BTreeMap<usize, u32>,
    pub keep_crc32s: bool,
    pub sniffed_stored: std::collections::BTreeSet<usize>,
    /// Parts: bytes from the encoder that wait for room, because the bytes before them
    /// completed a part. A step of [`Writer::pump`] completes at most one part, however
    /// much the encoder gives at once (a deflater's burst can fill two small parts).
    pending: VecDeque<(Bytes, Option<u64>)>,
}

impl Writer {
    /// The entry whose header is next, if the writer is between entries.
    pub fn between_at(&self) -> Option<usize> {
        (!self.open && !self.finished).then_some(self.entry)
    }

    /// Parts of `part_size`, each with its CRC in `crc` if given.
    pub fn parts(part_size: u64, crc: Option<Algorithm>) -> Writer {
        let mut w = Self::new(
            Output::Parts {
                splitter: Some(PartSplitter::new(part_size, crc)),
                ready: VecDeque::new(),
            },
            SLICE_BYTES.min(part_size / 2),
            Layout::Patched,
        );
        (w.part_size, w.crc) = (part_size, crc);
        w
    }

    pub fn stream() -> Writer {
        Self::new(
            Output::Stream {
                pieces: VecDeque::new(),
                outstanding: VecDeque::new(),
            },
            SLICE_BYTES,
            Layout::Descriptors,
        )
    }

    fn new(out: Output, slice: u64, layout: Layout) -> Writer {
        Writer {
            encoder: Some(ZipEncoder::with_layout(layout)),
            entry: 0,
            open: false,
            remaining: 0,
            finished: false,
            bytes_out: 0,
            slice: slice.max(1) as usize,
            out,
            part_size: 0,
            crc: None,
            copying: None,
            crc32s: Default::default(),
            keep_crc32s: false,
            sniffed_stored: Default::default(),
            pending: VecDeque::new(),
        }
    }

    /// Bytes held in parts and pieces (the reads hold the rest).
    pub fn held(&self) -> u64 {
        match &self.out {
            Output::Parts { splitter, ready } => {
                splitter.as_ref().map_or(0, |s| s.allocated() as u64)
                    + ready.iter().map(|p| p.data.len() as u64).sum::<u64>()
                    + self
                        .pending
                        .iter()
                        .map(|(b, _)| b.len() as u64)
                        .sum::<u64>()
            }
            Output::Stream {
                pieces,
                outstanding,
            } => {
                outstanding.iter().sum::<u64>() + pieces.iter().map(|p| p.len() as u64).sum::<u64>()
            }
        }
    }

    /// Part buffers: full ones not yet handed to the upload, and the one filling.
    pub fn part_buffers(&self) -> usize {
        match &self.out {
            Output::Parts { splitter, ready } => {
                ready.iter().filter(|p| p.copy.is_none()).count()
                    + splitter.as_ref().map_or(0, PartSplitter::part_buffers)
            }
            Output::Stream { .. } => 0,
        }
    }

    /// Writes as far as the data that arrived and the room downstream allow: `room` says
    /// whether another slice may go out. Returns credit to grant to windowed reads.
    pub fn pump(
        &mut self,
        plan: &Plan,
        reads: &mut Reads,
        copies: &mut Copies,
        room: impl Fn(&Output) -> bool,
    ) -> Result<Vec<(Token, u64)>, PackError> {
        let mut credits = Vec::new();
        while !self.finished && room(&self.out) {
            if let Some((data, crc)) = self.pending.pop_front() {
                self.push_to_parts(data, crc)?;
                continue;
            }
            let Some(encoder) = self.encoder.as_mut() else {
                // The end records are in, and nothing waits: the last part.
                if let Output::Parts { splitter, ready } = &mut self.out {
                    if let Some(last) = splitter
                        .take()
                        .expect("once")
                        .finish()
                        .map_err(too_many_parts)?
                    {
                        ready.push_back(last);
                    }
                }
                self.finished = true;
                break;
            };
            let Some(entry) = plan.entries.get(self.entry) else {
                let tail = self
                    .encoder
                    .take()
                    .expect("checked")
                    .finish_in_chunks()
                    .map_err(encode_error)?;
                for chunk in tail {
                    self.emit(Bytes::from(chunk), None)?;
                }
                continue;
            };
            if !self.open {
                // Copied, its CRC-32 still being hashed: the header waits for it.
                if copies.pending.contains(&self.entry) {
                    break;
                }
                let mut meta = entry.meta();
                if entry.has_data() && entry.sniff {
                    let n = SNIFF_BYTES.min(entry.size());
                    let Some(head) = reads.peek(self.entry, n) else {
                        break;
                    };
                    if sniffs_stored(&head) {
                        meta = meta.with_method(Method::Stored);
                        self.sniffed_stored.insert(self.entry);
                    }
                }
                let copied = copies.chosen.get(&self.entry).copied();
                // A copied entry's CRC-32 is known, and so is a small stored object's once
                // it is here whole: its header needs no patch.
                let known = match copied {
                    Some(crc32) => Some(crc32),
                    None if meta.method == Method::Stored && entry.has_data() => {
                        reads.whole_crc32(self.entry, entry.size())
                    }
                    None => None,
                };
                let header = match known {
                    Some(crc32) => encoder.start_entry_with_crc(meta, crc32),
                    None => encoder.start_entry(meta),
                }
                .map_err(encode_error)?;
                let copied = copied.is_some();
                if let Output::Parts {
                    splitter: Some(splitter),
                    ..
                } = &mut self.out
                {
                    for patch in encoder.pending_patches() {
                        splitter.hold(patch);
                    }
                    if copied && !copies.seamed.contains(&self.entry) {
                        // Header and head in one part, however long: it must reach the
                        // store's minimum before the copied parts. (After a seam, the
                        // header is in the seam, which is not cut either.)
                        splitter.hold_together();
                    }
                }
                self.copying = copied.then_some(0);
                self.open = true;
                self.remaining = copies.read_len(self.entry, entry.size());
                self.emit(Bytes::from(header), None)?;
                continue;
            }
            if self.remaining > 0 {
                let Some(Taken {
                    bytes: chunk,
                    crcs: PieceCrcs { mut crc, mut crc32 },
                    credit,
                }) = reads.take(self.entry, self.slice)
                else {
                    break;
                };
                credits.extend(credit);
                if let Some((e, algorithm)) = reads.mismatch {
                    return Err(PackError::ChecksumMismatch {
                        what: format!("read `{}`", plan.entries[e].key),
                        algorithm: algorithm.name(),
                    });
                }
                self.remaining -= chunk.len() as u64;
                // Stored bytes go out as read: hashed (if their check did not) for the
                // entry's CRC-32 and the part's CRC in one pass.
                if let (None, true, Some(algorithm)) = (crc, encoder.storing(), self.crc) {
                    let (piece, piece32) = checksum::crc_and_crc32(algorithm, &chunk);
                    (crc, crc32) = (Some(piece), Some(piece32));
                }
                // Stored, the bytes go out as read (with their CRC); deflated, new bytes.
                let written = encoder.write_data_with_crc(&chunk, crc32);
                let (data, mut crc) = match written.map_err(encode_error)? {
                    std::borrow::Cow::Borrowed(_) => (chunk.clone(), crc),
                    // (Held in a part as it is: with no more room than it needs.)
                    std::borrow::Cow::Owned(mut v) => {
                        v.shrink_to_fit();
                        (Bytes::from(v), None)
                    }
                };
                if let (Some(head), Some(algorithm)) = (self.copying.as_mut(), self.crc) {
                    let piece = *crc.get_or_insert_with(|| checksum::crc(algorithm, &data));
                    *head = checksum::combine(algorithm, *head, piece, data.len() as u64);
                }
                self.emit(data, crc)?;
                continue;
            }
            if let Some(head_crc) = self.copying.take() {
                let rest = entry.size() - copies.read_len(self.entry, entry.size());
                encoder
                    .copied_data(rest, copies.chosen[&self.entry])
                    .map_err(encode_error)?;
                self.bytes_out += rest;
                let cut = Cut {
                    entry: self.entry,
                    part_size: self.part_size,
                    crc: self.crc,
                };
                let claimed = reads.verify.claimed(self.entry);
                cut.copy_rest(entry.size(), head_crc, claimed, copies, &mut self.out)?;
            }
            // Folders have no descriptor; files (empty ones too) do.
            if entry.kind != crate::zip::EntryKind::Directory {
                let end = encoder.finish_entry().map_err(encode_error)?;
                if self.keep_crc32s {
                    self.crc32s.insert(self.entry, end.crc32);
                }
                self.emit(Bytes::from(end.bytes), None)?;
                if let Output::Parts {
                    splitter: Some(splitter),
                    ready,
                } = &mut self.out
                {
                    for patch in &end.patches {
                        splitter.patch(patch, |p| ready.push_back(p));
                    }
                }
            }
            // Its checksum's word is spent: claims kept for every entry cost ~80 bytes an
            // object for the whole pack.
            reads.verify.forget(self.entry);
            self.open = false;
            self.entry += 1;
        }
        Ok(credits)
    }
}

/// How a copied entry's rest is cut into parts.
struct Cut {
    entry: usize,
    part_size: u64,
    crc: Option<Algorithm>,
}

impl Cut {
    /// A copied entry's head is out: the rest becomes copied parts.
    fn copy_rest(
        &self,
        size: u64,
        head_crc: u64,
        claimed: Option<&crate::store::checksum::Claimed>,
        copies: &mut Copies,
        out: &mut Output,
    ) -> Result<(), PackError> {
        let e = self.entry;
        let head = copies.read_len(e, size);
        let rest = size - head;
        let tail = copies.tail_len(e);
        copies.copied_bytes += rest;
        let group = self
            .crc
            .and_then(|a| Copies::rest_crc(claimed, a, head_crc, rest))
            .map(|crc| (crc, rest));
        // With the rest's CRC following from the object's, the archive's checksum covers
        // the head read: a changed byte fails the completion. Else nothing checks it. The
        // rest's CRC covers the tail a seam copies too (it comes right after).
        match group {
            Some(_) => copies.verified += 1,
            None => copies.unverified += 1,
        }
        let mut start = head;
        let middle = rest - tail;
        let chunks = match middle {
            0 => Vec::new(),
            _ => copy_chunks(middle, self.part_size, copies.head),
        };
        let ranges = chunks
            .into_iter()
            .enumerate()
            .map(|(i, len)| {
                let range = CopyRange {
                    entry: e,
                    start,
                    end: start + len,
                    group_crc: group.filter(|_| i == 0),
                    known: group.is_some(),
                };
                start += len;
                (range, None)
            })
            .collect();
        if let Output::Parts {
            splitter: Some(splitter),
            ready,
        } = out
        {
            splitter
                .copy(ranges, |p| ready.push_back(p))
                .map_err(too_many_parts)?;
            if tail > 0 {
                splitter.seam(CopyRange {
                    entry: e,
                    start: size - tail,
                    end: size,
                    // The run's CRC rides on its first part: the tail, when it is all of it.
                    group_crc: group.filter(|_| middle == 0),
                    known: group.is_some(),
                });
            }
        }
        Ok(())
    }
}

impl Writer {
    /// Sends bytes on, whose CRC in the parts' algorithm may be `crc`.
    fn emit(&mut self, data: Bytes, crc: Option<u64>) -> Result<(), PackError> {
        if data.is_empty() {
            return Ok(());
        }
        self.bytes_out += data.len() as u64;
        match &mut self.out {
            Output::Parts { .. } if !self.pending.is_empty() => {
                self.pending.push_back((data, crc));
                Ok(())
            }
            Output::Parts { .. } => self.push_to_parts(data, crc),
            Output::Stream { pieces, .. } => {
                pieces.push_back(data);
                Ok(())
            }
        }
    }

    /// Into the filling part, up to the first part it completes; the bytes after that wait
    /// first in `pending`.
    fn push_to_parts(&mut self, data: Bytes, crc: Option<u64>) -> Result<(), PackError> {
        let Output::Parts { splitter, ready } = &mut self.out else {
            unreachable!("only parts wait in `pending`");
        };
        let rest = splitter
            .as_mut()
            .expect("open until finished")
            .push_one(data, crc, |p| ready.push_back(p))
            .map_err(too_many_parts)?;
        if !rest.is_empty() {
            self.pending.push_front((rest, None));
        }
        Ok(())
    }
}

fn too_many_parts(e: TooManyParts) -> PackError {
    PackError::ArchiveTooLarge(e.to_string())
}

/// The reads hand over exactly the listed bytes, so any encoder error is ours.
fn encode_error(e: EncodeError) -> PackError {
    PackError::Internal(e.to_string())
}
