//! The objects to pack: every page of each `source-dir` listing, or each `source-files`
//! key looked up, several at once. A key met twice is packed once.
//!
//! Several prefixes are listed at once (each one's pages in turn, as continuation tokens
//! require), and their objects kept in the request's order whatever order the pages come
//! in: pages of a prefix listed ahead of the first unfinished one wait, so a key under two
//! prefixes is packed under the first, as listing them one after the other would.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::plan::{PackRequest, Source};
use crate::store::{ETag, ListPage};

#[derive(Debug, Default)]
pub(crate) struct Listing {
    sources: Vec<Source>,
    /// The keys met so far, as indices into `sources` hashed by key: a set of the keys
    /// themselves held a second copy of every key while listing.
    seen: HashTable<usize>,
    hasher: std::hash::RandomState,
    /// Per `source-dir` prefix: objects listed while an earlier prefix was unfinished.
    ahead: Vec<Vec<Source>>,
    /// Per prefix: its last page came.
    listed: Vec<bool>,
    /// The first prefix not wholly added to `sources`; the next prefix to start listing.
    front: usize,
    next_prefix: usize,
    /// `source-files` lookups, by index; the next to start; how many are back.
    heads: Vec<Option<Source>>,
    next_head: usize,
    heads_back: usize,
}

impl Listing {
    pub fn new(req: &PackRequest) -> Listing {
        let prefixes = if req.source_files.is_empty() {
            req.source_dir.len()
        } else {
            0
        };
        Listing {
            ahead: vec![Vec::new(); prefixes],
            listed: vec![false; prefixes],
            heads: vec![None; req.source_files.len()],
            ..Listing::default()
        }
    }

    /// The next prefix to start listing, if any is left.
    pub fn next_prefix(&mut self) -> Option<usize> {
        (self.next_prefix < self.listed.len()).then(|| {
            self.next_prefix += 1;
            self.next_prefix - 1
        })
    }

    /// Prefixes started and not wholly listed.
    pub fn prefixes_in_flight(&self) -> usize {
        self.listed[..self.next_prefix]
            .iter()
            .filter(|done| !**done)
            .count()
    }

    /// Whether every prefix is listed.
    pub fn prefixes_done(&self) -> bool {
        self.front == self.listed.len()
    }

    /// A page of the listing of prefix number `index`, named `prefix`; `last` if no page
    /// of it follows.
    pub fn add_page(&mut self, index: usize, prefix: &str, page: ListPage, last: bool) {
        let base: Arc<str> = prefix.into();
        let sources = page.objects.into_iter().map(|o| Source {
            key: o.key,
            size: o.size,
            mtime_unix: o.last_modified_unix,
            base: base.clone(),
            name: None,
            etag: o.etag.as_deref().map(ETag::new),
        });
        if index == self.front {
            sources.for_each(|s| self.add(s));
        } else {
            self.ahead[index].extend(sources);
        }
        self.listed[index] |= last;
        // The prefixes after a finished front are added as far as they came.
        while self.front < self.listed.len() && self.listed[self.front] {
            self.front += 1;
            if let Some(waiting) = self.ahead.get_mut(self.front) {
                std::mem::take(waiting)
                    .into_iter()
                    .for_each(|s| self.add(s));
            }
        }
    }

    /// Keeps `source` unless its key was met before.
    fn add(&mut self, source: Source) {
        let (seen, sources, hasher) = (&mut self.seen, &self.sources, &self.hasher);
        let hash = hasher.hash_one(source.key.as_str());
        if seen.find(hash, |&i| sources[i].key == source.key).is_some() {
            return;
        }
        seen.insert_unique(hash, sources.len(), |&i| {
            hasher.hash_one(sources[i].key.as_str())
        });
        self.sources.push(source);
    }

    /// The next `source-files` index to look up, if any is left.
    pub fn next_head(&mut self) -> Option<usize> {
        (self.next_head < self.heads.len()).then(|| {
            self.next_head += 1;
            self.next_head - 1
        })
    }

    pub fn head_back(&mut self, index: usize, source: Source) {
        self.heads[index] = Some(source);
        self.heads_back += 1;
    }

    pub fn heads_in_flight(&self) -> usize {
        self.next_head - self.heads_back
    }

    pub fn heads_done(&self) -> bool {
        self.heads_back == self.heads.len()
    }

    /// Every source, in listing order (lookups in the request's order).
    pub fn finish(mut self, req: &PackRequest) -> Vec<Source> {
        let heads = std::mem::take(&mut self.heads);
        for (file, found) in req.source_files.iter().zip(heads) {
            let Some(mut s) = found else { continue };
            s.base = req
                .source_dir
                .iter()
                .find(|d| s.key.starts_with(d.as_str()))
                .map(|d| d.as_str().into())
                .unwrap_or_default();
            s.name = file.name().map(str::to_string);
            self.add(s);
        }
        self.sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(keys: &[&str]) -> ListPage {
        crate::store::test_page(keys, &[])
    }

    #[test]
    fn a_key_met_twice_is_kept_once_under_its_first_prefix() {
        let req = PackRequest::from_json(br#"{"bucket":"b","source-dir":["a/","a/b/"]}"#).unwrap();
        let mut listing = Listing::new(&req);
        listing.add_page(0, "a/", page(&["a/1", "a/b/c", "a/2"]), true);
        listing.add_page(1, "a/b/", page(&["a/b/c", "a/b/d"]), true);
        let sources = listing.finish(&req);
        let keys: Vec<(&str, &str)> = sources.iter().map(|s| (s.key.as_str(), &*s.base)).collect();
        assert_eq!(
            keys,
            [
                ("a/1", "a/"),
                ("a/b/c", "a/"),
                ("a/2", "a/"),
                ("a/b/d", "a/b/")
            ]
        );
    }

    #[test]
    fn a_key_looked_up_twice_is_kept_once_relative_to_its_prefix() {
        let req = PackRequest::from_json(
            br#"{"bucket":"b","source-dir":["a/","a/b/"],"source-files":["a/b/c","x/y","a/b/c"]}"#,
        )
        .unwrap();
        let mut listing = Listing::new(&req);
        assert_eq!(listing.next_prefix(), None, "lookups list nothing");
        while let Some(i) = listing.next_head() {
            let key = req.source_files[i].key();
            let s = Source {
                key: key.into(),
                size: 1,
                ..Source::default()
            };
            listing.head_back(i, s);
        }
        assert!(listing.heads_done());
        let sources = listing.finish(&req);
        let keys: Vec<(&str, &str)> = sources.iter().map(|s| (s.key.as_str(), &*s.base)).collect();
        assert_eq!(keys, [("a/b/c", "a/"), ("x/y", "")]);
    }

    /// Pages of three prefixes coming in any order give the objects of listing them one
    /// after the other; a key under two prefixes stays under the first.
    #[test]
    fn prefixes_listed_at_once_keep_the_requests_order() {
        let req =
            PackRequest::from_json(br#"{"bucket":"b","source-dir":["a/","a/b/","c/"]}"#).unwrap();
        let pages: [(usize, &str, &[&str], bool); 6] = [
            (0, "a/", &["a/1", "a/b/c"], false),
            (0, "a/", &["a/b/d", "a/z"], true),
            (1, "a/b/", &["a/b/c"], false),
            (1, "a/b/", &["a/b/d", "a/b/e"], true),
            (2, "c/", &["c/1"], false),
            (2, "c/", &["c/2", "a/1"], true),
        ];
        let keys = |order: &[usize]| {
            let mut listing = Listing::new(&req);
            let mut started = Vec::new();
            while let Some(p) = listing.next_prefix() {
                started.push(p);
            }
            assert_eq!(started, [0, 1, 2]);
            for &i in order {
                let (index, prefix, keys, last) = pages[i];
                assert!(!listing.prefixes_done());
                listing.add_page(index, prefix, page(keys), last);
            }
            assert!(listing.prefixes_done());
            assert_eq!(listing.prefixes_in_flight(), 0);
            let sources = listing.finish(&req);
            sources
                .into_iter()
                .map(|s| format!("{}@{}", s.key, s.base))
                .collect::<Vec<_>>()
        };
        let in_turn = keys(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(
            in_turn,
            [
                "a/1@a/",
                "a/b/c@a/",
                "a/b/d@a/",
                "a/z@a/",
                "a/b/e@a/b/",
                "c/1@c/",
                "c/2@c/"
            ]
        );
        for order in [[4, 2, 5, 0, 3, 1], [2, 3, 4, 5, 0, 1], [0, 4, 2, 1, 5, 3]] {
            assert_eq!(keys(&order), in_turn, "pages in the order {order:?}");
        }
    }
}
