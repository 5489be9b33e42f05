//! The streaming encoder: entries in, archive bytes out, no I/O.
//!
//! The driver asks for each record's bytes and passes entry data through itself
//! (the encoder only hashes it), so no data is copied on the way to the upload.

use super::central_directory::{central_header, Written};
use super::data_descriptor::data_descriptor;
use super::end_of_central_directory::end_records;
use super::local_header::local_header;
use super::{DosDateTime, FLAG_UTF8, VERSION_DEFAULT, VERSION_ZIP64, ZIP64_THRESHOLD};

/// What an entry is; a file's size is known in advance from the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File { size: u64 },
    Directory,
}

/// Everything the headers say about one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// The name's bytes as stored (folders end in `/`).
    pub name: Vec<u8>,
    /// Whether `name` is UTF-8 and not plain ASCII (sets flag bit 11).
    pub utf8: bool,
    pub kind: EntryKind,
    pub mtime: DosDateTime,
    /// Modification time as unix seconds, for the extended-timestamp field.
    pub mtime_unix: Option<i64>,
}

impl EntryMeta {
    /// A file or folder named by a UTF-8 string; the UTF-8 flag is set only when needed.
    pub fn new(name: &str, kind: EntryKind, mtime_unix: Option<i64>) -> Self {
        EntryMeta {
            name: name.as_bytes().to_vec(),
            utf8: !name.is_ascii(),
            kind,
            mtime: mtime_unix.map_or(DosDateTime::EPOCH, DosDateTime::from_unix),
            mtime_unix,
        }
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
        if self.utf8 {
            FLAG_UTF8
        } else {
            0
        }
    }

    /// A file needs ZIP64 sizes when its size does not fit 32 bits.
    pub(crate) fn zip64_sizes(&self) -> bool {
        self.declared_size() >= ZIP64_THRESHOLD
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
}

struct Open {
    meta: EntryMeta,
    local_offset: u64,
    version_needed: u16,
    crc: crc32fast::Hasher,
    written: u64,
}

/// Produces a ZIP archive one record at a time.
#[derive(Default)]
pub struct ZipEncoder {
    offset: u64,
    entries: u64,
    central: Vec<u8>,
    open: Option<Open>,
}

impl ZipEncoder {
    pub fn new() -> Self {
        Self::default()
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
        if meta.name.is_empty() || meta.name.len() > u16::MAX as usize {
            return Err(EncodeError::BadName);
        }
        let local_offset = self.offset;
        let version_needed = if meta.zip64_sizes() || local_offset >= ZIP64_THRESHOLD {
            VERSION_ZIP64
        } else {
            VERSION_DEFAULT
        };
        let header = local_header(&meta, meta.zip64_sizes(), version_needed);
        self.offset += header.len() as u64;
        self.entries += 1;
        if meta.is_file() {
            self.open = Some(Open {
                meta,
                local_offset,
                version_needed,
                crc: crc32fast::Hasher::new(),
                written: 0,
            });
        } else {
            let w = Written {
                crc32: 0,
                size: 0,
                local_offset,
                version_needed,
            };
            self.central.extend_from_slice(&central_header(&meta, &w));
        }
        Ok(header)
    }

    /// Accounts for a chunk of the open file's data; the caller emits the chunk itself.
    pub fn write_data(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let open = self.open.as_mut().ok_or(EncodeError::NoEntryOpen)?;
        let declared = open.meta.declared_size();
        let actual = open.written + data.len() as u64;
        if actual > declared {
            return Err(EncodeError::SizeMismatch { declared, actual });
        }
        open.crc.update(data);
        open.written = actual;
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Size-only counterpart of [`Self::write_data`], for computing sizes without data.
    pub(crate) fn skip_data(&mut self, len: u64) {
        if let Some(open) = self.open.as_mut() {
            open.written += len;
        }
        self.offset += len;
    }

    /// Ends the open file and returns its data descriptor.
    pub fn finish_entry(&mut self) -> Result<Vec<u8>, EncodeError> {
        let open = self.open.take().ok_or(EncodeError::NoEntryOpen)?;
        let declared = open.meta.declared_size();
        if open.written != declared {
            return Err(EncodeError::SizeMismatch {
                declared,
                actual: open.written,
            });
        }
        let crc32 = open.crc.finalize();
        let descriptor =
            data_descriptor(crc32, open.written, open.written, open.meta.zip64_sizes());
        self.offset += descriptor.len() as u64;
        let w = Written {
            crc32,
            size: open.written,
            local_offset: open.local_offset,
            version_needed: open.version_needed,
        };
        self.central
            .extend_from_slice(&central_header(&open.meta, &w));
        Ok(descriptor)
    }

    /// Ends the archive: central directory and end records.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        if self.open.is_some() {
            return Err(EncodeError::EntryOpen);
        }
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        let end = end_records(self.entries, cd_offset, cd_size);
        self.central.extend_from_slice(&end);
        self.offset += self.central.len() as u64;
        Ok(self.central)
    }
}
