//! The objects to pack: every page of each `source-dir` listing, or each `source-files`
//! key looked up, several at once. A key met twice is packed once.
//!
//! A folder is listed as *streams*, each one request's pages in turn (as continuation
//! tokens require): flat from the start, and split into key ranges listed at once as a
//! sample beside it (one page with `delimiter=/`) advises ([`list_split`](super::list_split)),
//! then further where its names would go on ([`list_guess`](super::list_guess)).
//! Several folders are listed at once too. Objects are kept in the request's order
//! whatever order the pages come in: a stream's objects wait while a stream before it is
//! unfinished, so the sources are exactly those of listing the folders flat one after the
//! other, and a key under two prefixes is packed under the first.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use super::list_guess::interpolated;
use super::list_split::{bounds, ranges_between, sampled, Range, Sampled};
use crate::plan::{PackRequest, Source};
use crate::store::{ETag, ListPage};

#[derive(Debug, Default)]
pub(crate) struct Listing {
    sources: Vec<Source>,
    /// The keys met so far, as indices into `sources` hashed by key: a set of the keys
    /// themselves held a second copy of every key while listing.
    seen: HashTable<usize>,
    hasher: std::hash::RandomState,
    /// Per `source-dir` prefix: its name (the sources' base) and its ranges' streams in
    /// order.
    dirs: Vec<(Arc<str>, Vec<usize>)>,
    streams: Vec<Stream>,
    /// The samples' streams, one per folder (none when listing flat).
    samples: Vec<usize>,
    /// Per folder: the subfolders its sample named, until the listing is cut by them.
    advice: Vec<Option<Vec<String>>>,
    /// Per folder: how far its ranges may split further by their names (meanwhile, a
    /// sample's subfolders still cut the last range once it reaches one).
    by_name: Vec<ByName>,
    /// Ranges a folder is split into at most (1: listed flat, no sample).
    ranges: usize,
    /// The first stream not wholly added to `sources`: a folder, and a place in its order.
    front: (usize, usize),
    /// `source-files` lookups, by index; the next to start; how many are back.
    heads: Vec<Option<Source>>,
    /// Per `source-files` index, the first index of the same key: each key is looked up
    /// once, however often the request names it (`finish` keeps a key once anyway).
    first_of: Vec<usize>,
    /// Keys looked up: the indices that are their key's first.
    distinct: usize,
    next_head: usize,
    /// Lookups sent, and back.
    heads_out: usize,
    heads_back: usize,
}

/// A folder's ranges split by their names ([`interpolated`]): once its sample has
/// answered (or failed) and it has listed [`SPLIT_AFTER_PAGES`] pages, two
/// ranges made for each page listed from then on, since a guessed range that finds
/// nothing is a request for nothing: a folder of a few pages lists as before (but for at
/// most two empty pages), and a large one fans out about as fast as it is found large.
#[derive(Clone, Debug, Default)]
struct ByName {
    allowed: bool,
    pages: usize,
    made: usize,
}

/// Pages a folder lists before its ranges split by their names.
const SPLIT_AFTER_PAGES: usize = 3;

/// One request's pages, in turn.
#[derive(Debug)]
struct Stream {
    /// The folder (index into `dirs`) it lists for.
    dir: usize,
    kind: Kind,
    /// Listed while a stream before it was unfinished, a vector a page: one grown by
    /// doubling would hold up to twice its objects' room while other streams list.
    objects: Vec<Vec<Source>>,
    /// The first and last keys it listed, how many, and the most a page held.
    first: Option<String>,
    last: Option<String>,
    listed: usize,
    page_max: usize,
    /// Its first request was sent (cleared when a sample is taken again deeper).
    started: bool,
    done: bool,
}

impl Stream {
    fn new(dir: usize, kind: Kind) -> Stream {
        Stream {
            dir,
            kind,
            objects: Vec::new(),
            first: None,
            last: None,
            listed: 0,
            page_max: 0,
            started: false,
            done: false,
        }
    }
}

#[derive(Debug)]
enum Kind {
    /// One delimited page of `prefix`, `depth` subfolders below the folder.
    Sample { prefix: String, depth: u32 },
    /// The folder's keys in a range, flat.
    Range(Range),
}

/// A stream's request: what `ListObjectsV2` to send.
pub(crate) struct StreamRequest<'a> {
    pub prefix: &'a str,
    pub start_after: Option<&'a str>,
    pub delimited: bool,
}

impl Listing {
    /// `ranges`: how many ranges a folder's listing may be split into (1: flat).
    pub fn new(req: &PackRequest, ranges: usize) -> Listing {
        let first = first_of(req);
        let names: Vec<Arc<str>> = match req.source_files.is_empty() {
            true => (req.source_dir.iter())
                .map(|d| Arc::from(d.as_str()))
                .collect(),
            false => Vec::new(),
        };
        let mut streams: Vec<Stream> = (0..names.len())
            .map(|dir| Stream::new(dir, Kind::Range(Range::default())))
            .collect();
        let mut samples = Vec::new();
        if ranges > 1 {
            for (dir, name) in names.iter().enumerate() {
                samples.push(streams.len());
                let prefix = name.to_string();
                streams.push(Stream::new(dir, Kind::Sample { prefix, depth: 0 }));
            }
        }
        Listing {
            advice: vec![None; names.len()],
            by_name: vec![ByName::default(); names.len()],
            dirs: (names.into_iter().enumerate())
                .map(|(dir, name)| (name, vec![dir]))
                .collect(),
            streams,
            samples,
            ranges: ranges.max(1),
            heads: vec![None; req.source_files.len()],
            distinct: (first.iter().enumerate()).filter(|(i, f)| i == *f).count(),
            first_of: first,
            ..Listing::default()
        }
    }

    /// Keys the request's `source-files` name, each counted once.
    pub fn distinct_files(&self) -> usize {
        self.distinct
    }

    /// The next stream to start, if any waits: a sample of a folder whose listing has
    /// shown it is more than a page (a folder of one page is never sampled), else the
    /// earliest range in the request's order.
    pub fn next_stream(&mut self) -> Option<usize> {
        let (streams, dirs, front) = (&self.streams, &self.dirs, self.front.0);
        let waits = |s: &usize| !streams[*s].started && !streams[*s].done;
        let more_than_a_page = |dir: usize| {
            let tail = &streams[*dirs[dir].1.last().expect("a folder has a stream")];
            tail.last.is_some() && !tail.done
        };
        let sample = (self.samples.iter())
            .filter(|&&s| streams[s].dir >= front && more_than_a_page(streams[s].dir))
            .find(|s| waits(s));
        let next = *sample.or_else(|| {
            (dirs.iter().skip(front))
                .flat_map(|(_, order)| order.iter())
                .find(|s| waits(s))
        })?;
        self.streams[next].started = true;
        Some(next)
    }

    /// Whether stream `index` is a sample: advice, whose failure is forgotten.
    pub fn is_sample(&self, index: usize) -> bool {
        matches!(self.streams[index].kind, Kind::Sample { .. })
    }

    /// A sample that failed: the folder is listed without its advice.
    pub fn sample_failed(&mut self, index: usize) {
        self.streams[index].done = true;
        self.by_name[self.streams[index].dir].allowed = true;
    }

    /// Streams started and not done.
    pub fn streams_in_flight(&self) -> usize {
        (self.streams.iter())
            .filter(|s| s.started && !s.done)
            .count()
    }

    /// Whether every folder is listed.
    pub fn prefixes_done(&self) -> bool {
        self.front.0 == self.dirs.len()
    }

    /// The listing request stream `index` sends first (later pages add their token).
    pub fn request(&self, index: usize) -> StreamRequest<'_> {
        let stream = &self.streams[index];
        match &stream.kind {
            Kind::Sample { prefix, .. } => StreamRequest {
                prefix,
                start_after: None,
                delimited: true,
            },
            Kind::Range(range) => StreamRequest {
                prefix: &self.dirs[stream.dir].0,
                start_after: range.after.as_deref(),
                delimited: false,
            },
        }
    }

    /// A page of stream `index`; `last` if the store has none after it. `true` if the
    /// stream goes on with the page's continuation token.
    pub fn add_page(&mut self, index: usize, page: ListPage, last: bool) -> bool {
        let base = self.dirs[self.streams[index].dir].0.clone();
        let to_sources = |objects: Vec<crate::store::ObjectInfo>| -> Vec<Source> {
            (objects.into_iter())
                .map(|o| Source {
                    key: o.key,
                    size: o.size,
                    mtime_unix: o.last_modified_unix,
                    base: base.clone(),
                    name: None,
                    etag: o.etag.as_deref().map(ETag::new),
                })
                .collect()
        };
        let stream = &mut self.streams[index];
        let more = match &stream.kind {
            Kind::Sample { depth, .. } => {
                match sampled(page, *depth) {
                    Sampled::Descend { prefix, depth } => {
                        stream.kind = Kind::Sample { prefix, depth };
                        stream.started = false;
                    }
                    Sampled::Folders(folders) => {
                        stream.done = true;
                        let dir = stream.dir;
                        // Names may cut the files before the first subfolder meanwhile.
                        self.by_name[dir].allowed = true;
                        self.advice[dir] = Some(folders);
                        self.advise(dir);
                        let tail = *self.dirs[dir].1.last().expect("a folder has a stream");
                        self.split_by_name(tail);
                    }
                }
                false
            }
            Kind::Range(range) => {
                stream.page_max = stream.page_max.max(page.objects.len());
                let past = page.objects.iter().position(|o| range.past(&o.key));
                let mut objects = page.objects;
                if let Some(at) = past {
                    objects.truncate(at);
                }
                let at_end = (range.upto.as_deref())
                    .is_some_and(|u| objects.last().is_some_and(|o| o.key.as_str() >= u));
                stream.done = last || past.is_some() || at_end;
                if let Some(o) = objects.last() {
                    stream.last = Some(o.key.clone());
                }
                if let (None, Some(o)) = (&stream.first, objects.first()) {
                    stream.first = Some(o.key.clone());
                }
                stream.listed += objects.len();
                stream.objects.push(to_sources(objects));
                let (more, dir) = (!stream.done, stream.dir);
                self.by_name[dir].pages += 1;
                self.advise(dir);
                self.split_by_name(index);
                more
            }
        };
        self.drain();
        more
    }

    /// Cuts folder `dir`'s listing by its sample's subfolders, once its last stream (the
    /// flat listing) has listed enough to tell how many ranges the rest is worth.
    fn advise(&mut self, dir: usize) {
        let Some(folders) = self.advice[dir].as_deref() else {
            return;
        };
        let tail = *self.dirs[dir].1.last().expect("a folder has a stream");
        let t = &self.streams[tail];
        if t.done {
            self.advice[dir] = None;
            return;
        }
        let Some(last) = t.last.as_deref() else {
            return;
        };
        let Some(cut) = bounds(folders, (t.listed, t.page_max), last, self.ranges) else {
            return;
        };
        self.advice[dir] = None;
        self.cut(tail, &cut);
    }

    /// Splits stream `index`, unfinished after a page, where its names counting up would
    /// go on, into as many ranges as its folder has room and pages for ([`ByName`]). Each
    /// new range does the same once its own first page is in, so a folder of a million
    /// files and no subfolder fans out as far as `ranges` allows, and one of large
    /// subfolders splits inside them.
    fn split_by_name(&mut self, index: usize) {
        let s = &self.streams[index];
        let (Kind::Range(range), Some(first), Some(last)) = (&s.kind, &s.first, &s.last) else {
            return;
        };
        let by_name = &self.by_name[s.dir];
        if s.done || !by_name.allowed || by_name.pages < SPLIT_AFTER_PAGES {
            return;
        }
        let (dir, order) = (s.dir, &self.dirs[s.dir].1);
        let open = order.iter().filter(|&&i| !self.streams[i].done).count();
        let earned = (2 * (by_name.pages + 1 - SPLIT_AFTER_PAGES)).saturating_sub(by_name.made);
        let room = (self.ranges.saturating_sub(open)).min(earned);
        let prefix = self.dirs[dir].0.len();
        let keys = (s.listed, s.page_max);
        let cut = interpolated(prefix, (first, last), keys, range.upto.as_deref(), room);
        self.by_name[dir].made += cut.len();
        self.cut(index, &cut);
    }

    /// Ends stream `index` at the first of `bounds`, and lists the rest of its range as
    /// ranges between them, right after it in its folder's order.
    fn cut(&mut self, index: usize, bounds: &[String]) {
        let Some(first) = bounds.first() else {
            return;
        };
        let Kind::Range(range) = &mut self.streams[index].kind else {
            return;
        };
        let upto = range.upto.replace(first.clone());
        let dir = self.streams[index].dir;
        let at = (self.dirs[dir].1.iter())
            .position(|&i| i == index)
            .expect("a stream is in its folder's order");
        let ranges = ranges_between(Some(first.clone()), &bounds[1..], upto);
        let new = self.streams.len()..self.streams.len() + ranges.len();
        self.streams
            .extend(ranges.into_iter().map(|r| Stream::new(dir, Kind::Range(r))));
        self.dirs[dir].1.splice(at + 1..at + 1, new);
    }

    /// Adds the objects of the streams at the front, as far as they are finished.
    fn drain(&mut self) {
        while let Some((_, order)) = self.dirs.get(self.front.0) {
            let Some(&s) = order.get(self.front.1) else {
                self.front = (self.front.0 + 1, 0);
                continue;
            };
            std::mem::take(&mut self.streams[s].objects)
                .into_iter()
                .flatten()
                .for_each(|o| self.add(o));
            if !self.streams[s].done {
                return;
            }
            self.front.1 += 1;
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
        while self.next_head < self.heads.len() {
            self.next_head += 1;
            let index = self.next_head - 1;
            if self.first_of[index] == index {
                self.heads_out += 1;
                return Some(index);
            }
        }
        None
    }

    pub fn head_back(&mut self, index: usize, source: Source) {
        self.heads[index] = Some(source);
        self.heads_back += 1;
    }

    pub fn heads_in_flight(&self) -> usize {
        self.heads_out - self.heads_back
    }

    pub fn heads_done(&self) -> bool {
        self.heads_back == self.distinct
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

/// Per `source-files` index, the first index naming the same key.
fn first_of(req: &PackRequest) -> Vec<usize> {
    let mut first = std::collections::HashMap::new();
    (req.source_files.iter().enumerate())
        .map(|(i, f)| *first.entry(f.key()).or_insert(i))
        .collect()
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
        let mut listing = Listing::new(&req, 1);
        assert_eq!(
            (listing.next_stream(), listing.next_stream()),
            (Some(0), Some(1))
        );
        listing.add_page(0, page(&["a/1", "a/b/c", "a/2"]), true);
        listing.add_page(1, page(&["a/b/c", "a/b/d"]), true);
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
        let mut listing = Listing::new(&req, 16);
        assert_eq!(listing.next_stream(), None, "lookups list nothing");
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
        let pages: [(usize, &[&str], bool); 6] = [
            (0, &["a/1", "a/b/c"], false),
            (0, &["a/b/d", "a/z"], true),
            (1, &["a/b/c"], false),
            (1, &["a/b/d", "a/b/e"], true),
            (2, &["c/1"], false),
            (2, &["c/2", "a/1"], true),
        ];
        let keys = |order: &[usize]| {
            let mut listing = Listing::new(&req, 1);
            let mut started = Vec::new();
            while let Some(p) = listing.next_stream() {
                started.push(p);
            }
            assert_eq!(started, [0, 1, 2]);
            for &i in order {
                let (index, keys, last) = pages[i];
                assert!(!listing.prefixes_done());
                assert_eq!(listing.add_page(index, page(keys), last), !last);
            }
            assert!(listing.prefixes_done());
            assert_eq!(listing.streams_in_flight(), 0);
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

    /// `ListObjectsV2` as S3 answers it over `keys` (sorted): `max` items a page, a
    /// delimiter's common prefixes counted among them, the token naming the last item.
    fn store_page(
        keys: &[String],
        req: &StreamRequest<'_>,
        token: Option<&str>,
        max: usize,
    ) -> ListPage {
        let (after, folder) = match token {
            Some(t) => (Some(&t[2..]), t.starts_with("p:")),
            None => (req.start_after, false),
        };
        let mut items: Vec<(String, bool)> = Vec::new();
        for k in keys.iter().filter(|k| k.starts_with(req.prefix)) {
            if after.is_some_and(|a| k.as_str() <= a || (folder && k.starts_with(a))) {
                continue;
            }
            let rest = &k[req.prefix.len()..];
            match rest.find('/').filter(|_| req.delimited) {
                Some(at) => {
                    let p = format!("{}{}", req.prefix, &rest[..=at]);
                    if items.last() != Some(&(p.clone(), true)) {
                        items.push((p, true));
                    }
                }
                None => items.push((k.clone(), false)),
            }
        }
        let truncated = items.len() > max;
        items.truncate(max);
        let keys: Vec<&str> = (items.iter().filter(|i| !i.1))
            .map(|i| i.0.as_str())
            .collect();
        let folders: Vec<&str> = (items.iter().filter(|i| i.1))
            .map(|i| i.0.as_str())
            .collect();
        let mut page = crate::store::test_page(&keys, &folders);
        page.is_truncated = truncated;
        page.next_continuation_token = truncated.then(|| {
            let (last, is_folder) = items.last().expect("a full page");
            format!("{}:{last}", if *is_folder { "p" } else { "k" })
        });
        page
    }

    /// A tree of folders split into ranges, pages answered in a shuffled order and some
    /// samples failing: the objects are those of the flat listing, in its order, whatever
    /// the page size and the ranges wanted.
    #[test]
    fn a_folder_split_into_ranges_lists_as_flat() {
        let mut keys: Vec<String> = [
            "d/",
            "d/0",
            "d/a/",
            "d/a/1",
            "d/a/2",
            "d/a.txt",
            "d/b/x/1",
            "d/b/x/2",
            "d/b/y/",
            "d/b0",
            "d/c/",
            "d/c/c/c/1",
            "d/z",
            "e/1",
            "d/one/deep/chain/2024/1",
            "d/one/deep/chain/2024/2",
            "d/中/1",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        for i in 0..40 {
            keys.push(format!("d/m/{:02}/{i}", i % 7));
        }
        // Names that count up, and hashes: folders split by their names.
        for i in 0..300 {
            keys.push(format!("f/IMG_{i:04}.jpg"));
            keys.push(format!("f/z/{:03x}", (i * 7919) % 4096));
        }
        keys.sort();
        keys.dedup();
        let req =
            PackRequest::from_json(br#"{"bucket":"b","source-dir":["d/b/","d/","d/one/","f/"]}"#)
                .unwrap();
        let flat = |listing: Listing| -> Vec<String> {
            listing
                .finish(&req)
                .into_iter()
                .map(|s| format!("{}@{}", s.key, s.base))
                .collect()
        };
        let mut want = Listing::new(&req, 1);
        for (stream, dir) in [(0, "d/b/"), (1, "d/"), (2, "d/one/"), (3, "f/")] {
            assert_eq!(want.next_stream(), Some(stream));
            let all: Vec<&str> = keys
                .iter()
                .map(String::as_str)
                .filter(|k| k.starts_with(dir))
                .collect();
            want.add_page(stream, crate::store::test_page(&all, &[]), true);
        }
        let want = flat(want);
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for max in [1, 2, 3, 5, 1000] {
            for ranges in [1, 2, 3, 16] {
                for _ in 0..20 {
                    let mut listing = Listing::new(&req, ranges);
                    let mut pending: Vec<(usize, Option<String>)> = Vec::new();
                    let mut requests = 0;
                    while !listing.prefixes_done() {
                        while listing.streams_in_flight() < 4 {
                            let Some(s) = listing.next_stream() else {
                                break;
                            };
                            pending.push((s, None));
                        }
                        rng = rng
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let (s, token) = pending.swap_remove((rng >> 33) as usize % pending.len());
                        if listing.is_sample(s) && rng.is_multiple_of(5) {
                            // A sample that failed: the listing goes on without it.
                            listing.sample_failed(s);
                            continue;
                        }
                        // A sample's page holds every subfolder, as 1,000 keys a page
                        // do in a real folder; the flat pages are small.
                        let request = listing.request(s);
                        let max = if request.delimited { 1000 } else { max };
                        let page = store_page(&keys, &request, token.as_deref(), max);
                        let next = page.next_continuation_token.clone();
                        if listing.add_page(s, page, next.is_none()) {
                            pending.push((s, next));
                        }
                        requests += 1;
                        assert!(requests < 5000, "no end");
                    }
                    assert_eq!(flat(listing), want, "{max} a page, {ranges} ranges");
                }
            }
        }
    }

    /// Rounds of listing, every request in flight answered each round, of a folder of
    /// `n` files named by `name` in pages of `max`: how many rounds, and how many requests.
    fn rounds(
        n: usize,
        name: impl Fn(usize) -> String,
        max: usize,
        ranges: usize,
    ) -> (usize, usize) {
        rounds_of((0..n).map(name).collect(), max, ranges)
    }

    fn rounds_of(mut keys: Vec<String>, max: usize, ranges: usize) -> (usize, usize) {
        keys.sort();
        let req = PackRequest::from_json(br#"{"bucket":"b","source-dir":"p/"}"#).unwrap();
        let mut listing = Listing::new(&req, ranges);
        let mut pending: Vec<(usize, Option<String>)> = Vec::new();
        let (mut rounds, mut requests) = (0, 0);
        while !listing.prefixes_done() {
            while let Some(s) = listing.next_stream() {
                pending.push((s, None));
            }
            rounds += 1;
            for (s, token) in std::mem::take(&mut pending) {
                let request = listing.request(s);
                let max = if request.delimited { 1000 } else { max };
                let page = store_page(&keys, &request, token.as_deref(), max);
                let next = page.next_continuation_token.clone();
                requests += 1;
                if listing.add_page(s, page, next.is_none()) {
                    pending.push((s, next));
                }
            }
            assert!(rounds < 1000, "no end");
        }
        let listed: Vec<String> = listing.finish(&req).into_iter().map(|s| s.key).collect();
        assert_eq!(listed, keys);
        (rounds, requests)
    }

    /// A folder of files only, named so they count up or as hashes, is split by its names:
    /// its pages come in a few rounds instead of one after another, for a few more requests.
    #[test]
    fn a_folder_with_no_subfolders_splits_by_its_names() {
        let numbered = |i: usize| format!("p/IMG_{i:05}.jpg");
        let hashed = |i: usize| format!("p/{:08x}", (i as u32).wrapping_mul(2_654_435_761));
        for (name, what) in [
            (&numbered as &dyn Fn(usize) -> String, "numbered"),
            (&hashed, "hashed"),
        ] {
            let (flat, flat_requests) = rounds(10_000, name, 100, 1);
            let (split, requests) = rounds(10_000, name, 100, 16);
            assert_eq!((flat, flat_requests), (100, 100), "{what}");
            eprintln!("{what}: {split} rounds, {requests} requests");
            assert!(split * 5 < flat, "{what}: {split} rounds against {flat}");
            assert!(
                requests * 2 < flat_requests * 3,
                "{what}: {requests} requests"
            );
        }
        // Files, then subfolders: the files split by name before the listing reaches the
        // subfolders, which the sample's advice then cuts by.
        let mut keys: Vec<String> = (0..500).map(numbered).collect();
        for folder in ["x", "y", "z"] {
            keys.extend((0..2000).map(|i| format!("p/{folder}/{i:04}")));
        }
        let (flat, _) = rounds_of(keys.clone(), 100, 1);
        let (split, requests) = rounds_of(keys, 100, 16);
        eprintln!("files then subfolders: {split} rounds, {requests} requests");
        assert!(split * 4 < flat, "{split} rounds against {flat}");
        // A folder of a few pages: its sample and at most two guessed ranges more.
        for n in [150, 350, 450] {
            let (flat, flat_requests) = rounds(n, numbered, 100, 1);
            let (split, requests) = rounds(n, numbered, 100, 16);
            assert!(split <= flat, "{n}: {split} rounds");
            assert!(requests <= flat_requests + 3, "{n}: {requests} requests");
        }
    }

    /// A key the request names several times is looked up once (a request naming one key
    /// 20,000 times made 20,000 lookups), and the lookups end however the names repeat.
    #[test]
    fn each_file_is_looked_up_once() {
        let req: PackRequest =
            serde_json::from_str(r#"{"bucket":"b","source-files":["a","b","a","c","a","a"]}"#)
                .unwrap();
        let mut listing = Listing::new(&req, 1);
        assert_eq!(listing.distinct_files(), 3);
        let sent: Vec<usize> = std::iter::from_fn(|| listing.next_head()).collect();
        assert_eq!(sent, [0, 1, 3]);
        assert_eq!(listing.heads_in_flight(), 3);
        for (n, index) in sent.into_iter().enumerate() {
            assert!(!listing.heads_done());
            let key = req.source_files[index].key().to_string();
            listing.head_back(
                index,
                Source {
                    key,
                    size: n as u64 + 1,
                    ..Default::default()
                },
            );
        }
        assert!(listing.heads_done());
        let keys: Vec<(String, u64)> = (listing.finish(&req).into_iter())
            .map(|s| (s.key, s.size))
            .collect();
        // Kept once, as a key listed twice is.
        let want = [("a", 1), ("b", 2), ("c", 3)];
        assert_eq!(keys, want.map(|(k, n)| (k.to_string(), n)));
    }
}
