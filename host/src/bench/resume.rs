//! `--scenario resume`: what a lost pack costs when it is run again. The 1 GiB scenario is
//! packed whole; then packed again into another key and killed with `SIGKILL` once half of
//! its parts are in the store; then, once its lease is over, the same command is run
//! again and resumes. All three against the same store, one after the other.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::{measure_into, pack_command, Scenario, HEADER};

/// Short, so the bench does not wait long for the dead pack's lease to run out.
const LEASE_S: u64 = 2;

pub fn run(exe: &Path, endpoint: &str, dir: &Path, s: &Scenario) -> anyhow::Result<()> {
    let lease = LEASE_S.to_string();
    // Carried: the parts the dead pack left are what a resume saves.
    let extra = ["--resume-lease", lease.as_str(), "--copy", "false"];
    println!("{HEADER}");
    let whole = measure_into(exe, endpoint, s, "out/whole.zip", &extra)?;
    println!("{}", whole.row.replacen(&s.name, "full pack", 1));

    let dest = "out/resumed.zip";
    let started = Instant::now();
    let mut child = pack_command(exe, endpoint, s, dest)
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .context("starting the pack to kill")?;
    let half = whole.parts.div_ceil(2);
    let listed = loop {
        if let Some(status) = child.try_wait()? {
            bail!("the pack ended ({status}) before half its parts were up");
        }
        let listed = stored_parts(dir)?;
        if listed >= half {
            child.kill()?;
            child.wait()?;
            break listed;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let killed_after = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(LEASE_S + 1));

    let resumed = measure_into(exe, endpoint, s, dest, &extra)?;
    println!("{}", resumed.row.replacen(&s.name, "resumed pack", 1));
    println!();
    println!(
        "Killed after {killed_after:.2} s with {listed} of {} parts in the store; the \
         resumed pack kept {} and took {:.2} s, {:.0}% of the full pack's {:.2} s.",
        whole.parts,
        resumed.resumed_parts,
        resumed.secs,
        100.0 * resumed.secs / whole.secs,
        whole.secs,
    );
    Ok(())
}

/// Parts of open uploads in the embedded store: s3s-fs keeps each as a file
/// `.upload_id-<id>.part-<n>` at the top of its folder.
fn stored_parts(dir: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        n += u64::from(name.starts_with(".upload_id-") && name.contains(".part-"));
    }
    Ok(n)
}
