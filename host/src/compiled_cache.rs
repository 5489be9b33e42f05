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
    let usable = match writable_by_others(dir, &path) {
        None => true,
        Some(whose) => {
            tracing::warn!(dir = %dir.display(), "compiled-component cache not used: {whose}");
            false
        }
    };
    if usable && path.is_file() {
        // SAFETY: the file is native code run as is. It is one this module wrote
        // (serialized by this wasmtime, for an engine with the same compatibility hash),
        // in a folder and file only this user can write (checked just above); wasmtime
        // checks its header and version before using it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), "compiled component unusable, compiling again: {err:#}")
            }
        }
    }
    let component = Component::new(engine, wasm()?).map_err(anyhow::Error::from)?;
    if usable {
        if let Err(err) = store(&component, dir, &path) {
            tracing::warn!(dir = %dir.display(), "compiled component not cached: {err:#}");
        }
    }
    Ok(component)
}

/// Why code from `dir` must not be run: it or the file is writable by, or belongs to,
/// someone else (`HOME=/tmp` puts the folder under a world-writable one, where another
/// user could plant native code). `None` when both are this user's alone, or absent yet.
#[cfg(unix)]
fn writable_by_others(dir: &Path, file: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for path in [dir, file] {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        if meta.uid() != me {
            return Some(format!("{} belongs to uid {}", path.display(), meta.uid()));
        }
        if meta.mode() & 0o022 != 0 {
            return Some(format!("{} is writable by others", path.display()));
        }
    }
    None
}

#[cfg(not(unix))]
fn writable_by_others(_dir: &Path, _file: &Path) -> Option<String> {
    None
}

/// The SHA-256 of `bytes`, hex: the key of a component given as a file or bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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
    hex(&feed.0.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Written to a file of its own and renamed into place, so that a second process starting
/// at the same time never maps half a file.
fn store(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    private_dir(dir).context("creating the cache folder")?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    private_file(&tmp, &bytes).context("writing the compiled component")?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    prune(dir);
    Ok(())
}

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
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, bytes)
}

/// Compiled components the folder keeps: every rebuild of the binary adds one (~9 MiB).
const KEPT: usize = 8;

/// Deletes all but the [`KEPT`] newest compiled components (a process still running one
/// keeps its mapping: deleting a mapped file does not unmap it).
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
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
        let sha = sha256_hex(&wasm);
        load_or_compile(&engine, dir.path(), &sha, || Ok(Cow::Borrowed(&wasm[..]))).unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"not a compiled component").unwrap();
        let mut compiled = false;
        load_or_compile(&engine, dir.path(), &sha, || {
            compiled = true;
            Ok(Cow::Borrowed(&wasm[..]))
        })
        .unwrap();
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
        let sha = sha256_hex(&wasm);
        load_or_compile(&engine, &cache, &sha, || Ok(Cow::Borrowed(&wasm[..]))).unwrap();
        let file = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cache), mode(&file)), (0o700, 0o600));
        for (path, loose) in [(&file, 0o666), (&cache, 0o777)] {
            let before = mode(path);
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).unwrap();
            let mut compiled = false;
            load_or_compile(&engine, &cache, &sha, || {
                compiled = true;
                Ok(Cow::Borrowed(&wasm[..]))
            })
            .unwrap();
            assert!(compiled, "{} {loose:o}: the file was run", path.display());
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(before)).unwrap();
        }
    }

    fn wat_bytes() -> Vec<u8> {
        WAT.as_bytes().to_vec()
    }
}
