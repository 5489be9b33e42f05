//! `--scenario copy`: copy, don't carry. The same large objects packed three times into
//! other keys: first with records on (no record yet: the host hashes each large object,
//! the store copies it, and a record of each is written), then again (the store copies
//! what the records allow, nothing hashed), then with copy off, the reference. Both
//! copied archives must be the reference's byte for byte. The first pack and the last say
//! when their first part reached the store: the hashing runs beside the writing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{measure_into, Scenario, BUCKET, HEADER};

const RECORDS: &str = ".zip-oss/crc/";

pub fn run(exe: &Path, endpoint: &str, dir: &Path, s: &Scenario) -> anyhow::Result<()> {
    let records = ["--crc-records", RECORDS];
    println!("{HEADER}");
    let (first, first_part) = watching_parts(dir, || {
        measure_into(exe, endpoint, s, "out/copy-first.zip", &records)
    })?;
    println!(
        "{}",
        first.row.replacen(
            &s.name,
            "first pack: hashed by the host, copied, records written",
            1
        )
    );
    let second = measure_into(exe, endpoint, s, "out/copy-second.zip", &records)?;
    println!(
        "{}",
        second
            .row
            .replacen(&s.name, "second pack: copied by the records", 1)
    );
    let (off, off_part) = watching_parts(dir, || {
        measure_into(exe, endpoint, s, "out/copy-off.zip", &["--copy", "false"])
    })?;
    println!("{}", off.row.replacen(&s.name, "copy off", 1));
    let bucket = dir.join(BUCKET).join("out");
    let reference = std::fs::read(bucket.join("copy-off.zip"))?;
    for copied in ["copy-first.zip", "copy-second.zip"] {
        if std::fs::read(bucket.join(copied))? != reference {
            bail!("{copied} differs from the archive packed with copy off");
        }
    }
    let total = second.mib_read + second.mib_copied;
    println!();
    println!(
        "{}: the second pack carried {:.0} MiB ({:.1}%) and had the store copy {:.0} MiB; \
         {:.2} s and {:.2} CPU-s against {:.2} s and {:.2} CPU-s with copy off; the first \
         {:.0} MiB carried and {:.0} MiB read by the host only to hash (the second: {:.0}), \
         {:.2} s and {:.2} CPU-s; the archives are identical. \
         The first part was in the store {} s after the first pack started, {} s after the \
         one with copy off did.",
        s.name,
        second.mib_read,
        100.0 * second.mib_read / total,
        second.mib_copied,
        second.secs,
        second.cpu_s,
        off.secs,
        off.cpu_s,
        first.mib_read,
        first.mib_hashed,
        second.mib_hashed,
        first.secs,
        first.cpu_s,
        seconds(first_part),
        seconds(off_part),
    );
    Ok(())
}

fn seconds(at: Option<f64>) -> String {
    at.map_or("(not seen)".into(), |s| format!("{s:.2}"))
}

/// Runs `pack` while watching the store's folder `dir` for its first part (s3s-fs keeps
/// each as a file named `…part-<n>` at the root until the completion): the seconds from
/// the start until one appeared, polled every 5 ms.
fn watching_parts<T>(
    dir: &Path,
    pack: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, Option<f64>)> {
    let done = Arc::new(AtomicBool::new(false));
    let before: Vec<_> = parts_in(dir);
    let watcher = {
        let (dir, done) = (dir.to_path_buf(), done.clone());
        let started = Instant::now();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if parts_in(&dir).iter().any(|p| !before.contains(p)) {
                    return Some(started.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        })
    };
    let packed = pack();
    done.store(true, Ordering::Relaxed);
    let first = watcher.join().unwrap_or(None);
    Ok((packed?, first))
}

fn parts_in(dir: &Path) -> Vec<std::ffi::OsString> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n.to_string_lossy().contains(".part-"))
        .collect()
}
