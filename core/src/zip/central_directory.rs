//! Central directory file header (APPNOTE 4.3.12), one per entry, after all data.

use super::{
    clamp32, encoder::EntryMeta, extra_fields, PutLe, FLAG_DATA_DESCRIPTOR, VERSION_MADE_BY,
    ZIP64_THRESHOLD,
};

/// Unix mode in the high 16 bits of the external attributes; MS-DOS directory bit for folders.
const FILE_ATTRS: u32 = 0o100644 << 16;
const DIR_ATTRS: u32 = (0o040755 << 16) | 0x10;

/// What the central header needs to know once the entry is written.
pub(crate) struct Written {
    pub crc32: u32,
    /// Uncompressed size.
    pub size: u64,
    /// Size of the data as written.
    pub compressed: u64,
    pub local_offset: u64,
    pub version_needed: u16,
    /// Whether the entry's CRC and sizes followed its data in a descriptor.
    pub descriptor: bool,
}

pub(crate) fn central_header(meta: &EntryMeta, w: &Written) -> Vec<u8> {
    // Both sizes move to the ZIP64 field together whenever the local header had one.
    let sizes64 =
        meta.zip64_sizes() || w.size >= ZIP64_THRESHOLD || w.compressed >= ZIP64_THRESHOLD;
    let offset64 = w.local_offset >= ZIP64_THRESHOLD;
    let mut extra = Vec::new();
    extra_fields::zip64_central(
        &mut extra,
        sizes64.then_some(w.size),
        sizes64.then_some(w.compressed),
        offset64.then_some(w.local_offset),
    );
    extra_fields::extended_timestamp(&mut extra, meta.mtime_unix);
    extra_fields::unicode_path(
        &mut extra,
        &meta.name.bytes,
        meta.name.unicode_path.as_deref(),
    );

    let mut out = Vec::with_capacity(46 + meta.name.bytes.len() + extra.len());
    out.put_u32(0x0201_4b50);
    out.put_u16(VERSION_MADE_BY);
    out.put_u16(w.version_needed);
    out.put_u16(
        meta.flags()
            | if meta.is_file() && w.descriptor {
                FLAG_DATA_DESCRIPTOR
            } else {
                0
            },
    );
    out.put_u16(meta.method.code());
    out.put_u16(meta.mtime.time);
    out.put_u16(meta.mtime.date);
    out.put_u32(w.crc32);
    out.put_u32(clamp32(w.compressed, sizes64));
    out.put_u32(clamp32(w.size, sizes64));
    out.put_u16(meta.name.bytes.len() as u16);
    out.put_u16(extra.len() as u16);
    out.put_u16(0); // comment length
    out.put_u16(0); // disk number start
    out.put_u16(0); // internal attributes
    out.put_u32(if meta.is_file() {
        FILE_ATTRS
    } else {
        DIR_ATTRS
    });
    out.put_u32(clamp32(w.local_offset, offset64));
    out.extend_from_slice(&meta.name.bytes);
    out.extend_from_slice(&extra);
    out
}
