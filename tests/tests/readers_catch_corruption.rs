//! The readers judge, so they must be able to fail: an archive written by a streaming
//! writer (Python's `zipfile` on a pipe: stored entries with data descriptors, UTF-8 names)
//! passes all five, and every reader rejects a flipped data byte, bytes that differ from the
//! source, a missing or an extra entry, and a name that climbs out of the extraction folder.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use zip_oss_tests::readers::{check_archive, Manifest, Reader};

const PAYLOAD: &[u8] = b"0123456789 the payload whose middle byte gets flipped 9876543210\n";

/// Writes `(name, Some(bytes) | None for a folder)` as source files and, through Python's
/// `zipfile` on an unseekable stream, as an archive; returns the archive and its manifest.
fn build(dir: &Path, entries: &[(&str, Option<&[u8]>)]) -> (PathBuf, Manifest) {
    let mut manifest = Manifest::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        let src = data.map(|d| {
            let p = dir.join(format!("src{i}"));
            std::fs::write(&p, d).unwrap();
            p
        });
        manifest.insert(name.to_string(), src);
    }
    let zip = dir.join("built.zip");
    let json: Vec<(&String, Option<String>)> = manifest
        .iter()
        .map(|(k, v)| (k, v.as_ref().map(|p| p.display().to_string())))
        .collect();
    let script = r#"
import json, sys, zipfile
class Pipe:  # no seek, no tell: zipfile streams, with data descriptors
    def __init__(self, f): self.f = f
    def write(self, b): return self.f.write(b)
    def flush(self): self.f.flush()
with open(sys.argv[1], "wb") as f, zipfile.ZipFile(Pipe(f), "w", zipfile.ZIP_STORED) as z:
    for name, src in json.loads(sys.argv[2]):
        if src is None:
            z.writestr(zipfile.ZipInfo(name), b"")
        else:
            with open(src, "rb") as s:
                z.writestr(name, s.read())
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&zip)
        .arg(serde_json::to_string(&json).unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (zip, manifest)
}

fn entries() -> Vec<(&'static str, Option<&'static [u8]>)> {
    vec![
        ("readme.txt", Some(&b"hello\n"[..])),
        ("empty.dat", Some(&b""[..])),
        ("folder/", None),
        ("a/b/payload.bin", Some(PAYLOAD)),
        ("报告/2024年度总结.txt", Some("中文内容".as_bytes())),
        ("photos/🎉 party.txt", Some(&b"emoji"[..])),
    ]
}

thread_local! {
    /// Set while a reader is expected to panic: the panic hook stays quiet on this thread.
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Every reader must panic; prints what each said.
fn every_reader_fails(case: &str, zip: &Path, manifest: &Manifest) {
    quiet_expected_panics();
    let mut passed = Vec::new();
    for r in Reader::ALL {
        EXPECTING_PANIC.with(|q| q.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| r.check(zip, manifest)));
        EXPECTING_PANIC.with(|q| q.set(false));
        match result {
            Ok(()) => passed.push(r),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("[{case}] {} rejects it: {}", r.name(), msg.trim_end());
            }
        }
    }
    assert!(
        passed.is_empty(),
        "[{case}] readers that passed: {passed:?}"
    );
}

#[test]
fn a_streamed_archive_with_utf8_names_passes_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (zip, manifest) = build(dir.path(), &entries());
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(
        bytes[6] & 0x08,
        0x08,
        "the first entry has a data descriptor"
    );
    check_archive(&zip, &manifest);
}

#[test]
fn a_flipped_data_byte_fails_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (zip, manifest) = build(dir.path(), &entries());
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes
        .windows(PAYLOAD.len())
        .position(|w| w == PAYLOAD)
        .expect("stored payload in the archive")
        + PAYLOAD.len() / 2;
    bytes[at] ^= 0x01;
    let broken = dir.path().join("broken.zip");
    std::fs::write(&broken, &bytes).unwrap();
    every_reader_fails("flipped byte", &broken, &manifest);
}

#[test]
fn bytes_unlike_the_source_fail_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (zip, mut manifest) = build(dir.path(), &entries());
    // The archive is sound; the source it should match has one byte changed.
    let mut other = PAYLOAD.to_vec();
    other[3] ^= 0x01;
    let other_path = dir.path().join("other");
    std::fs::write(&other_path, other).unwrap();
    manifest.insert("a/b/payload.bin".into(), Some(other_path));
    every_reader_fails("different source", &zip, &manifest);
}

#[test]
fn a_missing_or_extra_entry_fails_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (zip, manifest) = build(dir.path(), &entries());

    let mut more = manifest.clone();
    more.insert(
        "not-in-the-archive.txt".into(),
        manifest["readme.txt"].clone(),
    );
    every_reader_fails("entry missing from the archive", &zip, &more);

    let mut fewer = manifest.clone();
    fewer.remove("readme.txt");
    every_reader_fails("entry the manifest lacks", &zip, &fewer);

    let mut no_folder = manifest.clone();
    no_folder.insert("other-folder/".into(), None);
    every_reader_fails("folder missing from the archive", &zip, &no_folder);
}

#[test]
fn a_name_climbing_out_fails_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = entries();
    list.push(("../escaped.txt", Some(&b"out"[..])));
    let (zip, manifest) = build(dir.path(), &list);
    every_reader_fails("name with ..", &zip, &manifest);
}
