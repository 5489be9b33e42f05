//! `bench --split-cores`: the store on one CPU, everything else on the others.
//!
//! On a shared machine the embedded store's own work (it spends about as much CPU per small
//! GET as the packer does) takes CPU from the packer, which a deployment's store, on other
//! machines, never does. Splitting the CPUs gives the store one of its own, for the
//! capacity clients and for each pack alike, so a ratio compares the packer with native
//! clients, not with the store's load. Linux only, as the bench's RSS sampling already is.

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::{bail, Context as _};

/// Which CPUs the store and everything else run on.
#[derive(Clone, Copy)]
pub struct Split {
    store: libc::cpu_set_t,
    rest: libc::cpu_set_t,
}

impl Split {
    /// The first CPU this process may use for the store, the rest for the others.
    pub fn new() -> anyhow::Result<Split> {
        let cpus = members(&affinity()?);
        if cpus.len() < 2 {
            bail!(
                "--split-cores needs at least two CPUs, this process may use {}",
                cpus.len()
            );
        }
        let mut store = empty();
        let mut rest = empty();
        unsafe { libc::CPU_SET(cpus[0], &mut store) };
        for &c in &cpus[1..] {
            unsafe { libc::CPU_SET(c, &mut rest) };
        }
        Ok(Split { store, rest })
    }

    /// A line for the report: which CPUs went where.
    pub fn describe(&self) -> String {
        format!(
            "Store on CPU {}; capacity clients and packs on CPU {}.",
            list(&self.store),
            list(&self.rest)
        )
    }

    /// Moves every thread of this process (and so every child it starts later) off the
    /// store's CPU.
    pub fn pin_this_process(&self) -> anyhow::Result<()> {
        for task in
            std::fs::read_dir("/proc/self/task").context("listing this process's threads")?
        {
            let tid: libc::pid_t = task?.file_name().to_string_lossy().parse()?;
            match set(tid, &self.rest) {
                // The thread ended since it was listed.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                other => other.context("moving a thread off the store's CPU")?,
            }
        }
        Ok(())
    }

    /// Starts `command` on the store's CPU alone.
    pub fn for_store(&self, command: &mut Command) {
        let store = self.store;
        // Between fork and exec: one system call on the child itself, nothing allocated.
        unsafe {
            command.pre_exec(move || {
                if libc::sched_setaffinity(0, std::mem::size_of_val(&store), &store) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

fn empty() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    unsafe { std::mem::zeroed() }
}

fn affinity() -> anyhow::Result<libc::cpu_set_t> {
    let mut set = empty();
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(std::io::Error::last_os_error()).context("reading this process's CPUs");
    }
    Ok(set)
}

fn set(tid: libc::pid_t, cpus: &libc::cpu_set_t) -> std::io::Result<()> {
    if unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(cpus), cpus) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs in `set`, lowest first.
fn members(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

fn list(set: &libc::cpu_set_t) -> String {
    let cpus: Vec<String> = members(set).iter().map(usize::to_string).collect();
    cpus.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own view of a process's CPUs, as `1` or `1,3`.
    fn allowed_list(status: &str) -> String {
        let line = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .expect("a Cpus_allowed_list line");
        let ranges = line["Cpus_allowed_list:".len()..].trim();
        let mut cpus = Vec::new();
        for range in ranges.split(',') {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            cpus.extend((a..=b).map(|c| c.to_string()));
        }
        cpus.join(",")
    }

    #[test]
    fn the_store_runs_on_its_cpu_alone_and_nothing_else_does() {
        let Ok(split) = Split::new() else {
            // One CPU: nothing to split, and `new` says so.
            assert_eq!(
                std::thread::available_parallelism().map_or(1, usize::from),
                1
            );
            return;
        };
        let (store, rest) = (members(&split.store), members(&split.rest));
        assert_eq!(store.len(), 1);
        assert!(!rest.is_empty() && !rest.contains(&store[0]));

        // A child started as the store is, asked by the kernel where it may run.
        let mut child = Command::new("cat");
        child.arg("/proc/self/status");
        split.for_store(&mut child);
        let out = child.output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            allowed_list(&String::from_utf8_lossy(&out.stdout)),
            list(&split.store)
        );
    }
}
