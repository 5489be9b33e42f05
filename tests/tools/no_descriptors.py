"""Checks that no entry of a zip has a data descriptor: general-purpose bit 3 clear in
both its central and its local header, and the local header's CRC-32 the central one
(or, for a ZIP64 local header, the sizes in its ZIP64 extra field).

usage: python3 no_descriptors.py ARCHIVE   (prints "ok N entries", exits 1 otherwise)
"""

import struct
import sys
import zipfile


def main(path):
    problems = []
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        infos = z.infolist()
        for i in infos:
            if i.flag_bits & 0x8:
                problems.append(f"{i.filename!r}: bit 3 in the central directory")
            f.seek(i.header_offset)
            head = f.read(30)
            sig, _version, flags, _method, _t, _d, crc, csize, usize, nlen, xlen = struct.unpack(
                "<IHHHHHIIIHH", head
            )
            if sig != 0x04034B50:
                problems.append(f"{i.filename!r}: no local header at {i.header_offset}")
                continue
            if flags & 0x8:
                problems.append(f"{i.filename!r}: bit 3 in the local header")
            if crc != i.CRC:
                problems.append(f"{i.filename!r}: local CRC-32 {crc:08x}, central {i.CRC:08x}")
            if csize == usize == 0xFFFFFFFF:
                f.seek(i.header_offset + 30 + nlen)
                extra = f.read(xlen)
                tag, size, u64, c64 = struct.unpack("<HHQQ", extra[:20])
                if tag != 1 or (u64, c64) != (i.file_size, i.compress_size):
                    problems.append(f"{i.filename!r}: ZIP64 local sizes {u64}/{c64} are wrong")
            elif (csize, usize) != (i.compress_size, i.file_size):
                problems.append(f"{i.filename!r}: local sizes {csize}/{usize} are wrong")
    if problems:
        print("\n".join(problems[:20]))
        sys.exit(1)
    print(f"ok {len(infos)} entries")


if __name__ == "__main__":
    main(sys.argv[1])
