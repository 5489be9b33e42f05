//! Five independent zip readers judge every archive:
//! - Info-ZIP `unzip` (`-t`, then a real extraction);
//! - 7-Zip `7zz` (`t`, then `x`);
//! - libarchive `bsdtar` (`-tf`, its listing compared with the manifest, then `-xf`);
//! - Python's `zipfile` (`tools/check_zip.py`: every entry read, CRCs checked, bytes compared);
//! - Java's `java.util.zip.ZipFile` (`tools/CheckZip.java`, the same checks).
//!
//! Each extraction goes into an empty folder inside a fresh temporary parent, run from that
//! parent, and is compared with the manifest by one helper ([`compare_tree`]): every file
//! byte for byte, every folder present, nothing else extracted, nothing written beside the
//! folder. The native tools run under `LC_ALL=C.UTF-8`, so UTF-8 names (Chinese, emoji) must
//! come out as the very same names. Any complaint — a non-zero exit, a warning from 7-Zip,
//! anything at all on bsdtar's stderr — fails the check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Entry name → source file (`None` for a folder, whose name ends in `/`).
pub type Manifest = BTreeMap<String, Option<PathBuf>>;

/// The manifest of files put under `prefix` (`key → file`, as `Env::put_files` returns
/// them), named as a pack of that prefix names them: the key without the prefix.
pub fn manifest_under(paths: &BTreeMap<String, PathBuf>, prefix: &str) -> Manifest {
    paths
        .iter()
        .map(|(k, p)| (k.strip_prefix(prefix).unwrap().to_string(), Some(p.clone())))
        .collect()
}

/// One independent zip reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Info-ZIP `unzip -t` and an extraction.
    Unzip,
    /// 7-Zip `7zz t` and `7zz x`.
    SevenZip,
    /// libarchive `bsdtar -tf` and `bsdtar -xf`.
    Bsdtar,
    /// Python's `zipfile`.
    Python,
    /// Java's `java.util.zip.ZipFile`.
    Java,
    /// Java's `java.util.zip.ZipInputStream`, front to back.
    JavaStream,
    /// `bsdtar -xf -` reading from a pipe, front to back.
    BsdtarPipe,
}

impl Reader {
    pub const ALL: [Reader; 5] = [
        Reader::Unzip,
        Reader::SevenZip,
        Reader::Bsdtar,
        Reader::Python,
        Reader::Java,
    ];

    /// For archives written to the bucket (no data descriptors): all of them.
    pub const UPLOADED: [Reader; 7] = [
        Reader::Unzip,
        Reader::SevenZip,
        Reader::Bsdtar,
        Reader::Python,
        Reader::Java,
        Reader::JavaStream,
        Reader::BsdtarPipe,
    ];

    /// Runs this reader over the archive; panics with what it said on any disagreement.
    pub fn check(self, zip: &Path, manifest: &Manifest) {
        match self {
            Reader::Unzip => {
                unzip_test(zip);
                unzip_extract(zip, manifest);
            }
            Reader::SevenZip => seven_zip(zip, manifest),
            Reader::Bsdtar => bsdtar(zip, manifest),
            Reader::Python => python_zipfile(zip, manifest),
            Reader::Java => java_zipfile(zip, manifest),
            Reader::JavaStream => java_zip_input_stream(zip, manifest),
            Reader::BsdtarPipe => bsdtar_pipe(zip, manifest),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Reader::Unzip => "unzip",
            Reader::SevenZip => "7zz",
            Reader::Bsdtar => "bsdtar",
            Reader::Python => "python zipfile",
            Reader::Java => "java ZipFile",
            Reader::JavaStream => "java ZipInputStream",
            Reader::BsdtarPipe => "bsdtar from a pipe",
        }
    }
}

/// Runs all five readers; panics with what they said on any disagreement.
pub fn check_archive(zip: &Path, manifest: &Manifest) {
    check_archive_with(zip, manifest, &Reader::ALL);
}

/// Two readers of five (unzip and Python): enough to judge the bytes, quick enough for many
/// packs. What they said as an `Err` instead of a panic, for tests that judge many packs.
pub fn quick_check(zip: &Path, manifest: &Manifest) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_archive_with(zip, manifest, &[Reader::Unzip, Reader::Python])
    }))
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// An archive written to the bucket: the five readers, the two that go front to back
/// without the central directory (Java's `ZipInputStream`, `bsdtar` from a pipe), and no
/// entry with a data descriptor.
pub fn check_uploaded_archive(zip: &Path, manifest: &Manifest) {
    no_descriptors(zip);
    check_archive_with(zip, manifest, &Reader::UPLOADED);
}

/// `tools/no_descriptors.py`: bit 3 clear everywhere; CRC-32 and sizes in the local headers.
pub fn no_descriptors(zip: &Path) {
    run(
        "no data descriptors",
        tool("python3")
            .arg(tools_dir().join("no_descriptors.py"))
            .arg(zip),
    );
}

/// Runs the given readers (for heavy archives where some readers are too slow), printing
/// how long each took.
pub fn check_archive_with(zip: &Path, manifest: &Manifest, readers: &[Reader]) {
    let mut took: Vec<(Reader, Duration)> = Vec::new();
    for &r in readers {
        let start = Instant::now();
        r.check(zip, manifest);
        took.push((r, start.elapsed()));
    }
    let times: Vec<String> = took
        .iter()
        .map(|(r, d)| format!("{} {:.2}s", r.name(), d.as_secs_f64()))
        .collect();
    eprintln!(
        "readers agree on {} ({} entries): {}",
        zip.display(),
        manifest.len(),
        times.join(", ")
    );
}

/// A native tool with UTF-8 names whatever the caller's locale.
fn tool(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C.UTF-8");
    cmd
}

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} runs (scripts/setup installs it): {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes the manifest as JSON to a temporary file, for the Python and Java checkers.
fn write_manifest(manifest: &Manifest) -> tempfile::NamedTempFile {
    let json: BTreeMap<&String, Option<String>> = manifest
        .iter()
        .map(|(k, v)| (k, v.as_ref().map(|p| p.display().to_string())))
        .collect();
    let file = tempfile::Builder::new()
        .prefix("manifest")
        .suffix(".json")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&json).unwrap()).unwrap();
    file
}

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools")
}

pub fn python_zipfile(zip: &Path, manifest: &Manifest) {
    let manifest_file = write_manifest(manifest);
    run(
        "python zipfile",
        Command::new("python3")
            .arg(tools_dir().join("check_zip.py"))
            .arg(zip)
            .arg(manifest_file.path()),
    );
}

/// A GBK-named archive, judged as readers that know its code page see it: every reader
/// must read all data and check every CRC (`unzip -t`, `7zz t`), and the names must come out
/// right where the reader is told the code page, as a Chinese Windows tool assumes it:
/// bsdtar (`hdrcharset=GBK`, extraction compared), Python and Java. Names with the UTF-8
/// flag (what GBK cannot hold) stay UTF-8 for all of them.
pub fn check_gbk_archive(zip: &Path, manifest: &Manifest) {
    no_descriptors(zip);
    unzip_test(zip);
    let out = run("7zz t", tool("7zz").args(["t", "-bd", "-y"]).arg(zip));
    no_seven_zip_warnings("7zz t", zip, &out);
    let out = extract_and_compare("bsdtar -x (GBK)", manifest, |dest| {
        let mut cmd = tool("bsdtar");
        cmd.args(["--options", "hdrcharset=GBK", "-xf"])
            .arg(zip)
            .arg("-C")
            .arg(dest);
        cmd
    });
    bsdtar_silent("bsdtar -x (GBK)", &out);
    let manifest_file = write_manifest(manifest);
    let checker = tools_dir().join("check_zip.py");
    run(
        "python zipfile (gbk)",
        Command::new("python3")
            .env("ZIP_NAME_ENCODING", "gbk")
            .arg(checker)
            .arg(zip)
            .arg(manifest_file.path()),
    );
    run(
        "java ZipFile (gbk)",
        tool("java")
            .env("ZIP_NAME_ENCODING", "GBK")
            .arg("-Dfile.encoding=UTF-8")
            .arg(tools_dir().join("CheckZip.java"))
            .arg(zip)
            .arg(manifest_file.path()),
    );
}

/// `java tools/CheckZip.java`: every entry read through `java.util.zip.ZipFile`.
pub fn java_zipfile(zip: &Path, manifest: &Manifest) {
    let manifest_file = write_manifest(manifest);
    run(
        "java ZipFile",
        // The locale decides how Java maps file names to bytes (sun.jnu.encoding).
        tool("java")
            .arg("-Dfile.encoding=UTF-8")
            .arg(tools_dir().join("CheckZip.java"))
            .arg(zip)
            .arg(manifest_file.path()),
    );
}

/// `java tools/CheckZip.java --stream`: every entry through `java.util.zip.ZipInputStream`.
pub fn java_zip_input_stream(zip: &Path, manifest: &Manifest) {
    let manifest_file = write_manifest(manifest);
    run(
        "java ZipInputStream",
        tool("java")
            .arg("-Dfile.encoding=UTF-8")
            .arg(tools_dir().join("CheckZip.java"))
            .arg("--stream")
            .arg(zip)
            .arg(manifest_file.path()),
    );
}

/// `bsdtar -xf -` with the archive on its stdin (it cannot seek to the central directory).
pub fn bsdtar_pipe(zip: &Path, manifest: &Manifest) {
    let out = extract_and_compare("bsdtar -xf -", manifest, |dest| {
        let mut cmd = tool("bsdtar");
        cmd.arg("-xf")
            .arg("-")
            .arg("-C")
            .arg(dest)
            .stdin(std::fs::File::open(zip).unwrap());
        cmd
    });
    bsdtar_silent("bsdtar -xf -", &out);
}

pub fn unzip_test(zip: &Path) {
    run("unzip -t", tool("unzip").arg("-tq").arg(zip));
}

/// Extracts with `unzip` into an empty folder and compares the tree with the manifest.
/// Quiet unzip says nothing unless it has a complaint. (It drops a `../` from a name
/// silently, exit 0: the comparison catches that.)
pub fn unzip_extract(zip: &Path, manifest: &Manifest) {
    let out = extract_and_compare("unzip", manifest, |dest| {
        let mut cmd = tool("unzip");
        cmd.arg("-q").arg(zip).arg("-d").arg(dest);
        cmd
    });
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "unzip complained: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 7-Zip: `7zz t` (reads everything, checks CRCs), then `7zz x` compared with the manifest.
pub fn seven_zip(zip: &Path, manifest: &Manifest) {
    let out = run("7zz t", tool("7zz").args(["t", "-bd", "-y"]).arg(zip));
    no_seven_zip_warnings("7zz t", zip, &out);
    let out = extract_and_compare("7zz x", manifest, |dest| {
        let mut cmd = tool("7zz");
        cmd.args(["x", "-bd", "-y"])
            .arg(format!("-o{}", dest.display()))
            .arg(zip);
        cmd
    });
    no_seven_zip_warnings("7zz x", zip, &out);
}

/// 7-Zip exits 0 on some warnings (e.g. data after the end of the archive); it says so.
fn no_seven_zip_warnings(what: &str, zip: &Path, out: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The archive's own path is echoed and could contain any word.
    let said = text
        .replace(&zip.display().to_string(), "ARCHIVE")
        .to_lowercase();
    assert!(
        !said.contains("warning") && !said.contains("error") && said.contains("everything is ok"),
        "{what} complained:\n{text}"
    );
}

/// libarchive: `bsdtar -tf` must list exactly the manifest's names, then `bsdtar -xf` is
/// compared with the manifest. bsdtar must say nothing on stderr.
pub fn bsdtar(zip: &Path, manifest: &Manifest) {
    let out = run("bsdtar -t", tool("bsdtar").arg("-tf").arg(zip));
    bsdtar_silent("bsdtar -t", &out);
    let listed: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("bsdtar lists UTF-8 names")
        .lines()
        .collect();
    let listed_set: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "bsdtar -t lists a name twice"
    );
    let want: BTreeSet<&str> = manifest.keys().map(String::as_str).collect();
    assert!(
        listed_set == want,
        "bsdtar -t lists {} names, the manifest has {}: extra {:?}, missing {:?}",
        listed_set.len(),
        want.len(),
        listed_set.difference(&want).take(20).collect::<Vec<_>>(),
        want.difference(&listed_set).take(20).collect::<Vec<_>>()
    );
    let out = extract_and_compare("bsdtar -x", manifest, |dest| {
        let mut cmd = tool("bsdtar");
        cmd.arg("-xf").arg(zip).arg("-C").arg(dest);
        cmd
    });
    bsdtar_silent("bsdtar -x", &out);
}

fn bsdtar_silent(what: &str, out: &Output) {
    assert!(
        out.stderr.is_empty(),
        "{what} complained: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs an extraction built by `command(dest)` into an empty folder `dest` inside a fresh
/// temporary parent (and with the parent as working directory), asserts it succeeded, and
/// compares the result with the manifest ([`compare_tree`]). Returns what the tool printed.
pub fn extract_and_compare(
    what: &str,
    manifest: &Manifest,
    command: impl FnOnce(&Path) -> Command,
) -> Output {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let mut cmd = command(&dest);
    cmd.current_dir(parent.path());
    let out = run(what, &mut cmd);
    compare_tree(what, parent.path(), &dest, manifest);
    out
}

/// Compares an extracted tree with the manifest: nothing but `dest` in `parent`; every
/// manifest file present with the source's bytes, every manifest folder present; no other
/// file, no folder that is neither in the manifest nor above an entry; nothing that is not
/// a plain file or folder (no symlinks).
pub fn compare_tree(what: &str, parent: &Path, dest: &Path, manifest: &Manifest) {
    let beside: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside,
        vec![dest.file_name().unwrap().to_owned()],
        "{what} wrote outside its folder"
    );

    let (mut files, mut dirs) = (BTreeSet::new(), BTreeSet::new());
    let mut stack = vec![dest.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            // A name that is not UTF-8 shows up lossily and will not match the manifest.
            let rel = path
                .strip_prefix(dest)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let ty = e.file_type().unwrap();
            if ty.is_dir() {
                dirs.insert(rel);
                stack.push(path);
            } else {
                assert!(
                    ty.is_file(),
                    "{what} extracted {rel:?} as {ty:?}, not a file"
                );
                files.insert(rel);
            }
        }
    }

    let want_files: BTreeSet<String> = manifest
        .iter()
        .filter(|(_, src)| src.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    assert!(
        files == want_files,
        "{what} extracted {} files, the manifest has {}: extra {:?}, missing {:?}",
        files.len(),
        want_files.len(),
        files.difference(&want_files).take(20).collect::<Vec<_>>(),
        want_files.difference(&files).take(20).collect::<Vec<_>>()
    );
    let mut bufs = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    for (name, src) in manifest {
        let path = dest.join(name);
        match src {
            Some(src) => {
                if let Some(at) = first_difference(&path, src, &mut bufs)
                    .unwrap_or_else(|e| panic!("{what}: {name}: {e}"))
                {
                    panic!("{what}: {name} differs from its source at byte {at}");
                }
            }
            None => assert!(path.is_dir(), "{what}: {name} is not a folder"),
        }
    }
    // Every extracted folder is a manifest folder or lies above some entry.
    let mut expected_dirs = BTreeSet::new();
    for (name, src) in manifest {
        let mut parts: Vec<&str> = name.trim_end_matches('/').split('/').collect();
        if src.is_some() {
            parts.pop(); // a file: only the folders above it
        }
        for i in 1..=parts.len() {
            expected_dirs.insert(parts[..i].join("/"));
        }
    }
    let unexpected: Vec<_> = dirs.difference(&expected_dirs).collect();
    assert!(
        unexpected.is_empty(),
        "{what} extracted unexpected folders {unexpected:?}"
    );
}

/// Where two files first differ (`None`: same bytes), read in chunks through `bufs` so
/// multi-gigabyte entries cost no memory.
fn first_difference(
    a: &Path,
    b: &Path,
    (buf_a, buf_b): &mut (Vec<u8>, Vec<u8>),
) -> std::io::Result<Option<u64>> {
    let (mut a, mut b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, buf_a)?;
        let m = read_full(&mut b, buf_b)?;
        if buf_a[..n] != buf_b[..m] {
            let same = buf_a[..n]
                .iter()
                .zip(&buf_b[..m])
                .take_while(|(x, y)| x == y);
            return Ok(Some(offset + same.count() as u64));
        }
        if n == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_full(f: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            k => filled += k,
        }
    }
    Ok(filled)
}
