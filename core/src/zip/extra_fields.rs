//! Extra fields we write: ZIP64 (0x0001), extended timestamp (0x5455) and Info-ZIP
//! Unicode Path (0x7075).

use super::PutLe;

/// ZIP64 extended information, local-header form: both sizes, zero because the real
/// values follow the data in a 64-bit data descriptor.
pub(crate) fn zip64_local(out: &mut Vec<u8>) {
    out.put_u16(0x0001);
    out.put_u16(16);
    out.put_u64(0);
    out.put_u64(0);
}

/// ZIP64 extended information, local-header form with the sizes known when it is written
/// (the compressed size may be 0, patched at the entry's end).
pub(crate) fn zip64_local_sizes(out: &mut Vec<u8>, uncompressed: u64, compressed: u64) {
    out.put_u16(0x0001);
    out.put_u16(16);
    out.put_u64(uncompressed);
    out.put_u64(compressed);
}

/// ZIP64 extended information, central-directory form: only the fields whose 32-bit
/// slots hold the 0xFFFFFFFF marker, in the order the spec fixes.
pub(crate) fn zip64_central(
    out: &mut Vec<u8>,
    uncompressed: Option<u64>,
    compressed: Option<u64>,
    offset: Option<u64>,
) {
    let fields: Vec<u64> = [uncompressed, compressed, offset]
        .into_iter()
        .flatten()
        .collect();
    if fields.is_empty() {
        return;
    }
    out.put_u16(0x0001);
    out.put_u16((fields.len() * 8) as u16);
    for f in fields {
        out.put_u64(f);
    }
}

/// Extended timestamp (Info-ZIP "UT"): modification time as UTC unix seconds, which
/// DOS time cannot carry (no zone, 2-second steps). Same 5-byte body in both headers.
pub(crate) fn extended_timestamp(out: &mut Vec<u8>, mtime_unix: Option<i64>) {
    let Some(t) = mtime_unix.and_then(|t| u32::try_from(t).ok()) else {
        return;
    };
    out.put_u16(0x5455);
    out.put_u16(5);
    out.push(1); // flags: modification time present
    out.put_u32(t);
}

/// Info-ZIP Unicode Path: the UTF-8 name, tied by CRC-32 to the name field's bytes so a
/// reader can tell it still belongs to them. Same body in both headers.
pub(crate) fn unicode_path(out: &mut Vec<u8>, name_field: &[u8], utf8_name: Option<&str>) {
    let Some(utf8) = utf8_name else {
        return;
    };
    out.put_u16(0x7075);
    out.put_u16((1 + 4 + utf8.len()) as u16);
    out.push(1); // version
    out.put_u32(crc32fast::hash(name_field));
    out.extend_from_slice(utf8.as_bytes());
}
