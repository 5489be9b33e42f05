//! How far a pack has come, for a driver that shows it (the CLI's progress bar).
//!
//! The component hands it to its host as the query of a small request (see
//! `component/src/progress.rs`), so the encoding is a query string both sides share here.

use super::reads::Reads;
use crate::plan::Plan;

/// Entries and object bytes packed so far, of the plan's totals (both 0 while listing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Entries whose bytes are all in the archive (files and folders, as the summary counts).
    pub entries_done: u64,
    pub entries_total: u64,
    /// Object bytes the archive has taken (each counted once, however often it was read).
    pub bytes_done: u64,
    pub bytes_total: u64,
}

impl Progress {
    /// Everything the plan holds, packed.
    pub fn complete(plan: &Plan) -> Progress {
        let (entries, bytes) = (plan.entries.len() as u64, plan.source_bytes());
        Progress {
            entries_done: entries,
            entries_total: entries,
            bytes_done: bytes,
            bytes_total: bytes,
        }
    }

    /// What the encoder has taken of the reads: the reads are in plan order, so every entry
    /// before the first unit not wholly taken is done (empty ones included).
    /// `copied`: object bytes the store copied so far (never read).
    pub(crate) fn of_reads(plan: &Plan, reads: &Reads, copied: u64) -> Progress {
        let mut progress = Progress::complete(plan);
        progress.bytes_done = reads.units.iter().map(|u| u.consumed).sum::<u64>() + copied;
        if let Some(u) = reads.units.iter().find(|u| u.consumed < u.len()) {
            progress.entries_done = u.entry as u64;
        }
        progress
    }

    /// `entries=3/10&bytes=1024/4096`.
    pub fn to_query(&self) -> String {
        format!(
            "entries={}/{}&bytes={}/{}",
            self.entries_done, self.entries_total, self.bytes_done, self.bytes_total
        )
    }

    /// The inverse of [`Progress::to_query`]; `None` for anything else.
    pub fn from_query(query: &str) -> Option<Progress> {
        let mut progress = Progress::default();
        let (mut entries, mut bytes) = (false, false);
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=')?;
            let (done, total) = value.split_once('/')?;
            let (done, total) = (done.parse().ok()?, total.parse().ok()?);
            match name {
                "entries" => {
                    (progress.entries_done, progress.entries_total) = (done, total);
                    entries = true;
                }
                "bytes" => {
                    (progress.bytes_done, progress.bytes_total) = (done, total);
                    bytes = true;
                }
                _ => {}
            }
        }
        (entries && bytes).then_some(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips() {
        let p = Progress {
            entries_done: 3,
            entries_total: 10,
            bytes_done: 1 << 40,
            bytes_total: u64::MAX,
        };
        assert_eq!(Progress::from_query(&p.to_query()), Some(p));
        assert_eq!(
            Progress::from_query("entries=0/0&bytes=0/0"),
            Some(Progress::default())
        );
        for bad in [
            "",
            "entries=1/2",
            "entries=1/2&bytes=x/3",
            "bytes=1&entries=1/2",
        ] {
            assert_eq!(Progress::from_query(bad), None, "{bad}");
        }
    }
}
