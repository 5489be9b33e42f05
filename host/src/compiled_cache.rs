//! Compiled components kept as files in the user's cache folder, loaded by mapping them.
//!
//! Why not wasmtime's own cache: it reads and zstd-decompresses the whole artifact into
//! anonymous memory at every start (8.7 MiB of this component, all resident) after hashing
//! the component's bytes (3.7 MiB more touched). A mapped file pages in only the code a
//! pack runs, and the kernel can drop those pages again; the embedded component's key is
//! hashed at build time, so its bytes are never read. A one-file pack starts at ~26 MiB of
//! RSS instead of ~33, ~50 ms sooner (BENCHMARKS.md).
//!
//! The key is the component's SHA-256 and wasmtime's compatibility hash (its version and
//! every setting that changes the code), so a rebuilt binary or another component never
//! loads a stale file. A file that fails to load is compiled again and replaced.

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components go: `ZIP_OSS_CACHE_DIR`, else `$XDG_CACHE_HOME/zip-oss`, else
/// `~/.cache/zip-oss`; `None` when none is set (then every start compiles).
pub fn default_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("ZIP_OSS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("zip-oss")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache/zip-oss")))
}

/// The compiled component for `wasm` (whose SHA-256 is `sha256`, hex), from `dir` when a
/// matching file is there, else compiled and stored there for the next start.
pub fn load_or_compile<'a>(
    engine: &Engine,
    dir: &Path,
    sha256: &str,
    wasm: impl FnOnce() -> anyhow::Result<Cow<'a, [u8]>>,
) -> anyhow::Result<Component> {
    let path = dir.join(format!("{}.cwasm", key(engine, sha256)));
    let private = match private_or_absent(dir) {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!("compiled-component cache not used: {why}");
            false
        }
    };
    if private {
        match open_private(&path) {
            Ok(Some(file)) => match load(engine, &path, file) {
                Ok(component) => return Ok(component),
                Err(err) => {
                    tracing::warn!(path = %path.display(), "compiled component unusable, compiling again: {err:#}")
                }
            },
            Ok(None) => {}
            Err(why) => tracing::warn!("compiled component not run, compiling again: {why}"),
        }
    }
    let component = Component::new(engine, wasm()?).map_err(anyhow::Error::from)?;
    if private {
        if let Err(err) = store(&component, dir, &path) {
            tracing::warn!(dir = %dir.display(), "compiled component not cached: {err:#}");
        }
    }
    Ok(component)
}

/// Maps the file already opened and checked (through `/proc/self/fd`, so the file checked
/// is the file mapped); reads it instead where mapping code is not allowed (a `noexec`
/// folder).
fn load(engine: &Engine, path: &Path, file: std::fs::File) -> anyhow::Result<Component> {
    #[cfg(target_os = "linux")]
    let mapped_path = {
        use std::os::fd::AsRawFd as _;
        PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
    };
    #[cfg(not(target_os = "linux"))]
    let mapped_path = path.to_path_buf();
    // SAFETY: the file is native code run as is. It is one this module wrote (serialized by
    // this wasmtime, for an engine with the same compatibility hash) in a folder, and as a
    // file, only this user can write (`private_or_absent`, `open_private`); wasmtime checks
    // its header, version and settings before using it.
    let mapped = unsafe { Component::deserialize_file(engine, &mapped_path) };
    let Err(err) = mapped else {
        return mapped.map_err(anyhow::Error::from);
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    // SAFETY: as above: the same checked file, read instead of mapped.
    unsafe { Component::deserialize(engine, &bytes) }
        .map_err(|_| anyhow::Error::from(err).context("mapping it failed, and so did reading it"))
}

/// `Err` with the reason when `dir` belongs to, or is writable by, someone else:
/// `HOME=/tmp` puts the folder under a world-writable one, where another user could plant
/// native code. A folder not there yet is fine: it is created private.
#[cfg(unix)]
fn private_or_absent(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) => owned_alone(dir, &meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The file, opened without following a symlink, if it is there and this user's alone.
#[cfg(unix)]
fn open_private(path: &Path) -> Result<Option<std::fs::File>, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    owned_alone(path, &meta).map(|()| Some(file))
}

#[cfg(unix)]
fn owned_alone(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("{} belongs to uid {}", path.display(), meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!("{} is writable by others", path.display()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_or_absent(_dir: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> Result<Option<std::fs::File>, String> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The SHA-256 of `bytes`, hex: the key of a component given as a file or bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn key(engine: &Engine, sha256: &str) -> String {
    // The compatibility hash is only `Hash`: fold it into SHA-256 through a hasher.
    struct Feed(Sha256);
    impl Hasher for Feed {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut feed = Feed(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut feed);
    feed.write(sha256.as_bytes());
    hex::encode(&feed.0.finalize()[..16])
}

/// Written to a new file of its own (named for this process, this call and the time: two
/// threads, or two containers that are each pid 1, never share one), synced, and renamed
/// into place, so that no process ever maps half a file, even after a power cut.
fn store(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    private_dir(dir).context("creating the cache folder")?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}.{call}.{nanos}{TMP}", std::process::id()));
    let written = private_file(&tmp, &bytes)
        .context("writing the compiled component")
        .and_then(|()| std::fs::rename(&tmp, path).context("renaming it into place"));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    prune(dir);
    Ok(())
}

/// How a file still being written ends: `prune` deletes those a killed process left.
const TMP: &str = ".tmp";

/// The folder, created readable and writable by this user alone (whatever the umask).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()
}

/// Compiled components the folder keeps: every rebuild of the binary adds one (~9 MiB).
const KEPT: usize = 8;

/// A file still being written after this long was left by a process that died.
const ABANDONED: Duration = Duration::from_secs(600);

/// Deletes all but the [`KEPT`] newest compiled components (a process still running one
/// keeps its mapping: deleting a mapped file does not unmap it), and abandoned temporaries.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let Some(modified) = entry.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if name.to_string_lossy().ends_with(TMP) {
            if modified.elapsed().is_ok_and(|age| age > ABANDONED) {
                let _ = std::fs::remove_file(&path);
            }
        } else if path.extension().is_some_and(|x| x == "cwasm") {
            files.push((modified, path));
        }
    }
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in files.into_iter().skip(KEPT) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = "(component (core module (func (export \"f\"))))";

    #[test]
    fn a_second_load_maps_the_file_the_first_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let wasm = wat_bytes();
        let sha = sha256_hex(&wasm);
        let mut compiled = 0;
        let mut compile = || {
            compiled += 1;
            Ok(Cow::Owned(wasm.clone()))
        };
        load_or_compile(&engine, dir.path(), &sha, &mut compile).unwrap();
        load_or_compile(&engine, dir.path(), &sha, &mut compile).unwrap();
        assert_eq!(compiled, 1, "the second load compiled again");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one file, no temporary left: {files:?}");
    }

    #[test]
    fn a_corrupt_file_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let wasm = wat_bytes();
        let file = cached(&engine, dir.path(), &wasm);
        std::fs::write(&file, b"not a compiled component").unwrap();
        let compiled = compiles(&engine, dir.path(), &wasm);
        assert!(compiled);
        assert!(std::fs::read(&file).unwrap().len() > 100, "not replaced");
    }

    #[test]
    fn another_component_or_engine_setting_is_another_file() {
        let engine = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        assert_ne!(key(&engine, "aa"), key(&engine, "ab"));
        assert_ne!(key(&engine, "aa"), key(&other, "aa"));
    }

    #[test]
    fn the_folder_keeps_the_newest_eight() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        for n in 0..10 {
            let wasm = format!("(component (core module (func (export \"f{n}\"))))");
            let sha = sha256_hex(wasm.as_bytes());
            load_or_compile(&engine, dir.path(), &sha, || {
                Ok(Cow::Owned(wasm.into_bytes()))
            })
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), KEPT);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_could_have_written_is_not_run() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let engine = Engine::default();
        let wasm = wat_bytes();
        let file = cached(&engine, &cache, &wasm);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cache), mode(&file)), (0o700, 0o600));
        for (path, loose) in [(&file, 0o666), (&cache, 0o777)] {
            let before = mode(path);
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).unwrap();
            let compiled = compiles(&engine, &cache, &wasm);
            assert!(compiled, "{} {loose:o}: the file was run", path.display());
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(before)).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_the_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, elsewhere) = (dir.path().join("cache"), dir.path().join("elsewhere"));
        let engine = Engine::default();
        let wasm = wat_bytes();
        let file = cached(&engine, &cache, &wasm);
        std::fs::rename(&file, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        let compiled = compiles(&engine, &cache, &wasm);
        assert!(compiled, "the symlink was followed");
        assert!(
            !std::fs::symlink_metadata(&file).unwrap().is_symlink(),
            "not replaced"
        );
    }

    #[test]
    fn threads_compiling_at_once_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let wasm = wat_bytes();
        let sha = sha256_hex(&wasm);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    load_or_compile(&engine, dir.path(), &sha, || Ok(Cow::Borrowed(&wasm[..])))
                        .unwrap();
                });
            }
        });
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let compiled = compiles(&engine, dir.path(), &wasm);
        assert!(!compiled, "the file left was not whole");
    }

    /// Compiles `wasm` into the empty cache `dir`: the one file written there.
    fn cached(engine: &Engine, dir: &Path, wasm: &[u8]) -> PathBuf {
        assert!(compiles(engine, dir, wasm));
        let mut files = std::fs::read_dir(dir).unwrap();
        let file = files.next().unwrap().unwrap().path();
        assert!(files.next().is_none());
        file
    }

    /// Loads `wasm` through the cache in `dir`: whether it had to be compiled.
    fn compiles(engine: &Engine, dir: &Path, wasm: &[u8]) -> bool {
        let mut compiled = false;
        load_or_compile(engine, dir, &sha256_hex(wasm), || {
            compiled = true;
            Ok(Cow::Borrowed(wasm))
        })
        .unwrap();
        compiled
    }

    fn wat_bytes() -> Vec<u8> {
        WAT.as_bytes().to_vec()
    }
}
