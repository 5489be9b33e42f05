#!/usr/bin/env python3
"""Reads a zip with Python's zipfile and compares it with what it should hold.

usage: check_zip.py ARCHIVE MANIFEST
MANIFEST is JSON: {"entry name": "path of the source file" | null for a folder}.
Exits 0 and prints "ok N entries" when every entry matches byte for byte (CRCs
checked by reading), the names are exactly the manifest's, and no name is absolute
or climbs out with "..". Otherwise prints what differs and exits 1.
Entries are read and compared in chunks, so multi-gigabyte entries cost no memory.
"""
import json
import os
import sys
import zipfile

CHUNK = 1 << 20


def compare(z, info, src):
    """Reads the entry in full (zipfile checks its CRC at the end) beside the source;
    returns (entry size, source size, offset of the first difference or None)."""
    n = 0
    diff = None
    with z.open(info) as got, open(src, "rb") as want:
        while True:
            a = got.read(CHUNK)
            b = want.read(len(a) or 1)  # at the end: is the source longer?
            if diff is None and a != b:
                diff = n + next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            n += len(a)
            if not a:
                return n, os.path.getsize(src), diff


def main() -> int:
    archive, manifest_path = sys.argv[1], sys.argv[2]
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    problems = []
    try:
        # ZIP_NAME_ENCODING=gbk reads names without the UTF-8 flag as a GBK reader would.
        encoding = os.environ.get("ZIP_NAME_ENCODING")
        z = zipfile.ZipFile(archive, metadata_encoding=encoding) if encoding else zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        print(f"cannot read the archive: {e}")
        return 1
    with z:
        names = [i.filename for i in z.infolist()]
        if len(names) != len(set(names)):
            problems.append("duplicate names in the archive")
        if set(names) != set(manifest):
            problems.append(f"names differ: extra {sorted(set(names) - set(manifest))}, missing {sorted(set(manifest) - set(names))}")
        for info in z.infolist():
            n = info.filename
            if n.startswith("/") or ".." in n.split("/") or "\\" in n:
                problems.append(f"unsafe name {n!r}")
            src = manifest.get(n, "<absent>")
            if src == "<absent>":
                continue
            if src is None:
                if not info.is_dir():
                    problems.append(f"{n!r} should be a folder")
                continue
            if info.is_dir():
                problems.append(f"{n!r} should be a file, not a folder")
                continue
            try:
                got_n, want_n, diff = compare(z, info, src)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
                problems.append(f"{n!r}: {e}")
                continue
            if diff is not None:
                problems.append(f"{n!r}: {got_n} bytes differ from the source's {want_n} at offset {diff}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok {len(manifest)} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
