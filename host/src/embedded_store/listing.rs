//! `ListObjectsV2`, as s3s-fs 0.14.1 answers it but in one blocking walk.
//!
//! s3s-fs walks the whole bucket for every page, each directory entry, its type and its
//! metadata a `tokio::fs` call of its own (a thread hand-off each): 10,000 keys take ~0.7 s a
//! page, ~7 s for their ten pages, so listing alone outweighed the rest of a 10,000-object
//! pack (BENCHMARKS.md). Same answer — the keys under the prefix, sorted, after the
//! continuation token or `start-after`, `max-keys` of them with their ETags, the last one as
//! the next token — from one `spawn_blocking` walk of the prefix's folder only. With a
//! delimiter, as S3 answers: the "folders" past the prefix are common prefixes counted
//! against `max-keys` with the keys, and a page ending on one continues past every key
//! under it (a token naming a folder: it ends with the delimiter, past the prefix, which no
//! key a delimited page lists can).

use std::path::{Path, PathBuf};

use md5::Digest as _;
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
    let walk_root = bucket_root.clone();
    let walk_prefix = prefix.clone();
    let keys = tokio::task::spawn_blocking(move || walk(&walk_root, &walk_prefix))
        .await
        .map_err(|e| s3s::s3_error!(InternalError, "{e}"))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => s3s::s3_error!(NoSuchBucket),
            _ => s3s::s3_error!(InternalError, "{e}"),
        })?;

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
    let start = after
        .as_deref()
        .map_or(0, |a| keys.partition_point(|o| o.0.as_str() <= a));
    let past_folder = (input.continuation_token.as_deref())
        .filter(|t| delimiter.as_deref().is_some_and(|d| t.ends_with(d)) && t.len() > prefix.len());
    // Each item: a key (its index in `keys`) or a common prefix.
    let mut items: Vec<Result<usize, String>> = Vec::new();
    for (i, (key, ..)) in keys.iter().enumerate().skip(start) {
        if items.len() > max {
            break;
        }
        if past_folder.is_some_and(|f| key.starts_with(f)) {
            continue;
        }
        let rest = &key[prefix.len().min(key.len())..];
        match delimiter
            .as_deref()
            .and_then(|d| rest.find(d).map(|at| at + d.len()))
        {
            Some(end) => {
                let common = format!("{prefix}{}", &rest[..end]);
                if !matches!(items.last(), Some(Err(last)) if *last == common) {
                    items.push(Err(common));
                }
            }
            None => items.push(Ok(i)),
        }
    }
    let truncated = max > 0 && items.len() > max;
    items.truncate(max);
    let next = truncated
        .then(|| match items.last() {
            Some(Ok(i)) => keys[*i].0.clone(),
            Some(Err(common)) => common.clone(),
            None => String::new(),
        })
        .filter(|t| !t.is_empty());
    let common_prefixes: Vec<CommonPrefix> = (items.iter())
        .filter_map(|item| item.as_ref().err())
        .map(|p| CommonPrefix {
            prefix: Some(p.clone()),
        })
        .collect();
    let listed: Vec<_> = (items.iter())
        .filter_map(|item| item.as_ref().ok())
        .map(|&i| keys[i].clone())
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
        key_count: Some(items.len() as i32),
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

/// Every file under `bucket_root` whose key starts with `prefix`, sorted by key: walks only
/// the deepest folder the prefix names.
fn walk(
    bucket_root: &Path,
    prefix: &str,
) -> std::io::Result<Vec<(String, u64, std::time::SystemTime)>> {
    if !bucket_root.is_dir() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let folder = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut keys = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![bucket_root.join(folder)];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            let path = entry.path();
            let Some(key) = key_of(bucket_root, &path) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let meta = entry.metadata()?;
            keys.push((key, meta.len(), meta.modified()?));
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keys)
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

/// The key of a file: its path under the bucket, `/`-joined (None for a name not UTF-8).
fn key_of(bucket_root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(bucket_root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
