//! An object store in memory that answers the engine's signed requests as S3 and OSS do:
//! listings in pages (OSS URL-encodes the continuation token under `encoding-type=url`,
//! S3 does not), ranged reads with `If-Match`, and multipart uploads whose parts overwrite
//! by number, whose completion checks the part list (order, ETags, minimum size except
//! the last) and whose repeat — like an abort's — answers `NoSuchUpload`; their parts
//! listed in pages (with each part's checksum: S3's only for a checksum upload), whole
//! objects put, conditionally too (S3's `If-None-Match: *` → 412, OSS's
//! `x-oss-forbid-overwrite` → 409); parts copied from a range of an object
//! (`UploadPartCopy`, pinned by `If-Match`).
//!
//! Checksums as each store keeps them: S3 a full-object CRC-64/NVME (or CRC-32, SHA-256,
//! or a composite `…-N`, or none for old objects), shown only in checksum mode and only
//! on whole-object answers, checked on parts that carry one and on a FULL_OBJECT
//! completion (`400 BadDigest`); OSS a CRC-64 of every object on every answer, of every
//! part on its answer and of the archive on the completion's, checking nothing sent.

use std::collections::BTreeMap;

use bytes::Bytes;
use md5::Digest as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use zip_oss_core::store::checksum::{crc, Algorithm, Checksum, Hasher};
use zip_oss_core::store::{marker_header, HttpRequest, Provider};

#[derive(Clone, Debug)]
pub struct Object {
    pub data: Bytes,
    pub etag: String,
    pub mtime: i64,
    /// The checksum headers the store shows for it (S3 in checksum mode).
    pub checksum: Vec<(String, String)>,
    /// User metadata (`x-amz-meta-*`, `x-oss-meta-*`), shown on HEAD and GET.
    pub meta: Vec<(String, String)>,
}

/// What S3 keeps of an object written now (OSS always keeps its CRC-64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Checksum {
    /// Written before 2025, or by a store that keeps none.
    Nothing,
    Full(Algorithm),
    /// A multipart object's checksum of part checksums.
    Composite,
}

#[derive(Debug)]
pub struct SimUpload {
    pub key: String,
    pub initiated: i64,
    /// Created with a checksum algorithm (S3 then lists each part's checksum).
    pub checksummed: bool,
    pub parts: BTreeMap<u32, (String, Bytes)>,
    /// The metadata the object completed from it will carry.
    pub meta: Vec<(String, String)>,
}

/// What the store answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

pub struct SimStore {
    pub provider: Provider,
    pub bucket: String,
    pub objects: BTreeMap<String, Object>,
    pub uploads: BTreeMap<String, SimUpload>,
    /// The store's clock minus the engine's (seconds).
    pub clock_offset: i64,
    pub page_size: usize,
    pub uploads_page_size: usize,
    pub parts_page_size: usize,
    pub min_part: u64,
    /// What S3 keeps of the objects `put` writes.
    pub s3_checksum: S3Checksum,
    /// The next part stored is stored with one byte flipped (after it was checked).
    pub rot_next_part: bool,
    /// Refuses every `UploadPartCopy` (`501 NotImplemented`, as a store without it does).
    pub refuse_copies: bool,
    /// Denies one kind of write on scratch keys (`*.zip-oss-seam`), as a policy granting
    /// only the archive's key would: `create`, `part` (upload or copy into a scratch
    /// upload), `complete`, or `copy` (the archive's part copied from a scratch object).
    pub deny_scratch: Option<&'static str>,
    /// Just before the first Complete of an upload of this key arrives, an older object of
    /// the size it will make is put there (a folder packed before, unchanged in size):
    /// an archive is this pack's only if it carries the pack's marker.
    pub twin_of: Option<String>,
    /// That older object's bytes, once put.
    pub twin: Option<Bytes>,
    /// HEADs answered with it in place.
    pub twin_heads: u64,
    /// Right after a Complete of this key, another writer's object replaces it, and the
    /// Complete's answer states no checksum, so the engine looks at the object.
    pub overwritten_after_complete: Option<String>,
    /// That object carries another pack's marker; else none (the user's own `PUT`).
    pub overwritten_with_marker: bool,
    /// Keys a Complete made (an object there came from an upload at some point).
    pub completed_keys: std::collections::BTreeSet<String>,
    /// Completed uploads by id: their key and the answer their Complete got. S3 answers a
    /// repeated Complete of one with that answer again, and its abort with `204`; OSS
    /// answers both `NoSuchUpload`.
    completed_uploads: BTreeMap<String, (String, Answer)>,
    next_id: u64,
    versions: u64,
}

/// Characters a listing leaves as they are under `encoding-type=url`.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

impl SimStore {
    pub fn new(provider: Provider, bucket: &str, min_part: u64) -> SimStore {
        SimStore {
            provider,
            bucket: bucket.into(),
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
            clock_offset: 0,
            page_size: 1000,
            uploads_page_size: 1000,
            parts_page_size: 1000,
            min_part,
            s3_checksum: S3Checksum::Full(Algorithm::Crc64Nvme),
            rot_next_part: false,
            refuse_copies: false,
            deny_scratch: None,
            twin_of: None,
            twin: None,
            twin_heads: 0,
            overwritten_after_complete: None,
            overwritten_with_marker: true,
            completed_keys: Default::default(),
            completed_uploads: BTreeMap::new(),
            next_id: 0,
            versions: 0,
        }
    }

    fn checksum_of(&self, data: &[u8], s3: S3Checksum) -> Vec<(String, String)> {
        let full = |a: Algorithm| {
            let mut h = Hasher::new(a);
            h.update(data);
            let c = h.finish();
            vec![(a.header().to_string(), c.header_value())]
        };
        match (self.provider, s3) {
            (Provider::Oss, _) => full(Algorithm::Crc64Ecma),
            (_, S3Checksum::Nothing) => vec![],
            (_, S3Checksum::Full(a)) => {
                let mut h = full(a);
                h.push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
                h
            }
            (_, S3Checksum::Composite) => vec![
                ("x-amz-checksum-crc32".into(), "AAAAAA==-3".into()),
                ("x-amz-checksum-type".into(), "COMPOSITE".into()),
            ],
        }
    }

    /// The checksum headers an answer shows: S3 only when asked, OSS always.
    fn shown(&self, o: &Object, checksum_mode: bool, whole: bool) -> Vec<(String, String)> {
        match self.provider {
            Provider::Oss => o.checksum.clone(),
            Provider::S3 if checksum_mode && whole => o.checksum.clone(),
            Provider::S3 => vec![],
        }
    }

    pub fn put(&mut self, key: &str, data: Bytes, mtime: i64) {
        self.versions += 1;
        let etag = format!("\"{:016x}{:016x}\"", hash(&data), self.versions);
        let checksum = self.checksum_of(&data, self.s3_checksum);
        self.objects.insert(
            key.to_string(),
            Object {
                data,
                etag,
                mtime,
                checksum,
                meta: vec![],
            },
        );
    }

    /// Carries out `req` at store time `now` (unix seconds, the store's clock).
    pub fn handle(&mut self, req: &HttpRequest, body: &[u8], now: i64) -> Answer {
        let (path, query) = split_url(&req.url);
        let path = path
            .strip_prefix(&format!("/{}", self.bucket))
            .expect("path-style URLs in the simulation");
        let key = percent_decode_str(path.strip_prefix('/').unwrap_or(""))
            .decode_utf8()
            .expect("utf-8 key")
            .into_owned();
        let q = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let mode = req.header("x-amz-checksum-mode") == Some("ENABLED");
        if let Some(step) = self.deny_scratch {
            let scratch = key.ends_with(zip_oss_core::pack::SEAM_SUFFIX);
            let from_scratch = ["x-amz-copy-source", "x-oss-copy-source"]
                .iter()
                .any(|h| req.header(h).is_some_and(|v| v.contains("zip-oss-seam")));
            let denied = match (step, req.method) {
                ("create", "POST") => scratch && q("uploads").is_some(),
                ("part", "PUT") => scratch && q("partNumber").is_some(),
                ("complete", "POST") => scratch && q("uploadId").is_some(),
                ("copy", "PUT") => from_scratch,
                _ => false,
            };
            if denied {
                return error(403, "AccessDenied");
            }
        }
        if req.method == "HEAD" && self.twin_of.as_ref() == Some(&key) {
            let twin = self.twin.as_ref();
            let there = self.objects.get(&key).map(|o| &o.data);
            self.twin_heads += u64::from(twin.is_some() && there == twin);
        }
        let mut answer = match (req.method, key.is_empty()) {
            ("GET", true) if q("uploads").is_some() => self.list_uploads(
                q("prefix").unwrap_or(""),
                q("key-marker"),
                q("upload-id-marker"),
            ),
            ("GET", true) => self.list(
                q("prefix").unwrap_or(""),
                q("continuation-token"),
                q("start-after"),
                q("delimiter"),
            ),
            ("HEAD", false) => match self.objects.get(&key) {
                Some(o) => Answer {
                    status: 200,
                    headers: [
                        ("content-length".into(), o.data.len().to_string()),
                        ("etag".into(), o.etag.clone()),
                        ("last-modified".into(), http_date(o.mtime)),
                    ]
                    .into_iter()
                    .chain(self.shown(o, mode, true))
                    .chain(o.meta.iter().cloned())
                    .collect(),
                    body: Bytes::new(),
                },
                None => Answer {
                    status: 404,
                    headers: vec![],
                    body: Bytes::new(),
                },
            },
            ("GET", false) if q("uploadId").is_some() => self.list_parts(
                &key,
                q("uploadId").unwrap(),
                q("part-number-marker").map(|m| m.parse().expect("marker")),
            ),
            ("GET", false) => self.get(&key, req.header("range"), req.header("if-match"), mode),
            ("PUT", false) if q("uploadId").is_none() => {
                let exists = self.objects.contains_key(&key);
                if exists && req.header("if-none-match") == Some("*") {
                    return error(412, "PreconditionFailed");
                }
                if exists && req.header("x-oss-forbid-overwrite") == Some("true") {
                    return error(409, "FileAlreadyExists");
                }
                self.put(&key, Bytes::copy_from_slice(body), now);
                let etag = self.objects[&key].etag.clone();
                Answer {
                    status: 200,
                    headers: vec![("etag".into(), etag)],
                    body: Bytes::new(),
                }
            }
            ("POST", false) if q("uploads").is_some() => {
                self.next_id += 1;
                let id = format!("up{}+/{}=", self.next_id, hash(key.as_bytes()) % 1000);
                self.uploads.insert(
                    id.clone(),
                    SimUpload {
                        key: key.clone(),
                        initiated: now,
                        checksummed: req.header("x-amz-checksum-algorithm").is_some(),
                        parts: BTreeMap::new(),
                        meta: req
                            .headers
                            .iter()
                            .filter(|(n, _)| {
                                n.starts_with("x-amz-meta-") || n.starts_with("x-oss-meta-")
                            })
                            .cloned()
                            .collect(),
                    },
                );
                xml(200, &format!("<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>", self.bucket, esc(&key), esc(&id)))
            }
            ("PUT", false)
                if req.header("x-amz-copy-source").is_some()
                    || req.header("x-oss-copy-source").is_some() =>
            {
                let (Some(id), Some(n)) = (q("uploadId"), q("partNumber")) else {
                    return error(400, "InvalidRequest");
                };
                self.copy_part(req, &key, id, n.parse().expect("part number"))
            }
            ("PUT", false) => {
                let (Some(id), Some(n)) = (q("uploadId"), q("partNumber")) else {
                    return error(400, "InvalidRequest");
                };
                let n: u32 = n.parse().expect("part number");
                // S3 checks a part's stated checksum before storing it.
                let a = Algorithm::Crc64Nvme;
                let stated = req.header(a.header());
                if self.provider == Provider::S3
                    && stated.is_some_and(|s| {
                        Checksum::parse(a, s) != Some(Checksum::crc(a, crc(a, body)))
                    })
                {
                    return error(400, "BadDigest");
                }
                let rot = std::mem::take(&mut self.rot_next_part);
                let provider = self.provider;
                match self.uploads.get_mut(id) {
                    Some(u) if u.key == key => {
                        // Like S3 and OSS: the MD5 of the part's bytes as received.
                        let etag = format!("\"{}\"", hex_encode(&md5::Md5::digest(body)));
                        let mut kept = body.to_vec();
                        if rot && !kept.is_empty() {
                            let at = kept.len() / 2;
                            kept[at] ^= 0x20;
                        }
                        u.parts.insert(n, (etag.clone(), Bytes::from(kept)));
                        let mut headers = vec![("etag".into(), etag)];
                        match provider {
                            Provider::S3 => {
                                headers.extend(stated.map(|s| (a.header().into(), s.into())))
                            }
                            Provider::Oss => {
                                let o = Algorithm::Crc64Ecma;
                                let c = Checksum::crc(o, crc(o, body));
                                headers.push((o.header().into(), c.header_value()));
                            }
                        }
                        Answer {
                            status: 200,
                            headers,
                            body: Bytes::new(),
                        }
                    }
                    _ => error(404, "NoSuchUpload"),
                }
            }
            ("POST", false) if q("uploadId").is_some() => {
                let forbid = req.header("if-none-match") == Some("*")
                    || req.header("x-oss-forbid-overwrite") == Some("true");
                let full = req.header("x-amz-checksum-crc64nvme").map(str::to_string);
                self.complete(&key, q("uploadId").unwrap(), body, now, forbid, full)
            }
            ("DELETE", false) if q("uploadId").is_none() => {
                self.objects.remove(&key);
                Answer {
                    status: 204,
                    headers: vec![],
                    body: Bytes::new(),
                }
            }
            ("DELETE", false) if q("uploadId").is_some() => {
                let id = q("uploadId").unwrap();
                let completed = self
                    .completed_uploads
                    .get(id)
                    .is_some_and(|(k, _)| *k == key);
                match self.uploads.get(id) {
                    _ if completed && self.provider == Provider::S3 => Answer {
                        status: 204,
                        headers: vec![],
                        body: Bytes::new(),
                    },
                    Some(u) if u.key == key => {
                        self.uploads.remove(q("uploadId").unwrap());
                        Answer {
                            status: 204,
                            headers: vec![],
                            body: Bytes::new(),
                        }
                    }
                    _ => error(404, "NoSuchUpload"),
                }
            }
            _ => error(400, "InvalidRequest"),
        };
        answer.headers.push(("date".into(), http_date(now)));
        answer
    }

    /// UploadPartCopy: S3's source is `bucket/key`, OSS's `/bucket/key`, both URL-encoded;
    /// `If-Match` on the source (412); S3 states the part's checksum when the upload has
    /// an algorithm, OSS states none.
    fn copy_part(&mut self, req: &HttpRequest, key: &str, id: &str, n: u32) -> Answer {
        if self.refuse_copies {
            return error(501, "NotImplemented");
        }
        let h = |name: &str| {
            let prefix = match self.provider {
                Provider::S3 => "x-amz",
                Provider::Oss => "x-oss",
            };
            req.header(&format!("{prefix}-{name}"))
        };
        let Some(source) = h("copy-source") else {
            return error(400, "InvalidArgument");
        };
        let source = percent_decode_str(source).decode_utf8().expect("utf-8");
        let want = match self.provider {
            Provider::S3 => format!("{}/", self.bucket),
            Provider::Oss => format!("/{}/", self.bucket),
        };
        let Some(source) = source.strip_prefix(&want) else {
            return error(400, "InvalidArgument");
        };
        let Some(o) = self.objects.get(source) else {
            return error(404, "NoSuchKey");
        };
        if h("copy-source-if-match")
            .is_some_and(|m| m.trim_matches('"') != o.etag.trim_matches('"'))
        {
            return error(412, "PreconditionFailed");
        }
        let len = o.data.len() as u64;
        let range = h("copy-source-range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
        let (a, b) = match range {
            Some((a, b)) if a <= b && b < len => (a, b + 1),
            Some(_) => return error(416, "InvalidRange"),
            None => (0, len),
        };
        let data = o.data.slice(a as usize..b as usize);
        let provider = self.provider;
        let Some(u) = self.uploads.get_mut(id).filter(|u| u.key == key) else {
            return error(404, "NoSuchUpload");
        };
        let etag = format!("\"{}\"", hex_encode(&md5::Md5::digest(&data)));
        let checksum = match (provider, u.checksummed) {
            (Provider::S3, true) => {
                let a = Algorithm::Crc64Nvme;
                let c = Checksum::crc(a, crc(a, &data));
                format!(
                    "<ChecksumCRC64NVME>{}</ChecksumCRC64NVME>",
                    c.header_value()
                )
            }
            _ => String::new(),
        };
        u.parts.insert(n, (etag.clone(), data));
        xml(
            200,
            &format!(
                "<CopyPartResult><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>{}</ETag>{checksum}</CopyPartResult>",
                esc(&etag)
            ),
        )
    }

    /// `ListObjectsV2` as S3 answers it: with a delimiter, the "folders" past the prefix
    /// are common prefixes, counted against `max-keys` with the keys, and a page ending on
    /// one continues past every key under it; `start-after` is ignored once a token is given.
    fn list(
        &mut self,
        prefix: &str,
        token: Option<&str>,
        start_after: Option<&str>,
        delimiter: Option<&str>,
    ) -> Answer {
        // Tokens are opaque and hold `+`, `/` and `=`, as real ones do; OSS sends them
        // URL-encoded (with the keys) and expects them back decoded.
        let (after, folder) = match token {
            None | Some("") => (start_after.map(str::to_string), false),
            Some(t) => match t.strip_prefix("tok+/").and_then(|t| t.strip_suffix('=')) {
                Some(hex) => {
                    let item = String::from_utf8(hex_decode(hex)).expect("token key");
                    match item.strip_prefix('\u{1}') {
                        Some(folder) => (Some(folder.to_string()), true),
                        None => (Some(item), false),
                    }
                }
                None => return error(400, "InvalidArgument"),
            },
        };
        let delimiter = delimiter.filter(|d| !d.is_empty());
        // A delimited page holds every subfolder of these small folders, as 1,000 keys a
        // page do in a real one; flat pages stay small, so a listing is worth cutting.
        let page_size = match delimiter {
            Some(_) => 1000,
            None => self.page_size,
        };
        // Each item: a key with its object, or a common prefix.
        let mut items: Vec<(String, Option<&Object>)> = Vec::new();
        for (k, o) in self.objects.range(prefix.to_string()..) {
            if !k.starts_with(prefix) || items.len() > page_size {
                break;
            }
            if after
                .as_ref()
                .is_some_and(|a| k <= a || (folder && k.starts_with(a.as_str())))
            {
                continue;
            }
            let rest = &k[prefix.len()..];
            match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
                Some(end) => {
                    let common = format!("{prefix}{}", &rest[..end]);
                    if items
                        .last()
                        .is_none_or(|(last, o)| o.is_some() || *last != common)
                    {
                        items.push((common, None));
                    }
                }
                None => items.push((k.clone(), Some(o))),
            }
        }
        let truncated = items.len() > page_size;
        let page = &items[..items.len().min(page_size)];
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        x.push_str(match self.provider {
            Provider::S3 => "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
            Provider::Oss => "<ListBucketResult>",
        });
        x.push_str(&format!(
            "<Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{}</MaxKeys><EncodingType>url</EncodingType><IsTruncated>{truncated}</IsTruncated><KeyCount>{}</KeyCount>",
            self.bucket,
            url_encode(prefix),
            page_size,
            page.len()
        ));
        if truncated {
            let last = match page.last().expect("a full page") {
                (key, Some(_)) => key.clone(),
                (common, None) => format!("\u{1}{common}"),
            };
            let token = format!("tok+/{}=", hex_encode(last.as_bytes()));
            let token = match self.provider {
                Provider::S3 => esc(&token),
                Provider::Oss => url_encode(&token),
            };
            x.push_str(&format!(
                "<NextContinuationToken>{token}</NextContinuationToken>"
            ));
        }
        for (k, o) in page.iter().filter_map(|(k, o)| Some((k, (*o)?))) {
            x.push_str(&format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                url_encode(k),
                iso_date(o.mtime),
                esc(&o.etag),
                o.data.len()
            ));
        }
        for (common, _) in page.iter().filter(|(_, o)| o.is_none()) {
            x.push_str(&format!(
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                url_encode(common)
            ));
        }
        x.push_str("</ListBucketResult>");
        xml(200, &x)
    }

    fn list_uploads(
        &self,
        prefix: &str,
        key_marker: Option<&str>,
        id_marker: Option<&str>,
    ) -> Answer {
        let mut all: Vec<(&String, &String, i64)> = self
            .uploads
            .iter()
            .filter(|(_, u)| u.key.starts_with(prefix))
            .map(|(id, u)| (&u.key, id, u.initiated))
            .collect();
        all.sort();
        let after = |k: &String, id: &String| match (key_marker, id_marker) {
            (Some(km), Some(im)) if !im.is_empty() => (k.as_str(), id.as_str()) > (km, im),
            (Some(km), _) => k.as_str() > km,
            _ => true,
        };
        let rest: Vec<_> = all.into_iter().filter(|(k, id, _)| after(k, id)).collect();
        let truncated = rest.len() > self.uploads_page_size;
        let page = &rest[..rest.len().min(self.uploads_page_size)];
        let mut x = String::from(
            "<ListMultipartUploadsResult><Bucket>bkt</Bucket><EncodingType>url</EncodingType>",
        );
        x.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
        if truncated {
            let (k, id, _) = page.last().expect("a full page");
            x.push_str(&format!(
                "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{}</NextUploadIdMarker>",
                url_encode(k),
                esc(id)
            ));
        }
        for (k, id, at) in page {
            x.push_str(&format!(
                "<Upload><Key>{}</Key><UploadId>{}</UploadId><Initiated>{}</Initiated></Upload>",
                url_encode(k),
                esc(id),
                iso_date(*at)
            ));
        }
        x.push_str("</ListMultipartUploadsResult>");
        xml(200, &x)
    }

    fn list_parts(&self, key: &str, id: &str, marker: Option<u32>) -> Answer {
        let u = match self.uploads.get(id) {
            Some(u) if u.key == key => u,
            _ => return error(404, "NoSuchUpload"),
        };
        let rest: Vec<_> = u
            .parts
            .iter()
            .filter(|(n, _)| marker.is_none_or(|m| **n > m))
            .collect();
        let truncated = rest.len() > self.parts_page_size;
        let page = &rest[..rest.len().min(self.parts_page_size)];
        let mut x = format!(
            "<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><IsTruncated>{truncated}</IsTruncated>",
            self.bucket,
            esc(key),
            esc(id)
        );
        if let Some((n, _)) = page.last() {
            x.push_str(&format!("<NextPartNumberMarker>{n}</NextPartNumberMarker>"));
        }
        for (n, (etag, data)) in page {
            let checksum = match self.provider {
                Provider::Oss => {
                    let o = Algorithm::Crc64Ecma;
                    format!("<HashCrc64ecma>{}</HashCrc64ecma>", crc(o, data))
                }
                Provider::S3 if u.checksummed => {
                    let a = Algorithm::Crc64Nvme;
                    let c = Checksum::crc(a, crc(a, data));
                    format!(
                        "<ChecksumCRC64NVME>{}</ChecksumCRC64NVME>",
                        c.header_value()
                    )
                }
                Provider::S3 => String::new(),
            };
            x.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>{}</ETag>{checksum}<Size>{}</Size></Part>",
                esc(etag),
                data.len()
            ));
        }
        x.push_str("</ListPartsResult>");
        xml(200, &x)
    }

    fn get(&self, key: &str, range: Option<&str>, if_match: Option<&str>, mode: bool) -> Answer {
        let Some(o) = self.objects.get(key) else {
            return error(404, "NoSuchKey");
        };
        if if_match.is_some_and(|m| m.trim_matches('"') != o.etag.trim_matches('"')) {
            return error(412, "PreconditionFailed");
        }
        let size = o.data.len() as u64;
        let (status, from, to) = match range {
            None => (200, 0, size),
            Some(r) => {
                let (a, b) = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .expect("a byte range");
                let a: u64 = a.parse().expect("range start");
                if a >= size {
                    return error(416, "InvalidRange");
                }
                let b = if b.is_empty() {
                    size
                } else {
                    (b.parse::<u64>().expect("range end") + 1).min(size)
                };
                (206, a, b)
            }
        };
        let whole = from == 0 && to == size;
        Answer {
            status,
            headers: [
                ("content-length".into(), (to - from).to_string()),
                ("etag".into(), o.etag.clone()),
                ("last-modified".into(), http_date(o.mtime)),
            ]
            .into_iter()
            .chain(self.shown(o, mode, whole))
            .chain(o.meta.iter().cloned())
            .collect(),
            body: o.data.slice(from as usize..to as usize),
        }
    }

    /// Puts the older object [`SimStore::twin_of`] asks for, before the first Complete
    /// (`body`, sent to `url`) of an upload: as large as the parts it lists.
    pub fn plant_twin(&mut self, url: &str, body: &[u8], now: i64) {
        let Some(key) = self.twin_of.clone().filter(|_| self.twin.is_none()) else {
            return;
        };
        let (_, query) = split_url(url);
        let Some((_, id)) = query.iter().find(|(n, _)| n == "uploadId") else {
            return;
        };
        let Some(u) = self.uploads.get(id).filter(|u| u.key == key) else {
            return;
        };
        let listed = parse_parts(std::str::from_utf8(body).unwrap_or(""));
        let size: usize = listed
            .iter()
            .filter_map(|(n, _)| u.parts.get(n).map(|(_, b)| b.len()))
            .sum();
        let data = Bytes::from(vec![0x5a; size]);
        self.put(&key, data.clone(), now);
        self.twin = Some(data);
    }

    fn complete(
        &mut self,
        key: &str,
        id: &str,
        body: &[u8],
        now: i64,
        forbid: bool,
        full_crc64nvme: Option<String>,
    ) -> Answer {
        match (self.uploads.get(id), self.completed_uploads.get(id)) {
            (Some(u), _) if u.key == key => {}
            (_, Some((k, answer))) if k == key && self.provider == Provider::S3 => {
                return answer.clone();
            }
            _ => return error(404, "NoSuchUpload"),
        }
        // Conditional completion: S3's `If-None-Match: *`, OSS's `x-oss-forbid-overwrite`.
        if forbid && self.objects.contains_key(key) {
            return match self.provider {
                Provider::S3 => error(412, "PreconditionFailed"),
                Provider::Oss => error(409, "FileAlreadyExists"),
            };
        }
        let listed = parse_parts(std::str::from_utf8(body).expect("xml"));
        let u = &self.uploads[id];
        if listed.is_empty() {
            return error(400, "MalformedXML");
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return error(400, "InvalidPartOrder");
        }
        let mut data = Vec::new();
        for (i, (n, etag)) in listed.iter().enumerate() {
            let Some((have, bytes)) = u.parts.get(n) else {
                return error(400, "InvalidPart");
            };
            if have != etag {
                return error(400, "InvalidPart");
            }
            if i + 1 < listed.len() && (bytes.len() as u64) < self.min_part {
                return error(400, "EntityTooSmall");
            }
            data.extend_from_slice(bytes);
        }
        // A FULL_OBJECT upload: S3 checks the stated checksum of the whole and keeps it.
        let a = Algorithm::Crc64Nvme;
        let whole = Checksum::crc(a, crc(a, &data));
        let s3 = match &full_crc64nvme {
            Some(stated) if self.provider == Provider::S3 => {
                if Checksum::parse(a, stated).as_ref() != Some(&whole) {
                    return error(400, "BadDigest");
                }
                S3Checksum::Full(a)
            }
            _ => S3Checksum::Composite,
        };
        let parts = listed.len();
        let meta = self.uploads.remove(id).map(|u| u.meta).unwrap_or_default();
        self.completed_keys.insert(key.to_string());
        self.versions += 1;
        let etag = format!("\"{:016x}{:016x}-{parts}\"", hash(&data), self.versions);
        let checksum = self.checksum_of(&data, s3);
        let mut answer = xml(
            200,
            &format!(
                "<CompleteMultipartUploadResult><Key>{}</Key><ETag>{}</ETag>{}</CompleteMultipartUploadResult>",
                esc(key),
                esc(&etag),
                match s3 {
                    S3Checksum::Full(_) if self.provider == Provider::S3 => format!(
                        "<ChecksumCRC64NVME>{}</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType>",
                        whole.header_value()
                    ),
                    _ => String::new(),
                }
            ),
        );
        if self.provider == Provider::Oss {
            answer.headers.extend(checksum.iter().cloned());
        }
        self.objects.insert(
            key.to_string(),
            Object {
                data: Bytes::from(data),
                etag,
                mtime: now,
                checksum,
                meta,
            },
        );
        if self.overwritten_after_complete.as_deref() == Some(key) {
            let marker = marker_header(self.provider);
            self.put(key, Bytes::from_static(b"another pack's archive"), now);
            let o = self.objects.get_mut(key).expect("just put");
            if self.overwritten_with_marker {
                o.meta = vec![(marker, "another-pack".into())];
            }
            answer = xml(
                200,
                &format!(
                    "<CompleteMultipartUploadResult><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
                    esc(key),
                    esc(&o.etag)
                ),
            );
        }
        self.completed_uploads
            .insert(id.to_string(), (key.to_string(), answer.clone()));
        answer
    }
}

pub fn error(status: u16, code: &str) -> Answer {
    xml(
        status,
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>simulated {code}</Message><RequestId>sim</RequestId></Error>"),
    )
}

fn xml(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path_q = &rest[rest.find('/').unwrap_or(rest.len())..];
    let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .expect("utf-8")
                    .into_owned()
            };
            (d(n), d(v))
        })
        .collect();
    (path.to_string(), query)
}

/// `(part number, ETag)` of a CompleteMultipartUpload body, in the order listed.
fn parse_parts(xml: &str) -> Vec<(u32, String)> {
    xml.split("<Part>")
        .skip(1)
        .map(|p| {
            let field = |name: &str| {
                let open = format!("<{name}>");
                let start = p.find(&open).expect("field") + open.len();
                let end = p[start..].find('<').expect("field end") + start;
                p[start..end].replace("&quot;", "\"").replace("&amp;", "&")
            };
            (field("PartNumber").parse().expect("number"), field("ETag"))
        })
        .collect()
}

fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, KEEP).to_string().replace("%20", "+")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// FNV-1a: ETags only need to tell contents apart.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn iso_date(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).expect("time");
    d.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn http_date(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).expect("time");
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    d.format(&f).expect("format")
}
