//! Listing → entries: which objects become which entries, in which order.

use std::collections::HashSet;

use super::naming::{entry_name, unique_name};
use crate::zip::{archive_size, EncodeError, EntryKind, EntryMeta};

/// One object as the listing describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub key: String,
    pub size: u64,
    pub mtime_unix: Option<i64>,
}

/// One entry of the archive and the object it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEntry {
    pub key: String,
    pub name: String,
    pub kind: EntryKind,
    pub mtime_unix: Option<i64>,
}

impl PlannedEntry {
    pub fn meta(&self) -> EntryMeta {
        EntryMeta::new(&self.name, self.kind, self.mtime_unix)
    }

    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::File { size } => size,
            EntryKind::Directory => 0,
        }
    }
}

/// The entries of one archive, in listing order, plus what was skipped or renamed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub entries: Vec<PlannedEntry>,
    /// Keys whose name came out empty (e.g. `../`).
    pub skipped: Vec<String>,
    /// `(key, name)` of keys whose natural name was taken by an earlier key.
    pub renamed: Vec<(String, String)>,
}

impl Plan {
    /// Keys ending in `/` become folder entries (so empty folders survive); the
    /// `source-dir` marker itself is the archive's root and is left out silently.
    pub fn build(sources: impl IntoIterator<Item = Source>, source_dir: Option<&str>) -> Plan {
        let mut plan = Plan::default();
        let mut taken = HashSet::new();
        for src in sources {
            let is_dir = src.key.ends_with('/');
            let Some(natural) = entry_name(&src.key, source_dir) else {
                if source_dir != Some(src.key.as_str()) {
                    plan.skipped.push(src.key);
                }
                continue;
            };
            if is_dir && taken.contains(&natural) {
                continue; // the same folder twice is one folder
            }
            let name = unique_name(&natural, &mut taken);
            if name != natural {
                plan.renamed.push((src.key.clone(), name.clone()));
            }
            let kind = if is_dir {
                EntryKind::Directory
            } else {
                EntryKind::File { size: src.size }
            };
            plan.entries.push(PlannedEntry {
                key: src.key,
                name,
                kind,
                mtime_unix: src.mtime_unix,
            });
        }
        plan
    }

    /// Sum of the sizes of the objects to read.
    pub fn source_bytes(&self) -> u64 {
        self.entries.iter().map(PlannedEntry::size).sum()
    }

    /// Exact size of the archive this plan produces.
    pub fn archive_size(&self) -> Result<u64, EncodeError> {
        let metas: Vec<EntryMeta> = self.entries.iter().map(PlannedEntry::meta).collect();
        archive_size(&metas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(key: &str, size: u64) -> Source {
        Source {
            key: key.into(),
            size,
            mtime_unix: Some(1_700_000_000),
        }
    }

    #[test]
    fn builds_entries_in_listing_order() {
        let plan = Plan::build(
            [
                src("f/", 0),
                src("f/a.txt", 3),
                src("f/sub/", 0),
                src("f/sub/b", 5),
                src("f/../", 0),
                src("f/A.txt", 1),
                src("f//a.txt", 2),
            ],
            Some("f/"),
        );
        let names: Vec<&str> = plan.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.txt", "sub/", "sub/b", "A.txt", "a (2).txt"]);
        assert_eq!(plan.entries[1].kind, EntryKind::Directory);
        assert_eq!(plan.skipped, ["f/../"]);
        assert_eq!(
            plan.renamed,
            [("f//a.txt".to_string(), "a (2).txt".to_string())]
        );
        assert_eq!(plan.source_bytes(), 11);
    }
}
