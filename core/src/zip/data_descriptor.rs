//! Data descriptor (APPNOTE 4.3.9): CRC and sizes after a streamed entry's data.

use super::PutLe;

/// With signature (optional in the spec, expected by most readers); 8-byte sizes when
/// the local header carried a ZIP64 extra field, as readers decide by that.
pub(crate) fn data_descriptor(
    crc32: u32,
    compressed: u64,
    uncompressed: u64,
    zip64: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.put_u32(0x0807_4b50);
    out.put_u32(crc32);
    if zip64 {
        out.put_u64(compressed);
        out.put_u64(uncompressed);
    } else {
        out.put_u32(compressed as u32);
        out.put_u32(uncompressed as u32);
    }
    out
}
