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
        let allowed = affinity()?;
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &allowed) })
            .collect();
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
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_ZERO(&mut set) };
    set
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

fn list(set: &libc::cpu_set_t) -> String {
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
