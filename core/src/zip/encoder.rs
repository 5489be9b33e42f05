//! The streaming encoder: entries in, archive bytes out, no I/O.
//!
//! The driver asks for each record's bytes and hands each chunk of entry data through
//! [`ZipEncoder::write_data`]: stored data comes back borrowed (no copy on the way to
//! the upload), deflated data comes back compressed.
//!
//! Two layouts ([`Layout`]): with data descriptors (the CRC-32 and sizes follow each file's
//! data, for bytes that leave at once), or patched: the local header carries them, written
//! as zeros and filled in by the [`Patch`]es the entry's end returns — for an archive whose
//! parts can wait for their headers (multipart uploads take parts in any order), so readers
//! that go front to back without the central directory can read it.

use std::borrow::Cow;

use crate::store::checksum::{self, Algorithm};
use flate2::{Compress, Compression, FlushCompress};

use super::central_bytes::CentralBytes;
use super::central_directory::{central_header, Written};
use super::data_descriptor::data_descriptor;
use super::end_of_central_directory::end_records;
use super::local_header::{local_header, CRC_OFFSET};
use super::name_encoding::{EncodedName, NameEncoding};
use super::{
    DosDateTime, FLAG_UTF8, VERSION_DEFAULT, VERSION_STORED, VERSION_ZIP64, ZIP64_THRESHOLD,
};

/// Where each file's CRC-32 and sizes go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// In a data descriptor after its data (general-purpose bit 3).
    #[default]
    Descriptors,
    /// In its local header, patched once known.
    Patched,
}

/// Bytes to write over zeros already emitted, at `offset` from the archive's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Patch {
    /// Applies the patch to `buf`, which holds the archive's bytes from `buf_start` on;
    /// the part of it outside `buf` is left to other buffers.
    pub fn apply(&self, buf: &mut [u8], buf_start: u64) {
        let (start, end) = (self.offset, self.offset + self.bytes.len() as u64);
        let from = start.max(buf_start);
        let to = end.min(buf_start + buf.len() as u64);
        if from < to {
            buf[(from - buf_start) as usize..(to - buf_start) as usize]
                .copy_from_slice(&self.bytes[(from - start) as usize..(to - start) as usize]);
        }
    }
}

/// What ending a file gives: the bytes to emit (the rest of its compressed data, and its
/// descriptor) and, patched, what to write into its local header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryEnd {
    pub bytes: Vec<u8>,
    pub patches: Vec<Patch>,
    /// The file's CRC-32 (0 for a folder).
    pub crc32: u32,
}

/// What an entry is; a file's size is known in advance from the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File { size: u64 },
    Directory,
}

/// How an entry's data is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Stored,
    /// Raw deflate at a level from 0 (fastest) to 9 (smallest).
    Deflate {
        level: u32,
    },
}

impl Method {
    pub(crate) fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflate { .. } => 8,
        }
    }
}

/// Everything the headers say about one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// The name as stored (folders end in `/`).
    pub name: EncodedName,
    pub kind: EntryKind,
    /// Folders are always stored.
    pub method: Method,
    pub mtime: DosDateTime,
    /// Modification time as unix seconds, for the extended-timestamp field.
    pub mtime_unix: Option<i64>,
}

impl EntryMeta {
    /// A stored file or folder with a UTF-8 name.
    pub fn new(name: &str, kind: EntryKind, mtime_unix: Option<i64>) -> Self {
        Self::named(EncodedName::new(name, NameEncoding::Utf8), kind, mtime_unix)
    }

    /// A stored file or folder with its name already encoded.
    pub fn named(name: EncodedName, kind: EntryKind, mtime_unix: Option<i64>) -> Self {
        EntryMeta {
            name,
            kind,
            method: Method::Stored,
            mtime: mtime_unix.map_or(DosDateTime::EPOCH, DosDateTime::from_unix),
            mtime_unix,
        }
    }

    /// Stores the name in `encoding` (see [`EncodedName`]).
    pub fn with_name_encoding(mut self, name: &str, encoding: NameEncoding) -> Self {
        self.name = EncodedName::new(name, encoding);
        self
    }

    /// Compresses a file's data with `method`; folders stay stored.
    pub fn with_method(mut self, method: Method) -> Self {
        if self.is_file() {
            self.method = method;
        }
        self
    }

    pub(crate) fn is_file(&self) -> bool {
        matches!(self.kind, EntryKind::File { .. })
    }

    pub(crate) fn declared_size(&self) -> u64 {
        match self.kind {
            EntryKind::File { size } => size,
            EntryKind::Directory => 0,
        }
    }

    pub(crate) fn flags(&self) -> u16 {
        if self.name.utf8_flag {
            FLAG_UTF8
        } else {
            0
        }
    }

    /// Whether the sizes may not fit 32 bits: decided from the listed size before any data,
    /// with room for deflate's worst-case growth (5 bytes per 64 KiB stored block).
    pub(crate) fn zip64_sizes(&self) -> bool {
        let size = self.declared_size();
        let worst = match self.method {
            Method::Stored => size,
            Method::Deflate { .. } => size + size / 1024 + 64,
        };
        worst >= ZIP64_THRESHOLD
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("entry name is empty or longer than 65535 bytes")]
    BadName,
    #[error("an entry is still open")]
    EntryOpen,
    #[error("no entry is open")]
    NoEntryOpen,
    #[error("object size changed while packing: listed {declared} bytes, read {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("compression failed: {0}")]
    Compression(String),
}

struct Open {
    meta: EntryMeta,
    local_offset: u64,
    /// Where the header's zeros to patch are (patched layout).
    pending: Vec<Patch>,
    version_needed: u16,
    /// The CRC-32 of the data taken so far.
    crc: u32,
    /// Uncompressed bytes taken so far.
    written: u64,
    /// Bytes emitted as the entry's data so far.
    compressed: u64,
    deflate: Option<Compress>,
    /// Deflate input not yet a whole block.
    unblocked: Vec<u8>,
    /// The CRC-32 of the whole data, when some of it was never seen ([`ZipEncoder::copied_data`]).
    known_crc: Option<u32>,
}

/// Deflate input is compressed in blocks of exactly this size: miniz_oxide's output
/// depends on where its input is cut (its matcher sees less lookahead at a cut), so
/// fixed blocks make the archive a function of the content alone, however it arrived.
const DEFLATE_BLOCK: usize = 32 << 10;

/// Produces a ZIP archive one record at a time.
#[derive(Default)]
pub struct ZipEncoder {
    layout: Layout,
    offset: u64,
    entries: u64,
    central: CentralBytes,
    open: Option<Open>,
}

impl ZipEncoder {
    /// With data descriptors.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_layout(layout: Layout) -> Self {
        ZipEncoder {
            layout,
            ..Self::default()
        }
    }

    /// The open file's header bytes its end will patch (zeros until then), as patches
    /// of the right length holding zeros; none with descriptors.
    pub fn pending_patches(&self) -> &[Patch] {
        self.open.as_ref().map_or(&[], |o| &o.pending)
    }

    /// Bytes emitted so far (records plus entry data).
    pub fn bytes_out(&self) -> u64 {
        self.offset
    }

    /// Entries started so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Starts an entry and returns its local header. A folder is complete at once;
    /// a file takes its data through [`Self::write_data`] and ends with [`Self::finish_entry`].
    pub fn start_entry(&mut self, meta: EntryMeta) -> Result<Vec<u8>, EncodeError> {
        if self.open.is_some() {
            return Err(EncodeError::EntryOpen);
        }
        if meta.name.bytes.is_empty() || meta.name.bytes.len() > usize::from(u16::MAX) - 1024 {
            return Err(EncodeError::BadName);
        }
        let local_offset = self.offset;
        let zip64 = meta.zip64_sizes();
        let deflated = matches!(meta.method, Method::Deflate { .. });
        let version_needed = match self.layout {
            _ if zip64 || local_offset >= ZIP64_THRESHOLD => VERSION_ZIP64,
            Layout::Patched if !deflated => VERSION_STORED,
            _ => VERSION_DEFAULT,
        };
        let header = local_header(&meta, zip64, version_needed, self.layout);
        // The zeros to patch: the CRC; a deflated file's compressed size (32-bit, or in the
        // ZIP64 extra, first among the extras: after its tag, length and the 8-byte size).
        let mut pending = Vec::new();
        if self.layout == Layout::Patched && meta.is_file() {
            let at = |offset: u64, len: usize| Patch {
                offset: local_offset + offset,
                bytes: vec![0; len],
            };
            pending.push(at(CRC_OFFSET, 4));
            if deflated && zip64 {
                pending.push(at(30 + meta.name.bytes.len() as u64 + 4 + 8, 8));
            } else if deflated {
                pending.push(at(CRC_OFFSET + 4, 4));
            }
        }
        self.offset += header.len() as u64;
        self.entries += 1;
        if meta.is_file() {
            let deflate = match meta.method {
                Method::Stored => None,
                Method::Deflate { level } => {
                    Some(Compress::new(Compression::new(level.min(9)), false))
                }
            };
            self.open = Some(Open {
                meta,
                local_offset,
                pending,
                version_needed,
                crc: 0,
                written: 0,
                compressed: 0,
                deflate,
                unblocked: Vec::new(),
                known_crc: None,
            });
        } else {
            let w = Written {
                crc32: 0,
                size: 0,
                compressed: 0,
                local_offset,
                version_needed,
                descriptor: false,
            };
            self.central.push(&central_header(&meta, &w));
        }
        Ok(header)
    }

    /// [`Self::start_entry`] for a stored file whose CRC-32 is known before its data (a
    /// copied object's, `copy.rs`, or a small one read whole): the local header carries
    /// it at once, so no part waits for a patch, and the data is not hashed for it.
    pub fn start_entry_with_crc(
        &mut self,
        meta: EntryMeta,
        crc32: u32,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut header = self.start_entry(meta)?;
        if let Some(open) = self.open.as_mut().filter(|o| o.deflate.is_none()) {
            if let Some(at) = open
                .pending
                .iter()
                .position(|p| p.offset == open.local_offset + CRC_OFFSET)
            {
                let mut patch = open.pending.remove(at);
                patch.bytes = crc32.to_le_bytes().to_vec();
                patch.apply(&mut header, open.local_offset);
            }
            open.known_crc = Some(crc32);
        }
        Ok(header)
    }

    /// Whether the open file's data goes out as taken (stored).
    pub fn storing(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.deflate.is_none())
    }

    /// Takes a chunk of the open file's data; returns the bytes to emit for it: the chunk
    /// itself when stored, its compressed form (possibly empty) when deflated.
    pub fn write_data<'a>(&mut self, data: &'a [u8]) -> Result<Cow<'a, [u8]>, EncodeError> {
        self.write_data_with_crc(data, None)
    }

    /// [`Self::write_data`] for a chunk whose CRC-32 may already be known (hashed in one
    /// pass with the store's CRC, `checksum::crc_and_crc32`), so it is not hashed again.
    pub fn write_data_with_crc<'a>(
        &mut self,
        data: &'a [u8],
        crc32: Option<u32>,
    ) -> Result<Cow<'a, [u8]>, EncodeError> {
        let open = self.open.as_mut().ok_or(EncodeError::NoEntryOpen)?;
        let declared = open.meta.declared_size();
        let actual = open.written + data.len() as u64;
        if actual > declared {
            return Err(EncodeError::SizeMismatch { declared, actual });
        }
        open.crc = match (open.known_crc, crc32) {
            // Known already (copied, or the whole object came hashed): not worked out again.
            (Some(_), _) => 0,
            (None, Some(piece)) => checksum::combine(
                Algorithm::Crc32,
                u64::from(open.crc),
                u64::from(piece),
                data.len() as u64,
            ) as u32,
            (None, None) => {
                let mut h = crc32fast::Hasher::new_with_initial(open.crc);
                h.update(data);
                h.finalize()
            }
        };
        open.written = actual;
        let out = match open.deflate.as_mut() {
            None => Cow::Borrowed(data),
            Some(z) => {
                let mut out = Vec::new();
                let mut data = data;
                if !open.unblocked.is_empty() {
                    let take = (DEFLATE_BLOCK - open.unblocked.len()).min(data.len());
                    open.unblocked.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if open.unblocked.len() == DEFLATE_BLOCK {
                        out.extend(deflate(z, &open.unblocked, FlushCompress::None)?);
                        open.unblocked.clear();
                    }
                }
                while data.len() >= DEFLATE_BLOCK {
                    out.extend(deflate(z, &data[..DEFLATE_BLOCK], FlushCompress::None)?);
                    data = &data[DEFLATE_BLOCK..];
                }
                open.unblocked.extend_from_slice(data);
                Cow::Owned(out)
            }
        };
        open.compressed += out.len() as u64;
        self.offset += out.len() as u64;
        Ok(out)
    }

    /// Size-only counterpart of [`Self::write_data`], for computing sizes without data.
    pub(crate) fn skip_data(&mut self, len: u64) {
        if let Some(open) = self.open.as_mut() {
            open.written += len;
            open.compressed += len;
        }
        self.offset += len;
    }

    /// The rest of a stored file's data (`len` bytes) goes into the archive without passing
    /// through here (the store copies it); `crc32` is the whole file's.
    pub fn copied_data(&mut self, len: u64, crc32: u32) -> Result<(), EncodeError> {
        let open = self.open.as_mut().ok_or(EncodeError::NoEntryOpen)?;
        if open.deflate.is_some() {
            return Err(EncodeError::Compression(
                "a deflated entry cannot be copied".into(),
            ));
        }
        let declared = open.meta.declared_size();
        let actual = open.written + len;
        if actual > declared {
            return Err(EncodeError::SizeMismatch { declared, actual });
        }
        open.known_crc = Some(crc32);
        self.skip_data(len);
        Ok(())
    }

    /// Ends the open file; returns what is left of its compressed data (if deflated) and
    /// its data descriptor, or (patched) what to write into its local header.
    pub fn finish_entry(&mut self) -> Result<EntryEnd, EncodeError> {
        let mut open = self.open.take().ok_or(EncodeError::NoEntryOpen)?;
        let declared = open.meta.declared_size();
        if open.written != declared {
            return Err(EncodeError::SizeMismatch {
                declared,
                actual: open.written,
            });
        }
        let mut out = match open.deflate.as_mut() {
            Some(z) => deflate(
                z,
                &std::mem::take(&mut open.unblocked),
                FlushCompress::Finish,
            )?,
            None => Vec::new(),
        };
        open.compressed += out.len() as u64;
        let zip64 = open.meta.zip64_sizes();
        if !zip64 && open.compressed >= ZIP64_THRESHOLD {
            return Err(EncodeError::Compression(
                "compressed data outgrew 4 GiB".into(),
            ));
        }
        let crc32 = open.known_crc.unwrap_or(open.crc);
        let descriptor = self.layout == Layout::Descriptors;
        if descriptor {
            out.extend(data_descriptor(crc32, open.compressed, open.written, zip64));
        }
        self.offset += out.len() as u64;
        // The pending zeros, in order: the CRC, then (deflated) the compressed size.
        let mut patches = open.pending;
        if let Some(crc) = patches.first_mut() {
            crc.bytes = crc32.to_le_bytes().to_vec();
        }
        if let Some(size) = patches.get_mut(1) {
            size.bytes = match size.bytes.len() {
                8 => open.compressed.to_le_bytes().to_vec(),
                _ => (open.compressed as u32).to_le_bytes().to_vec(),
            };
        }
        let w = Written {
            crc32,
            size: open.written,
            compressed: open.compressed,
            local_offset: open.local_offset,
            version_needed: open.version_needed,
            descriptor,
        };
        self.central.push(&central_header(&open.meta, &w));
        Ok(EntryEnd {
            bytes: out,
            patches,
            crc32,
        })
    }

    /// Central directory bytes so far.
    pub(crate) fn central_len(&self) -> u64 {
        self.central.len()
    }

    /// An encoder that keeps no central directory, only its size: for predicting sizes.
    pub(crate) fn counting(layout: Layout) -> Self {
        ZipEncoder {
            layout,
            central: CentralBytes::counting(),
            ..Self::default()
        }
    }

    /// Ends the archive: central directory and end records.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.finish_in_chunks()?.concat())
    }

    /// [`Self::finish`] as the chunks the central directory was kept in, the end records
    /// last: never one buffer of the whole directory.
    pub fn finish_in_chunks(mut self) -> Result<Vec<Vec<u8>>, EncodeError> {
        if self.open.is_some() {
            return Err(EncodeError::EntryOpen);
        }
        let cd_offset = self.offset;
        let cd_size = self.central.len();
        let end = end_records(self.entries, cd_offset, cd_size);
        self.offset += cd_size + end.len() as u64;
        let mut chunks = self.central.into_chunks();
        chunks.push(end);
        Ok(chunks)
    }
}

/// Runs `input` through the compressor until all of it is taken (and, when finishing,
/// until the stream is complete); returns the compressed bytes produced.
fn deflate(z: &mut Compress, input: &[u8], flush: FlushCompress) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start = z.total_in();
    loop {
        let taken = (z.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let status = z
            .compress_vec(&input[taken..], &mut out, flush)
            .map_err(|e| EncodeError::Compression(e.to_string()))?;
        let done_in = (z.total_in() - start) as usize == input.len();
        match flush {
            FlushCompress::Finish if status == flate2::Status::StreamEnd => return Ok(out),
            FlushCompress::Finish => {}
            _ if done_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}
