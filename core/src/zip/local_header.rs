//! Local file header (APPNOTE 4.3.7), written before each entry's data.

use super::{encoder::EntryMeta, encoder::Layout, extra_fields, PutLe, FLAG_DATA_DESCRIPTOR};

/// Offset of the CRC-32 in the header; the 32-bit sizes follow it.
pub(crate) const CRC_OFFSET: u64 = 14;

/// Builds the local header. With descriptors, files set the data-descriptor flag and leave
/// CRC and sizes zero; patched, the sizes known in advance are written (the uncompressed
/// size always, the compressed one when stored) and the rest stays zero until the entry's
/// end patches it. A ZIP64 file marks both 32-bit sizes and carries the ZIP64 extra field
/// first among its extras.
pub(crate) fn local_header(
    meta: &EntryMeta,
    zip64: bool,
    version_needed: u16,
    layout: Layout,
) -> Vec<u8> {
    let patched = layout == Layout::Patched && meta.is_file();
    let size = meta.declared_size();
    let compressed = match (patched, meta.method) {
        (true, super::Method::Stored) => size,
        _ => 0,
    };
    let mut extra = Vec::new();
    if zip64 {
        match patched {
            true => extra_fields::zip64_local_sizes(&mut extra, size, compressed),
            false => extra_fields::zip64_local(&mut extra),
        }
    }
    extra_fields::extended_timestamp(&mut extra, meta.mtime_unix);
    extra_fields::unicode_path(
        &mut extra,
        &meta.name.bytes,
        meta.name.unicode_path.as_deref(),
    );

    let mut out = Vec::with_capacity(30 + meta.name.bytes.len() + extra.len());
    out.put_u32(0x0403_4b50);
    out.put_u16(version_needed);
    out.put_u16(
        meta.flags()
            | if meta.is_file() && layout == Layout::Descriptors {
                FLAG_DATA_DESCRIPTOR
            } else {
                0
            },
    );
    out.put_u16(meta.method.code());
    out.put_u16(meta.mtime.time);
    out.put_u16(meta.mtime.date);
    out.put_u32(0); // crc-32: in the data descriptor, or patched
    match (zip64, patched) {
        (true, _) => {
            out.put_u32(0xFFFF_FFFF);
            out.put_u32(0xFFFF_FFFF);
        }
        (false, true) => {
            out.put_u32(compressed as u32);
            out.put_u32(size as u32);
        }
        (false, false) => {
            out.put_u32(0);
            out.put_u32(0);
        }
    }
    out.put_u16(meta.name.bytes.len() as u16);
    out.put_u16(extra.len() as u16);
    out.extend_from_slice(&meta.name.bytes);
    out.extend_from_slice(&extra);
    out
}
