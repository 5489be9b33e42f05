//! Listing → entries: which objects become which entries, under which names, stored how.

use std::collections::{BTreeSet, HashSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::compressibility::compressed_by_extension;
use super::entry_name::EntryName;
use super::naming::{entry_name, unique_name};
use super::request::{Compression, Folders, PackRequest};
use super::taken_names::TakenNames;
use crate::store::ETag;
use crate::zip::{
    archive_size_in, entry_overhead, EncodeError, EncodedName, EntryKind, EntryMeta, Layout,
    Method, NameEncoding,
};

/// One object as the listing (or a lookup) describes it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Source {
    pub key: String,
    pub size: u64,
    pub mtime_unix: Option<i64>,
    /// The prefix the name is relative to (the `source-dir` it was listed under), shared
    /// by every object listed under it.
    pub base: std::sync::Arc<str>,
    /// A name chosen by the request (`source-files` item with `name`).
    pub name: Option<String>,
    /// The version listed; every read must carry it (`If-Match`), so an object replaced
    /// after listing fails the pack instead of being packed with the wrong size or bytes.
    pub etag: Option<ETag>,
}

/// One entry of the archive and the object it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlannedEntry {
    /// The object's key; empty for a folder entry no object stands for.
    pub key: String,
    /// [`PlannedEntry::name`]: usually the key's tail, so kept as where it starts.
    name: EntryName,
    pub kind: EntryKind,
    pub mtime_unix: Option<i64>,
    pub method: Method,
    /// `auto` compression: store instead if the leading bytes show compressed data.
    pub sniff: bool,
    pub name_encoding: NameEncoding,
    /// The listed version of the object (see [`Source::etag`]).
    pub etag: Option<ETag>,
}

impl PlannedEntry {
    /// A stored file entry named as its key, with ETag `e`: what the engine's unit tests
    /// pack.
    #[cfg(test)]
    pub(crate) fn stored_file(key: &str, size: u64) -> PlannedEntry {
        PlannedEntry {
            key: key.into(),
            name: EntryName::KeyTail(0),
            kind: EntryKind::File { size },
            mtime_unix: None,
            method: Method::Stored,
            sniff: false,
            name_encoding: NameEncoding::Utf8,
            etag: Some(ETag::new("e")),
        }
    }

    /// The entry's name in the archive.
    pub fn name(&self) -> &str {
        self.name.of(&self.key)
    }

    pub fn meta(&self) -> EntryMeta {
        let name = EncodedName::new(self.name(), self.name_encoding);
        EntryMeta::named(name, self.kind, self.mtime_unix).with_method(self.method)
    }

    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::File { size } => size,
            EntryKind::Directory => 0,
        }
    }

    /// Whether the entry's data must be read from the store.
    pub fn has_data(&self) -> bool {
        self.size() > 0
    }
}

/// How the request shapes the plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    pub compression: Compression,
    pub deflate_level: u32,
    pub name_encoding: NameEncoding,
    pub folders: Folders,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl PlanOptions {
    /// The options a request asks for; its patterns were checked by `validate`.
    pub fn from_request(req: &PackRequest) -> Result<Self, globset::Error> {
        Ok(PlanOptions {
            compression: req.compression,
            deflate_level: req.deflate_level(),
            name_encoding: req.name_encoding,
            folders: req.folders,
            include: glob_set(&req.include)?,
            exclude: glob_set(&req.exclude)?,
        })
    }

    fn keeps(&self, name: &str, is_dir: bool) -> bool {
        let path = name.trim_end_matches('/');
        if self.exclude.as_ref().is_some_and(|g| g.is_match(path)) {
            return false;
        }
        is_dir || self.include.as_ref().is_none_or(|g| g.is_match(path))
    }

    fn method_for(&self, name: &str) -> (Method, bool) {
        let deflate = Method::Deflate {
            level: self.deflate_level,
        };
        match self.compression {
            Compression::Stored => (Method::Stored, false),
            Compression::Deflate => (deflate, false),
            Compression::Auto if compressed_by_extension(name) => (Method::Stored, false),
            Compression::Auto => (deflate, true),
        }
    }
}

fn glob_set(patterns: &[String]) -> Result<Option<GlobSet>, globset::Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p)?);
    }
    b.build().map(Some)
}

/// The entries of one archive, in listing order, plus what was skipped or renamed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub entries: Vec<PlannedEntry>,
    /// Keys whose name came out empty (e.g. `../`).
    pub skipped: Vec<String>,
    /// `(key, name)` of keys whose natural name was taken by an earlier key or a folder.
    pub renamed: Vec<(String, String)>,
}

impl Plan {
    /// Keys ending in `/` become folder entries (so empty folders survive); a
    /// `source-dir` marker itself is the archive's root and is left out silently.
    /// Filters leave entries out quietly; they are the request's own choice.
    pub fn build(sources: impl IntoIterator<Item = Source>, opts: &PlanOptions) -> Plan {
        // A `Vec` is taken as it is (no copy).
        let sources: Vec<Source> = sources.into_iter().collect();
        let mut plan = Plan::default();
        let mut taken = TakenNames::default();
        // Two passes over the sources, each working their natural names out afresh, rather
        // than one keeping every name beside its source: the folders must all be known
        // before the first name is given out, and a list of `(Source, name)` pairs was a
        // second list of every object, and a second copy of its name, at the pack's peak
        // (BENCHMARKS, stop 33: ~15 bytes an object less at the peak).
        let natural_of = |src: &Source| match &src.name {
            Some(n) => entry_name(n, None),
            None => entry_name(&src.key, Some(&src.base)),
        };
        let is_dir = |src: &Source| src.key.ends_with('/') && src.name.is_none();
        // First: which sources become entries, and the archive's folders.
        let mut kept = Vec::with_capacity(sources.len());
        let mut folders: BTreeSet<String> = BTreeSet::new();
        for src in &sources {
            let Some(natural) = natural_of(src) else {
                if *src.key != *src.base {
                    plan.skipped.push(src.key.clone());
                }
                kept.push(false);
                continue;
            };
            let dir = is_dir(src);
            // Filtered out, or the same folder twice.
            let keep = opts.keeps(&natural, dir) && (!dir || taken.take_other(&[], &natural));
            kept.push(keep);
            if keep {
                // A file may not take a name that is also a folder of the archive.
                folders.extend(parents(&natural));
                if dir {
                    folders.insert(natural);
                }
            }
        }
        for folder in &folders {
            taken.take_other(&[], folder);
        }
        // Then the entries, named in listing order. Sized up front: a vector grown by
        // doubling leaves up to half its room unused, and guest memory, once touched,
        // stays (BENCHMARKS: `objects`).
        let mut emitted_folders: HashSet<String> = HashSet::new();
        plan.entries
            .reserve_exact(kept.iter().filter(|k| **k).count());
        for (src, _) in sources.into_iter().zip(kept).filter(|(_, keep)| *keep) {
            let natural = natural_of(&src).expect("kept sources have a name");
            let dir = is_dir(&src);
            let entries = &plan.entries;
            let name = if dir {
                natural.clone()
            } else {
                if !folders.is_empty() && folders.contains(&format!("{natural}/")) {
                    // The folder holds it: count it as taken.
                    taken.take_other(entries, &natural);
                }
                unique_name(&natural, |n| !taken.contains(entries, n))
            };
            if name != natural {
                plan.renamed.push((src.key.clone(), name.clone()));
            }
            if opts.folders == Folders::All {
                for parent in parents(&name) {
                    if emitted_folders.insert(parent.clone()) {
                        plan.entries
                            .push(folder(parent, String::new(), None, opts.name_encoding));
                    }
                }
            }
            if dir {
                if emitted_folders.insert(name.clone()) {
                    plan.entries
                        .push(folder(name, src.key, src.mtime_unix, opts.name_encoding));
                }
                continue;
            }
            let (method, sniff) = opts.method_for(&name);
            let index = plan.entries.len();
            plan.entries.push(PlannedEntry {
                name: EntryName::new(&src.key, name),
                key: src.key,
                kind: EntryKind::File { size: src.size },
                mtime_unix: src.mtime_unix,
                method,
                sniff,
                name_encoding: opts.name_encoding,
                etag: src.etag,
            });
            taken.take_entry(&plan.entries, index);
        }
        plan
    }

    /// Sum of the sizes of the objects to read.
    pub fn source_bytes(&self) -> u64 {
        self.entries.iter().map(PlannedEntry::size).sum()
    }

    /// Exact size of the archive this plan produces with data descriptors (as streamed),
    /// when it is known in advance (all stored).
    pub fn archive_size(&self) -> Result<Option<u64>, EncodeError> {
        self.archive_size_in(Layout::Descriptors)
    }

    /// [`Plan::archive_size`] in either layout (uploaded archives are patched).
    pub fn archive_size_in(&self, layout: Layout) -> Result<Option<u64>, EncodeError> {
        // One at a time: a list of every entry's held each name once more.
        archive_size_in(self.entries.iter().map(PlannedEntry::meta), layout)
    }

    /// An upper bound of the archive's size whatever the compression does.
    pub fn archive_bound(&self) -> u64 {
        let worst = |e: &PlannedEntry| match e.method {
            Method::Stored => e.size(),
            Method::Deflate { .. } => e.size() + e.size() / 1024 + 64,
        };
        self.entries
            .iter()
            .map(|e| worst(e) + entry_overhead(e.name().len()))
            .sum::<u64>()
            + 98
    }

    /// Names stored as UTF-8 although GBK was asked for (GBK cannot represent them).
    pub fn utf8_fallbacks(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.name_encoding == NameEncoding::Gbk)
            .filter(|e| EncodedName::new(e.name(), e.name_encoding).fell_back_to_utf8)
            .map(|e| e.name().to_string())
            .collect()
    }
}

fn folder(
    name: String,
    key: String,
    mtime_unix: Option<i64>,
    name_encoding: NameEncoding,
) -> PlannedEntry {
    PlannedEntry {
        name: EntryName::new(&key, name),
        key,
        kind: EntryKind::Directory,
        mtime_unix,
        method: Method::Stored,
        sniff: false,
        name_encoding,
        etag: None,
    }
}

/// `a/b/c` → `a/`, `a/b/`.
fn parents(name: &str) -> Vec<String> {
    let trimmed = name.trim_end_matches('/');
    trimmed
        .match_indices('/')
        .map(|(i, _)| trimmed[..=i].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(key: &str, size: u64) -> Source {
        Source {
            key: key.into(),
            size,
            mtime_unix: Some(1_700_000_000),
            base: "f/".into(),
            name: None,
            etag: None,
        }
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.entries.iter().map(PlannedEntry::name).collect()
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
            &PlanOptions::default(),
        );
        assert_eq!(
            names(&plan),
            ["a.txt", "sub/", "sub/b", "A.txt", "a (2).txt"]
        );
        assert_eq!(plan.entries[1].kind, EntryKind::Directory);
        assert_eq!(plan.skipped, ["f/../"]);
        assert_eq!(
            plan.renamed,
            [("f//a.txt".to_string(), "a (2).txt".to_string())]
        );
        assert_eq!(plan.source_bytes(), 11);
    }

    #[test]
    fn a_file_never_takes_a_folders_name() {
        let plan = Plan::build([src("f/x", 1), src("f/x/y", 1)], &PlanOptions::default());
        assert_eq!(names(&plan), ["x (2)", "x/y"]);
    }

    #[test]
    fn all_folders_get_entries_before_their_contents() {
        let opts = PlanOptions {
            folders: Folders::All,
            ..PlanOptions::default()
        };
        let plan = Plan::build(
            [src("f/a/b/c.txt", 1), src("f/a/d.txt", 1), src("f/a/b/", 0)],
            &opts,
        );
        assert_eq!(names(&plan), ["a/", "a/b/", "a/b/c.txt", "a/d.txt"]);
    }

    #[test]
    fn filters_and_compression_choices() {
        let req: PackRequest =
            serde_json::from_str(r#"{"bucket":"b","source-dir":"f/","include":["**/*.txt","*.jpg"],"exclude":["tmp/**"],"compression":"auto"}"#).unwrap();
        let opts = PlanOptions::from_request(&req).unwrap();
        let plan = Plan::build(
            [
                src("f/a.txt", 1),
                src("f/b.bin", 1),
                src("f/tmp/c.txt", 1),
                src("f/d/e.txt", 1),
                src("f/p.jpg", 1),
            ],
            &opts,
        );
        assert_eq!(names(&plan), ["a.txt", "d/e.txt", "p.jpg"]);
        assert_eq!(
            (plan.entries[0].method, plan.entries[0].sniff),
            (Method::Deflate { level: 6 }, true)
        );
        assert_eq!(
            (plan.entries[2].method, plan.entries[2].sniff),
            (Method::Stored, false)
        );
        assert_eq!(plan.archive_size().unwrap(), None);
        assert!(plan.archive_bound() > 3);
    }

    #[test]
    fn chosen_names_are_sanitised_too() {
        let s = Source {
            key: "k".into(),
            size: 1,
            name: Some("../../evil.txt".into()),
            ..Source::default()
        };
        let plan = Plan::build([s], &PlanOptions::default());
        assert_eq!(names(&plan), ["evil.txt"]);
    }
}
