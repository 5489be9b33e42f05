//! A folder's entries in key order, read once and kept while the folder is unchanged.
//!
//! A listing page starts where the last ended, but a folder can only be read whole and
//! unsorted: reading and sorting it for every page made listing a folder of n keys cost
//! n²/1,000 entries (a 10,000-key folder's ten pages read 100,000 entries, a
//! 100,000-key folder's hundred pages ten million). A copy kept per folder makes each page
//! cost its own size.
//!
//! The copy is trusted while the folder's modification time is the one it was read at,
//! and only if it was read well after that time: the kernel stamps a change with a clock
//! that ticks every few milliseconds, so a file added within the same tick as an earlier
//! change leaves the time as it was ("racy" timestamps, as git's index handles them). A
//! copy read that close to a change is used once and not kept.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A folder entry: its name (with `/` after a folder's, so entries sort as their keys) and
/// whether it is a folder (a symlink is not followed, as `read_dir` reports it).
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// Folders smaller than this are read again each time: cheap, and not worth the memory.
const KEEP_FROM: usize = 1_000;
/// Folders kept at once; the oldest kept is dropped first.
const KEPT: usize = 32;
/// How long after a folder's last change its entries may be kept (several clock ticks).
const SETTLED: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Kept {
    folders: HashMap<PathBuf, (SystemTime, Arc<Vec<Entry>>)>,
    order: VecDeque<PathBuf>,
}

static KEPT_FOLDERS: Mutex<Option<Kept>> = Mutex::new(None);

/// `dir`'s entries sorted by key: the kept copy if the folder is unchanged, else read.
pub fn sorted(dir: &Path) -> std::io::Result<Arc<Vec<Entry>>> {
    let modified = std::fs::metadata(dir)?.modified()?;
    if let Some(kept) = lock().as_ref().and_then(|k| k.folders.get(dir)) {
        if kept.0 == modified {
            return Ok(kept.1.clone());
        }
    }
    let read_at = SystemTime::now();
    let entries = Arc::new(read_sorted(dir)?);
    let settled = read_at
        .duration_since(modified)
        .is_ok_and(|since| since > SETTLED);
    if settled && entries.len() >= KEEP_FROM {
        let mut guard = lock();
        let kept = guard.get_or_insert_with(Kept::default);
        if kept
            .folders
            .insert(dir.to_path_buf(), (modified, entries.clone()))
            .is_none()
        {
            kept.order.push_back(dir.to_path_buf());
        }
        while kept.order.len() > KEPT {
            let oldest = kept.order.pop_front().expect("non-empty");
            kept.folders.remove(&oldest);
        }
    }
    Ok(entries)
}

fn lock() -> std::sync::MutexGuard<'static, Option<Kept>> {
    // A panic while holding it left nothing half-done worth refusing to read.
    KEPT_FOLDERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_sorted(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let is_dir = entry.file_type()?.is_dir();
        let name = if is_dir { format!("{name}/") } else { name };
        entries.push(Entry { name, is_dir });
    }
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        sorted(dir)
            .unwrap()
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    /// A kept folder is read again once a file is added or removed, even right after it
    /// was kept (the kept copy was read long after the folder's last change).
    #[test]
    fn a_changed_folder_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..KEEP_FROM {
            std::fs::write(dir.path().join(format!("f{i:05}")), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::thread::sleep(SETTLED * 2);
        let first = sorted(dir.path()).unwrap();
        assert_eq!(first.len(), KEEP_FROM + 1);
        assert!(Arc::ptr_eq(&first, &sorted(dir.path()).unwrap()), "kept");
        assert_eq!(names(dir.path()).last().unwrap(), "sub/");
        std::fs::write(dir.path().join("f99999"), b"").unwrap();
        let after_add = names(dir.path());
        assert_eq!(after_add.len(), KEEP_FROM + 2);
        assert_eq!(after_add[KEEP_FROM], "f99999");
        std::fs::remove_file(dir.path().join("f00000")).unwrap();
        let after_remove = names(dir.path());
        assert_eq!(after_remove.len(), KEEP_FROM + 1);
        assert_eq!(after_remove[0], "f00001");
    }

    /// A folder whose time is not well before the read is not kept: another change
    /// within the same clock tick would leave its time as it was.
    #[test]
    fn a_folder_just_changed_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..KEEP_FROM {
            std::fs::write(dir.path().join(format!("f{i:05}")), b"").unwrap();
        }
        // As if changed a moment before the read, however slow the machine.
        let soon = SystemTime::now() + Duration::from_secs(60);
        std::fs::File::open(dir.path())
            .unwrap()
            .set_modified(soon)
            .unwrap();
        let first = sorted(dir.path()).unwrap();
        assert!(!Arc::ptr_eq(&first, &sorted(dir.path()).unwrap()));
    }
}
