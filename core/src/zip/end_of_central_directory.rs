//! End records (APPNOTE 4.3.14–4.3.16): ZIP64 end of central directory record and
//! locator when any count or offset overflows, then the classic end record.

use super::{PutLe, MAX_ENTRIES_ZIP32, VERSION_MADE_BY, VERSION_ZIP64, ZIP64_THRESHOLD};

/// `cd_offset` is where the central directory starts, `cd_size` its length.
pub(crate) fn end_records(entries: u64, cd_offset: u64, cd_size: u64) -> Vec<u8> {
    let entries64 = entries >= MAX_ENTRIES_ZIP32;
    let size64 = cd_size >= ZIP64_THRESHOLD;
    let offset64 = cd_offset >= ZIP64_THRESHOLD;
    let mut out = Vec::with_capacity(98);
    if entries64 || size64 || offset64 {
        let zip64_eocd_offset = cd_offset + cd_size;
        out.put_u32(0x0606_4b50);
        out.put_u64(44); // size of the rest of this record
        out.put_u16(VERSION_MADE_BY);
        out.put_u16(VERSION_ZIP64);
        out.put_u32(0); // this disk
        out.put_u32(0); // disk with the central directory
        out.put_u64(entries);
        out.put_u64(entries);
        out.put_u64(cd_size);
        out.put_u64(cd_offset);
        // locator
        out.put_u32(0x0706_4b50);
        out.put_u32(0);
        out.put_u64(zip64_eocd_offset);
        out.put_u32(1); // total disks
    }
    let entries16 = if entries64 { 0xFFFF } else { entries as u16 };
    out.put_u32(0x0605_4b50);
    out.put_u16(0);
    out.put_u16(0);
    out.put_u16(entries16);
    out.put_u16(entries16);
    out.put_u32(super::clamp32(cd_size, size64));
    out.put_u32(super::clamp32(cd_offset, offset64));
    out.put_u16(0); // comment length
    out
}
