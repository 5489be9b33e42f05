//! ZIP encoding, one file per record we write (APPNOTE 6.3.10).
//!
//! Hand-written rather than the `zip` crate because zip-oss needs what that crate's
//! writer does not give: byte-exact size prediction before writing (for `Content-Length`
//! and part sizing), a sans-IO shape (bytes out, no `Write` sink, so it runs unchanged in
//! the component's async loop), and control over every name and extra-field byte.

mod central_bytes;
mod central_directory;
mod data_descriptor;
mod dos_time;
mod encoder;
mod end_of_central_directory;
mod extra_fields;
mod local_header;
mod name_encoding;
mod sizes;

pub use dos_time::DosDateTime;
pub use encoder::{EncodeError, EntryEnd, EntryKind, EntryMeta, Layout, Method, Patch, ZipEncoder};
pub use name_encoding::{EncodedName, NameEncoding};
pub use sizes::{archive_size, archive_size_in, entry_overhead};

/// Sizes and counts at or above this need ZIP64 fields.
pub(crate) const ZIP64_THRESHOLD: u64 = 0xFFFF_FFFF;
/// More entries than this need the ZIP64 end records.
pub(crate) const MAX_ENTRIES_ZIP32: u64 = 0xFFFF;

/// General-purpose flag bit 3: CRC and sizes follow the data in a data descriptor.
pub(crate) const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// General-purpose flag bit 11: the name is UTF-8.
pub(crate) const FLAG_UTF8: u16 = 1 << 11;

/// "Version needed to extract": 2.0 for plain entries and folders, 4.5 for ZIP64. Without
/// descriptors, 1.0 for stored files and folders (2.0 only where deflate needs it): some
/// readers refuse more than an entry needs.
pub(crate) const VERSION_DEFAULT: u16 = 20;
pub(crate) const VERSION_STORED: u16 = 10;
pub(crate) const VERSION_ZIP64: u16 = 45;
/// "Version made by": Unix (3) in the high byte, so readers honour the mode bits
/// in the external attributes; spec version 4.5 in the low byte.
pub(crate) const VERSION_MADE_BY: u16 = (3 << 8) | 45;

/// Little-endian writers for record fields.
pub(crate) trait PutLe {
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
}

impl PutLe for Vec<u8> {
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

/// A 32-bit field's value, or the ZIP64 marker when the real value lives in the extra field.
pub(crate) fn clamp32(v: u64, in_zip64: bool) -> u32 {
    if in_zip64 {
        0xFFFF_FFFF
    } else {
        v as u32
    }
}
