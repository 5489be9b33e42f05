//! The objects to pack: every page of each `source-dir` listing, or each `source-files`
//! key looked up, several at once. A key met twice is packed once.

use std::collections::HashSet;

use crate::plan::{PackRequest, Source};
use crate::store::ListPage;

#[derive(Debug, Default)]
pub(crate) struct Listing {
    sources: Vec<Source>,
    seen: HashSet<String>,
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
        for o in page.objects {
            if self.seen.insert(o.key.clone()) {
                self.sources.push(Source {
                    key: o.key,
                    size: o.size,
                    mtime_unix: o.last_modified_unix,
                    base: prefix.to_string(),
                    name: None,
                    etag: o.etag,
                });
            }
        }
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
        for (file, found) in req.source_files.iter().zip(self.heads) {
            let Some(mut s) = found else { continue };
            if self.seen.insert(s.key.clone()) {
                s.base = req
                    .source_dir
                    .iter()
                    .find(|d| s.key.starts_with(d.as_str()))
                    .cloned()
                    .unwrap_or_default();
                s.name = file.name().map(str::to_string);
                self.sources.push(s);
            }
        }
        self.sources
    }
}
