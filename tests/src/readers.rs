//! Independent zip readers judge every archive: Python's `zipfile` (reads every entry,
//! checks CRCs, compares bytes) and Info-ZIP `unzip` (`-t`, then a real extraction that is
//! compared file by file and checked for anything outside the extraction folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Entry name → source file (`None` for a folder).
pub type Manifest = BTreeMap<String, Option<PathBuf>>;

/// Runs every reader; panics with what they said on any disagreement.
pub fn check_archive(zip: &Path, manifest: &Manifest) {
    python_zipfile(zip, manifest);
    unzip_test(zip);
    unzip_extract(zip, manifest);
}

pub fn python_zipfile(zip: &Path, manifest: &Manifest) {
    let manifest_path = zip.with_extension("manifest.json");
    let json: BTreeMap<&String, Option<String>> = manifest
        .iter()
        .map(|(k, v)| (k, v.as_ref().map(|p| p.display().to_string())))
        .collect();
    std::fs::write(&manifest_path, serde_json::to_vec(&json).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check_zip.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(zip)
        .arg(&manifest_path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python zipfile: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn unzip_test(zip: &Path) {
    let out = Command::new("unzip")
        .env("LC_ALL", "C.UTF-8")
        .arg("-tq")
        .arg(zip)
        .output()
        .expect("unzip runs");
    assert!(
        out.status.success(),
        "unzip -t: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Extracts with `unzip` into an empty folder and compares the tree with the manifest.
pub fn unzip_extract(zip: &Path, manifest: &Manifest) {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let out = Command::new("unzip")
        .env("LC_ALL", "C.UTF-8")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(&dest)
        .output()
        .expect("unzip runs");
    assert!(
        out.status.success(),
        "unzip: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing beside the extraction folder.
    let beside: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside,
        vec![std::ffi::OsString::from("x")],
        "unzip wrote outside its folder"
    );
    for (name, src) in manifest {
        let path = dest.join(name);
        match src {
            Some(src) => assert_eq!(
                std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}")),
                std::fs::read(src).unwrap(),
                "{name}"
            ),
            None => assert!(path.is_dir(), "{name} is not a folder"),
        }
    }
    let mut files = 0;
    let mut stack = vec![dest.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
            }
        }
    }
    assert_eq!(
        files,
        manifest.values().filter(|v| v.is_some()).count(),
        "extracted file count"
    );
}
