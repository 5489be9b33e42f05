//! Local file header (APPNOTE 4.3.7), written before each entry's data.

use super::{encoder::EntryMeta, extra_fields, PutLe, FLAG_DATA_DESCRIPTOR};

/// Builds the local header. Streamed files set the data-descriptor flag and leave CRC
/// and sizes zero; a ZIP64 file marks both sizes and carries the ZIP64 extra field.
pub(crate) fn local_header(meta: &EntryMeta, zip64: bool, version_needed: u16) -> Vec<u8> {
    let mut extra = Vec::new();
    if zip64 {
        extra_fields::zip64_local(&mut extra);
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
            | if meta.is_file() {
                FLAG_DATA_DESCRIPTOR
            } else {
                0
            },
    );
    out.put_u16(meta.method.code());
    out.put_u16(meta.mtime.time);
    out.put_u16(meta.mtime.date);
    out.put_u32(0); // crc-32: in the data descriptor
    let size_marker = if zip64 { 0xFFFF_FFFF } else { 0 };
    out.put_u32(size_marker); // compressed size
    out.put_u32(size_marker); // uncompressed size
    out.put_u16(meta.name.bytes.len() as u16);
    out.put_u16(extra.len() as u16);
    out.extend_from_slice(&meta.name.bytes);
    out.extend_from_slice(&extra);
    out
}
