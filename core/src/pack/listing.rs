//! The objects to pack: every page of each `source-dir` listing, or each `source-files`
//! key looked up, several at once. A key met twice is packed once.

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
    /// `source-files` lookups, by index; the next to start; how many are back.
    heads: Vec<Option<Source>>,
    next_head: usize,
    heads_back: usize,
}

impl Listing {
    pub fn new(req: &PackRequest) -> Listing {
        Listing {
            heads: vec![None; req.source_files.len()],
            ..Listing::default()
        }
    }

    /// A page of the listing of `prefix`.
    pub fn add_page(&mut self, prefix: &str, page: ListPage) {
        let base: Arc<str> = prefix.into();
        for o in page.objects {
            self.add(Source {
                key: o.key,
                size: o.size,
                mtime_unix: o.last_modified_unix,
                base: base.clone(),
                name: None,
                etag: o.etag.as_deref().map(ETag::new),
            });
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
        let req = PackRequest::from_json(
            br#"{"bucket":"b","source-dir":["a/","a/b/"],"source-files":["a/b/c","x/y"]}"#,
        )
        .unwrap();
        let mut listing = Listing::new(&req);
        listing.add_page("a/", page(&["a/1", "a/b/c", "a/2"]));
        listing.add_page("a/b/", page(&["a/b/c", "a/b/d"]));
        for key in ["a/b/c", "x/y"] {
            let i = listing.next_head().unwrap();
            let s = Source {
                key: key.into(),
                size: 1,
                ..Source::default()
            };
            listing.head_back(i, s);
        }
        let sources = listing.finish(&req);
        let keys: Vec<(&str, &str)> = sources.iter().map(|s| (s.key.as_str(), &*s.base)).collect();
        assert_eq!(
            keys,
            [
                ("a/1", "a/"),
                ("a/b/c", "a/"),
                ("a/2", "a/"),
                ("a/b/d", "a/b/"),
                ("x/y", "")
            ]
        );
    }
}
