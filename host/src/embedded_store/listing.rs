//! `ListObjectsV2`, as s3s-fs 0.14.1 answers it but in one blocking walk.
//!
//! s3s-fs walks the whole bucket for every page, each directory entry, its type and its
//! metadata a `tokio::fs` call of its own (a thread hand-off each): 10,000 keys take ~0.7 s a
//! page, ~7 s for their ten pages, so listing alone outweighed the rest of a 10,000-object
//! pack (BENCHMARKS.md). Same answer — the keys under the prefix, sorted, after the
//! continuation token or `start-after`, `max-keys` of them with their ETags, the last one as
//! the next token — from one `spawn_blocking` walk of the folders in key order that starts
//! where the last page ended and stops once the page is full (`Walk`), each folder's sorted
//! entries kept while it is unchanged (`folders.rs`). With a delimiter, as S3 answers: the
//! "folders" past the prefix are common prefixes counted against `max-keys` with the keys,
//! and a page ending on one continues past every key under it (a token naming a folder: it
//! ends with the delimiter, past the prefix, which no key a delimited page lists can).

use std::path::Path;

use md5::Digest as _;

use super::folders;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

pub async fn list_objects_v2(
    root: &Path,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let bucket_root = root.join(&input.bucket);
    let prefix = input.prefix.clone().unwrap_or_default();
    let prefix = prefix.trim_start_matches('/').to_string();
    let after = match (
        input.continuation_token.as_deref(),
        input.start_after.as_deref(),
    ) {
        (Some(ct), Some(sa)) => Some(ct.max(sa).to_string()),
        (Some(m), None) | (None, Some(m)) => Some(m.to_string()),
        (None, None) => None,
    };
    let max_keys = input.max_keys.unwrap_or(1000);
    let max = usize::try_from(max_keys).unwrap_or(1000);
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let past_folder = (input.continuation_token.clone())
        .filter(|t| delimiter.as_deref().is_some_and(|d| t.ends_with(d)) && t.len() > prefix.len());
    let walk = Walk {
        prefix: prefix.clone(),
        after,
        past_folder,
        delimiter: delimiter.clone(),
        want: max + 1,
    };
    let items = tokio::task::spawn_blocking(move || walk.run(&bucket_root))
        .await
        .map_err(|e| s3s::s3_error!(InternalError, "{e}"))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => s3s::s3_error!(NoSuchBucket),
            _ => s3s::s3_error!(InternalError, "{e}"),
        })?;
    let mut items = items;
    let truncated = max > 0 && items.len() > max;
    items.truncate(max);
    let next = truncated
        .then(|| match items.last() {
            Some(Item::Key(key, ..)) | Some(Item::Folder(key)) => key.clone(),
            None => String::new(),
        })
        .filter(|t| !t.is_empty());
    let common_prefixes: Vec<CommonPrefix> = (items.iter())
        .filter_map(|item| match item {
            Item::Folder(p) => Some(CommonPrefix {
                prefix: Some(p.clone()),
            }),
            Item::Key(..) => None,
        })
        .collect();
    let key_count = items.len();
    let listed: Vec<(String, u64, std::time::SystemTime)> = (items.into_iter())
        .filter_map(|item| match item {
            Item::Key(key, size, modified) => Some((key, size, modified)),
            Item::Folder(_) => None,
        })
        .collect();
    // The page's ETags only (a file read each, off the async threads).
    let (root, bucket) = (root.to_path_buf(), input.bucket.clone());
    let page: Vec<Object> = tokio::task::spawn_blocking(move || {
        listed
            .into_iter()
            .map(|(key, size, modified)| Object {
                e_tag: e_tag(&root, &bucket, &key).map(ETag::Strong),
                key: Some(key),
                size: Some(size as i64),
                last_modified: Some(Timestamp::from(modified)),
                ..Default::default()
            })
            .collect()
    })
    .await
    .map_err(|e| s3s::s3_error!(InternalError, "{e}"))?;
    let output = ListObjectsV2Output {
        key_count: Some(key_count as i32),
        common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
        delimiter: input.delimiter,
        max_keys: Some(max_keys),
        is_truncated: Some(truncated),
        contents: (!page.is_empty()).then_some(page),
        continuation_token: input.continuation_token,
        next_continuation_token: next,
        encoding_type: input.encoding_type,
        name: Some(input.bucket),
        prefix: input.prefix,
        start_after: input.start_after,
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// One entry of a page: a key with its size and time, or a common prefix.
enum Item {
    Key(String, u64, std::time::SystemTime),
    Folder(String),
}

/// A page's walk: the folders in key order (a folder's name sorts as if it ended in `/`),
/// skipping those wholly before `after` or outside the prefix, not entering one that a
/// delimiter makes a common prefix, and stopping once `want` items are found, so a page
/// costs its own size, not the bucket's.
struct Walk {
    prefix: String,
    after: Option<String>,
    /// A continuation token naming a common prefix: every key under it was listed.
    past_folder: Option<String>,
    delimiter: Option<String>,
    want: usize,
}

impl Walk {
    fn run(&self, bucket_root: &Path) -> std::io::Result<Vec<Item>> {
        if !bucket_root.is_dir() {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        let mut items = Vec::new();
        self.visit(bucket_root, "", &mut items)?;
        Ok(items)
    }

    /// The folder at `dir`, whose keys start with `at` (`""` or ending in `/`).
    fn visit(&self, dir: &Path, at: &str, items: &mut Vec<Item>) -> std::io::Result<()> {
        let entries = folders::sorted(dir)?;
        for entry in &entries[self.first_not_listed(at, &entries)..] {
            let (key, is_dir) = (format!("{at}{}", entry.name), entry.is_dir);
            if items.len() >= self.want {
                return Ok(());
            }
            let overlaps =
                key.starts_with(&self.prefix) || (is_dir && self.prefix.starts_with(&key));
            if !overlaps {
                continue;
            }
            // Every key of a folder starts with its key: wholly before `after`, or listed.
            let before = |a: &str| match is_dir {
                true => key.as_str() < a && !a.starts_with(&key),
                false => key.as_str() <= a,
            };
            if self.after.as_deref().is_some_and(before)
                || self
                    .past_folder
                    .as_deref()
                    .is_some_and(|f| key.starts_with(f))
            {
                continue;
            }
            let folded = (self.delimiter.as_deref())
                .filter(|_| key.len() > self.prefix.len() && key.starts_with(&self.prefix))
                .and_then(|d| {
                    let rest = &key[self.prefix.len()..];
                    rest.find(d)
                        .map(|at| format!("{}{}", self.prefix, &rest[..at + d.len()]))
                });
            match (folded, is_dir) {
                (Some(common), _) => {
                    let known = matches!(items.last(), Some(Item::Folder(p)) if *p == common);
                    if !known && (!is_dir || holds_a_file(&dir.join(&entry.name))?) {
                        items.push(Item::Folder(common));
                    }
                }
                (None, true) => self.visit(&dir.join(&entry.name), &key, items)?,
                (None, false) => {
                    let meta = std::fs::symlink_metadata(dir.join(&entry.name))?;
                    items.push(Item::Key(key, meta.len(), meta.modified()?));
                }
            }
        }
        Ok(())
    }
}

impl Walk {
    /// Where in a folder's entries (keys starting with `at`) the page may start: past
    /// those wholly before `after` (found by halving, so a page deep into a large folder
    /// does not step over every entry before it), or the first.
    fn first_not_listed(&self, at: &str, entries: &[folders::Entry]) -> usize {
        let Some(rest) = self.after.as_deref().and_then(|a| a.strip_prefix(at)) else {
            return 0;
        };
        let start = entries.partition_point(|e| e.name.as_str() < rest);
        // A folder `after` is inside sorts before it and is not yet wholly listed.
        match start.checked_sub(1).map(|i| &entries[i]) {
            Some(e) if e.is_dir && rest.starts_with(&e.name) => start - 1,
            _ => start,
        }
    }
}

/// Whether a folder holds a file at any depth (S3 lists no common prefix for nothing).
fn holds_a_file(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() || holds_a_file(&entry.path())? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An object's ETag as s3s-fs answers it on `GET`: the one it recorded when the object was
/// written, else the MD5 of a file put in the folder by hand. S3 lists every key's.
fn e_tag(root: &Path, bucket: &str, key: &str) -> Option<String> {
    let encode = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
    let info = root.join(format!(
        ".bucket-{}.object-{}.internal.json",
        encode(bucket),
        encode(key)
    ));
    if let Ok(json) = std::fs::read(&info) {
        let map: serde_json::Value = serde_json::from_slice(&json).ok()?;
        if let Some(tag) = map.get("e_tag").and_then(|v| v.as_str()) {
            return Some(tag.to_string());
        }
    }
    let data = std::fs::read(root.join(bucket).join(key)).ok()?;
    Some(
        md5::Md5::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What S3 answers over `keys` (sorted), by the rules, for comparison with the walk.
    fn model(keys: &[&str], w: &Walk) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        for k in keys.iter().filter(|k| k.starts_with(&w.prefix)) {
            let listed = w.after.as_deref().is_some_and(|a| *k <= a)
                || w.past_folder.as_deref().is_some_and(|f| k.starts_with(f));
            if listed || items.len() >= w.want {
                continue;
            }
            let rest = &k[w.prefix.len()..];
            let item = match w
                .delimiter
                .as_deref()
                .and_then(|d| rest.find(d).map(|at| at + d.len()))
            {
                Some(end) => format!("{}{}", w.prefix, &rest[..end]),
                None => k.to_string(),
            };
            if items.last() != Some(&item) {
                items.push(item);
            }
        }
        items
    }

    /// Keys whose order differs from a plain folder walk's (`b.txt` < `b/…` < `b0`), pages
    /// after keys, after folders and inside prefixes, with and without a delimiter.
    #[test]
    fn the_walk_answers_as_s3_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = vec![
            "a", "b.txt", "b/c", "b/d/e", "b/d/f", "b0", "b-x/1", "c/", "d/1/2/3", "中/x",
        ];
        keys.retain(|k| !k.ends_with('/'));
        keys.sort();
        for k in &keys {
            let path = dir.path().join(k);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, k).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/inside")).unwrap();
        let names = |items: Vec<Item>| -> Vec<String> {
            (items.into_iter())
                .map(|i| match i {
                    Item::Key(k, ..) | Item::Folder(k) => k,
                })
                .collect()
        };
        let mut checked = 0;
        for prefix in ["", "b", "b/", "b/d/", "d/", "z"] {
            for delimiter in [None, Some("/")] {
                for after in [
                    None,
                    Some("b"),
                    Some("b.txt"),
                    Some("b/c"),
                    Some("b/d/"),
                    Some("b0"),
                ] {
                    for want in [1, 2, 3, 100] {
                        // A token names a folder only as a delimited page at this prefix
                        // can: one level past it.
                        let past_folder = (after.filter(|a| {
                            let rest = a.strip_prefix(prefix).unwrap_or("");
                            delimiter.is_some() && rest.find('/') == Some(rest.len().max(1) - 1)
                        }))
                        .map(str::to_string);
                        let w = Walk {
                            prefix: prefix.into(),
                            after: after.map(str::to_string),
                            past_folder,
                            delimiter: delimiter.map(str::to_string),
                            want,
                        };
                        let got = names(w.run(dir.path()).unwrap());
                        assert_eq!(
                            got,
                            model(&keys, &w),
                            "{prefix:?} {delimiter:?} {after:?} {want}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 2 * 6 * 4);
    }

    /// A folder large enough to be kept, paged through as a client would (each page after
    /// the last key of the one before), lists every key once, in order, folders' keys
    /// among files' where they sort; the same after a file is added between two pages.
    #[test]
    fn a_large_folder_pages_as_s3_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys: Vec<String> = (0..1_500).map(|i| format!("big/f{i:04}")).collect();
        keys.extend(
            [
                "big/f0500d/x",
                "big/f0500d/y/z",
                "big/f0500d.txt",
                "big/f0500.txt",
            ]
            .map(String::from),
        );
        for k in &keys {
            let path = dir.path().join(k);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, k).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut listed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            if listed.len() == 1_000 {
                // A new key past the kept copy's end, and one before where the page is.
                for k in ["big/g", "big/a"] {
                    std::fs::write(dir.path().join(k), k).unwrap();
                    keys.push(k.to_string());
                }
            }
            let w = Walk {
                prefix: "big/".into(),
                after: after.clone(),
                past_folder: None,
                delimiter: None,
                want: 100,
            };
            let page: Vec<String> = (w.run(dir.path()).unwrap().into_iter())
                .map(|i| match i {
                    Item::Key(k, ..) | Item::Folder(k) => k,
                })
                .collect();
            let Some(last) = page.last().cloned() else {
                break;
            };
            listed.extend(page);
            after = Some(last);
        }
        keys.sort();
        keys.retain(|k| k != "big/a");
        assert_eq!(listed, keys);
    }
}
