//! Each pack's RSS counts the pages of the binary and of the compiled component that the
//! kernel maps into it, and it mapped more of them while those files were freshly written
//! than once their pages had been dropped and read back: the same build measured
//! 48 MiB right after it was made and 42 MiB once its files had left the page cache, with
//! the same 22 MiB of anonymous memory (BENCHMARKS.md). So a build compared with an older
//! one looked 5 MiB heavier for nothing. Before each pack the bench asks the kernel to drop
//! those files' cached pages that no process has mapped, so every pack starts from the
//! same state: only what it runs is read back in.

use std::path::{Path, PathBuf};

/// Drops what can be dropped of `exe`'s cached pages and of every compiled component in
/// `cache_dir`. Best effort: a file that cannot be opened is left as it is.
pub fn evict_pack_files(exe: &Path, cache_dir: Option<&Path>) {
    let mut files: Vec<PathBuf> = vec![exe.to_path_buf()];
    if let Some(entries) = cache_dir.and_then(|d| std::fs::read_dir(d).ok()) {
        files.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm")),
        );
    }
    for file in files {
        evict(&file);
    }
}

fn evict(path: &Path) {
    use std::os::fd::AsRawFd as _;
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    // SAFETY: an advice on a descriptor this function owns; it changes no memory of ours.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}
