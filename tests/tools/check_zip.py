#!/usr/bin/env python3
"""Reads a zip with Python's zipfile and compares it with what it should hold.

usage: check_zip.py ARCHIVE MANIFEST
MANIFEST is JSON: {"entry name": "path of the source file" | null for a folder}.
Exits 0 and prints "ok N entries" when every entry matches byte for byte (CRCs
checked by reading), the names are exactly the manifest's, and no name is absolute
or climbs out with "..". Otherwise prints what differs and exits 1.
"""
import json
import sys
import zipfile


def main() -> int:
    archive, manifest_path = sys.argv[1], sys.argv[2]
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    problems = []
    with zipfile.ZipFile(archive) as z:
        bad = z.testzip()
        if bad is not None:
            problems.append(f"bad CRC or data in {bad!r}")
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
            with open(src, "rb") as f:
                want = f.read()
            got = z.read(info)
            if got != want:
                problems.append(f"{n!r}: {len(got)} bytes differ from the source's {len(want)}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok {len(manifest)} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
