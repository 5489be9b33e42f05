//! s3s-fs with the S3 behaviour it lacks and the component relies on:
//!
//! - `ListObjectsV2` with `encoding-type=url` answers `<EncodingType>url</EncodingType>` but
//!   sends raw keys; real S3 and OSS percent-encode them (space as `+`). We encode them.
//! - `ListMultipartUploads` is not implemented; we track the uploads this process started
//!   and answers with those still open, so tests can prove no upload is left behind.
//! - `ListParts` lists parts unordered, without ETags and in one page; S3 lists them in
//!   part-number order, 1,000 a page (`max-parts`, `part-number-marker`,
//!   `NextPartNumberMarker`), each with its ETag (the MD5 of its bytes) and, for an upload
//!   created with a checksum algorithm, its checksum. We do (a resumed pack relies on it).
//! - An upload id it has no record of (completed or aborted already) is answered
//!   `403 AccessDenied`; S3 and OSS answer `404 NoSuchUpload`, which is what a client
//!   repeating a completion or abort whose answer was lost gets. We answer that.
//!
//! Checksums, as S3 has had them since 2025 (the checks themselves are in [`checksums`]):
//!
//! - `PutObject` without a checksum or algorithm gets CRC-64/NVME, S3's default; s3s-fs
//!   computes none (and, given an algorithm without a value, answers BadDigest). A wrong
//!   `x-amz-checksum-*` or `Content-MD5` is refused (`400 BadDigest`) *before* the object
//!   is replaced; s3s-fs checks after moving the data into place.
//! - `GetObject` and `HeadObject` answer `x-amz-checksum-*` and `x-amz-checksum-type` only
//!   in checksum mode (`x-amz-checksum-mode: ENABLED`), Get only for a whole-object answer;
//!   s3s-fs sends them always (and, like S3, not for a partial range).
//! - `CreateMultipartUpload`'s `x-amz-checksum-algorithm` and `-type` are checked as S3
//!   checks them (CRC-64/NVME is full-object only, SHA composite only), remembered and
//!   answered back; without them the upload is CRC-64/NVME full-object, S3's default.
//!   s3s-fs ignores them.
//! - `UploadPart` verifies `x-amz-checksum-*` (header, or aws-chunked trailer) and
//!   `Content-MD5` against the body as it streams: `400 BadDigest` and the part is not
//!   stored; a checksum of another algorithm than the upload's is `400 InvalidRequest`
//!   (S3 accepts one in an upload created without an algorithm; we do not). The answer
//!   echoes the part's checksum. s3s-fs checks nothing.
//! - `UploadPartCopy` (s3s-fs: no preconditions, no checksum, a 4 KiB read loop) honours
//!   `x-amz-copy-source-if-match` / `-if-none-match` against the source's ETag (`412
//!   PreconditionFailed`, nothing stored), reads `x-amz-copy-source-range` as S3 does
//!   (`bytes=first-last` within the object, else `400 InvalidArgument`), copies in 8 MiB
//!   blocking reads, and records the part's ETag (MD5) and checksum as UploadPart's are, so
//!   ListParts lists them and a full-object Complete combines them; `<CopyPartResult>`
//!   carries the part's checksum in the upload's algorithm when the upload named one.
//! - `CompleteMultipartUpload` refuses a part but the last under 5 MiB (`400
//!   EntityTooSmall`, the upload left open); s3s-fs takes any size.
//! - `CompleteMultipartUpload` refuses a `<Checksum…>` that is not that part's
//!   (`400 InvalidPart`), an `x-amz-checksum-type` other than the upload's
//!   (`400 InvalidRequest`), and for a full-object upload a stated whole-object checksum
//!   other than the parts' CRCs combined (`400 BadDigest`; the upload stays open). A stated
//!   composite checksum is not checked. The object then has the full-object checksum, or
//!   the checksum of the parts' checksums `-N` for a composite upload, in the answer and on
//!   later Get/Head; s3s-fs records none, and keeps a replaced object's stale one.
//! - `DeleteObject(s)` forget the object's checksum; s3s-fs leaves its record behind, so a
//!   file later written at that key would answer the old one.
//!
//! Objects written as plain files into the store's folder (how tests seed data) have no
//! record and answer without a checksum, as objects uploaded to S3 before 2025 do. An
//! object's checksum is kept where s3s-fs 0.14.1 keeps its own: the `checksum_<alg>` field
//! of its `.bucket-<b64>.object-<b64>.internal.json` (s3s-fs reads it back on Get/Head).
//!
//! - `ListObjectsV2` walks the prefix's folder once per page instead of with a blocking
//!   task per file (`listing.rs`): the same answer, 10,000 keys in ~10 ms a page, with a
//!   delimiter too.
//!
//! Every other operation the component and tests use is passed through unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

use super::checksums::{self, Algorithm, BodyCheck, Checked, Verdict, COMPOSITE, FULL_OBJECT};
use super::part_copy;

/// S3's smallest part but the last: 5 MiB.
const MIN_PART: u64 = 5 << 20;

pub struct FixedFs {
    fs: FileSystem,
    /// s3s-fs's root (canonical), where its per-object records are.
    root: PathBuf,
    /// Open uploads: `(bucket, key, upload id)` → what we know of it.
    uploads: Mutex<BTreeMap<(String, String, String), OpenUpload>>,
    /// Names our temporary record files apart.
    tmp_counter: AtomicU64,
}

/// What CreateMultipartUpload asked for and UploadPart delivered.
#[derive(Clone)]
struct OpenUpload {
    started: SystemTime,
    alg: Algorithm,
    checksum_type: &'static str,
    /// Whether CreateMultipartUpload named the algorithm (else S3's default applies, and a
    /// Complete naming a checksum type names one the upload does not have).
    explicit: bool,
    /// Each part's checksum under `alg`, and length, by part number.
    parts: BTreeMap<i32, Checked>,
    /// Each part's ETag as UploadPart answered it (the MD5 s3s-fs computed while writing).
    etags: BTreeMap<i32, String>,
}

impl FixedFs {
    /// `root` is the folder `fs` serves (s3s-fs canonicalizes it; so do we).
    pub fn new(fs: FileSystem, root: &Path) -> Self {
        FixedFs {
            fs,
            root: std::env::current_dir()
                .map(|d| d.join(root))
                .and_then(|p| p.canonicalize())
                .unwrap_or_else(|_| root.to_path_buf()),
            uploads: Mutex::new(BTreeMap::new()),
            tmp_counter: AtomicU64::new(0),
        }
    }

    fn forget(&self, bucket: &str, key: &str, upload_id: &str) {
        self.uploads.lock().unwrap().remove(&(
            bucket.to_string(),
            key.to_string(),
            upload_id.to_string(),
        ));
    }

    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Option<OpenUpload> {
        let id = (bucket.to_string(), key.to_string(), upload_id.to_string());
        self.uploads.lock().unwrap().get(&id).cloned()
    }
}

impl FixedFs {
    /// s3s-fs's `AccessDenied` for an upload id it has no record of, as S3's `NoSuchUpload`
    /// (the credentials are checked before: with the right ones, a missing record is the
    /// only way s3s-fs denies these operations).
    fn no_such_upload(&self, e: S3Error, upload_id: &str) -> S3Error {
        let open = self
            .uploads
            .lock()
            .unwrap()
            .keys()
            .any(|(_, _, id)| id == upload_id);
        if *e.code() == S3ErrorCode::AccessDenied && !open {
            s3s::s3_error!(
                NoSuchUpload,
                "The specified upload does not exist: it was completed or aborted"
            )
        } else {
            e
        }
    }

    /// s3s-fs's record of an object (private to s3s-fs 0.14.1, see the module doc).
    fn record_path(&self, bucket: &str, key: &str) -> PathBuf {
        let b64 = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
        self.root.join(format!(
            ".bucket-{}.object-{}.internal.json",
            b64(bucket),
            b64(key)
        ))
    }

    /// Makes `value` the object's only checksum in its record, which s3s-fs answers on
    /// Get/Head. Written aside and renamed, as s3s-fs writes it (and named so s3s-fs
    /// clears it away at start should we stop midway).
    async fn record_checksum(
        &self,
        bucket: &str,
        key: &str,
        alg: Algorithm,
        value: &str,
    ) -> S3Result<()> {
        let path = self.record_path(bucket, key);
        let mut record: serde_json::Map<String, serde_json::Value> =
            match tokio::fs::read(&path).await {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(S3Error::internal_error)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
                Err(e) => return Err(S3Error::internal_error(e)),
            };
        record.retain(|k, _| !k.starts_with("checksum_"));
        record.insert(
            format!("checksum_{}", alg.name().to_lowercase()),
            value.into(),
        );
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.root.join(format!(".tmp.zip-oss-{n}.internal.part"));
        let bytes = serde_json::to_vec(&record).map_err(S3Error::internal_error)?;
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(S3Error::internal_error)?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(S3Error::internal_error)
    }

    /// Whether s3s-fs holds upload `id`, started with `access_key` (its `.upload-<id>.json`
    /// names the key; private to s3s-fs 0.14.1, as the record paths).
    async fn upload_record_is(&self, id: &str, access_key: Option<&str>) -> bool {
        if !upload_id_is_plain(id) {
            return false;
        }
        let path = self.root.join(format!(".upload-{id}.json"));
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice::<Option<String>>(&bytes)
                .is_ok_and(|ak| ak.as_deref() == access_key),
            Err(_) => false,
        }
    }

    /// `<root>/<bucket>/<key>`, if neither climbs out of it.
    fn object_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let plain = |s: &str| {
            !s.is_empty()
                && Path::new(s)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        };
        (plain(bucket) && plain(key)).then(|| self.root.join(bucket).join(key))
    }

    /// The ETag s3s-fs recorded for an object (objects written as plain files have none).
    async fn recorded_etag(&self, bucket: &str, key: &str) -> Option<String> {
        let bytes = tokio::fs::read(self.record_path(bucket, key)).await.ok()?;
        let record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).ok()?;
        record.get("e_tag")?.as_str().map(str::to_owned)
    }

    /// S3's minimum part size, checked when the upload completes (the last part listed may
    /// be smaller): `400 EntityTooSmall`, the upload left open. A listed part s3s-fs has no
    /// file of is left to its own answer.
    async fn check_part_sizes(
        &self,
        id: &str,
        input: &CompleteMultipartUploadInput,
    ) -> S3Result<()> {
        let listed: Vec<i32> = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.part_number)
            .collect();
        let Some((_, but_last)) = listed.split_last().filter(|_| upload_id_is_plain(id)) else {
            return Ok(());
        };
        for n in but_last {
            let path = self.root.join(format!(".upload_id-{id}.part-{n}"));
            if let Ok(meta) = tokio::fs::metadata(&path).await {
                if meta.len() < MIN_PART {
                    return Err(s3s::s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed object size."
                    ));
                }
            }
        }
        Ok(())
    }

    /// Drops a deleted object's record (its ETag and checksum).
    async fn forget_object(&self, bucket: &str, key: &str) -> S3Result<()> {
        match tokio::fs::remove_file(self.record_path(bucket, key)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(S3Error::internal_error(e)),
            _ => Ok(()),
        }
    }
}

/// A request's or answer's five checksum fields as an s3s `Checksum`.
macro_rules! checksum_of {
    ($x:expr) => {
        Checksum {
            checksum_crc32: $x.checksum_crc32.clone(),
            checksum_crc32c: $x.checksum_crc32c.clone(),
            checksum_crc64nvme: $x.checksum_crc64nvme.clone(),
            checksum_sha1: $x.checksum_sha1.clone(),
            checksum_sha256: $x.checksum_sha256.clone(),
            ..Default::default()
        }
    };
}

/// Sets an answer's checksum fields: `value` under `alg`, every other one cleared.
macro_rules! set_checksum {
    ($out:expr, $alg:expr, $value:expr) => {{
        let mut c = Checksum::default();
        *$alg.field(&mut c) = $value;
        $out.checksum_crc32 = c.checksum_crc32;
        $out.checksum_crc32c = c.checksum_crc32c;
        $out.checksum_crc64nvme = c.checksum_crc64nvme;
        $out.checksum_sha1 = c.checksum_sha1;
        $out.checksum_sha256 = c.checksum_sha256;
    }};
}

/// A Get/Head answer's checksum: only in checksum mode, with its type (a composite value
/// ends in `-<parts>`); s3s-fs fills the value from the object's record.
macro_rules! answer_checksum {
    ($out:expr, $mode:expr) => {{
        let found = Algorithm::ALL
            .into_iter()
            .find_map(|a| a.field(&mut checksum_of!($out)).clone().map(|v| (a, v)));
        match found {
            Some((alg, value)) if checksum_mode($mode) => {
                let t = if value.contains('-') {
                    COMPOSITE
                } else {
                    FULL_OBJECT
                };
                set_checksum!($out, alg, Some(value));
                $out.checksum_type = Some(ChecksumType::from_static(t));
            }
            _ => {
                set_checksum!($out, Algorithm::Crc64Nvme, None);
                $out.checksum_type = None;
            }
        }
    }};
}

fn checksum_mode(mode: &Option<ChecksumMode>) -> bool {
    mode.as_ref()
        .is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// The error to answer for a write s3s-fs failed: ours if the body failed its checks
/// (s3s-fs saw only a broken stream), else s3s-fs's.
fn judged(verdict: &Verdict, e: S3Error) -> S3Error {
    match verdict.lock().unwrap().take() {
        Some(Err(bad)) => bad,
        _ => e,
    }
}

fn invalid_request(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

fn invalid_part() -> S3Error {
    s3s::s3_error!(
        InvalidPart,
        "One or more of the specified parts could not be found.  The part may not have been \
         uploaded, or the specified entity tag may not match the part's entity tag."
    )
}

/// An upload id as s3s-fs makes them (a UUID): safe in a file name.
fn upload_id_is_plain(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// S3's `encoding-type=url`: form-urlencoding, so a space is `+`.
fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `S3` impl: the listed operations go straight to s3s-fs, the rest are written out.
/// (A macro around the whole impl, so `async_trait` sees the expanded methods.)
macro_rules! impl_s3 {
    ($($op:ident: $input:ident => $output:ident;)* { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl S3 for FixedFs {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$op(req).await
                }
            )*
            $($own)*
        }
    };
}

impl_s3! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
    {

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let mode = req.input.checksum_mode.clone();
        let mut resp = self.fs.get_object(req).await?;
        answer_checksum!(resp.output, &mode);
        Ok(resp)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let mode = req.input.checksum_mode.clone();
        let mut resp = self.fs.head_object(req).await?;
        answer_checksum!(resp.output, &mode);
        Ok(resp)
    }

    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let trailer = req.headers.contains_key("x-amz-trailer");
        let input = &mut req.input;
        let claim = checksums::claimed(&checksum_of!(input))?;
        let asked = match &input.checksum_algorithm {
            Some(a) => Some(Algorithm::parse(a.as_str()).ok_or_else(unsupported_algorithm)?),
            None => None,
        };
        let alg = claim.as_ref().map(|(a, _)| *a).or(asked).unwrap_or(Algorithm::Crc64Nvme);
        // Nothing to compare: we record the checksum ourselves (S3's default when nothing
        // is asked). s3s-fs, given an algorithm without a value, would answer BadDigest.
        let ours = claim.is_none() && !trailer;
        if ours {
            input.checksum_algorithm = None;
        }
        let md5 = input.content_md5.as_deref().map(checksums::content_md5).transpose()?;
        let check = BodyCheck { alg, claimed: claim.map(|(_, raw)| raw), md5, trailers: req.trailing_headers.clone() };
        let verdict = match req.input.body.take() {
            Some(body) => {
                let (body, verdict) = checksums::verify_body(body, check);
                req.input.body = Some(body);
                verdict
            }
            None => Verdict::default(),
        };
        let mut resp = self.fs.put_object(req).await.map_err(|e| judged(&verdict, e))?;
        let checked = verdict.lock().unwrap().take();
        if let (true, Some(Ok(body))) = (ours, checked) {
            let value = checksums::encode(&body.checksum);
            self.record_checksum(&bucket, &key, alg, &value).await?;
            set_checksum!(resp.output, alg, Some(value));
        }
        let out = &mut resp.output;
        if Algorithm::ALL.into_iter().any(|a| a.field(&mut checksum_of!(out)).is_some()) {
            out.checksum_type = Some(ChecksumType::from_static(FULL_OBJECT));
        }
        Ok(resp)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = self.fs.delete_object(req).await?;
        self.forget_object(&bucket, &key).await?;
        Ok(resp)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let resp = self.fs.delete_objects(req).await?;
        for deleted in resp.output.deleted.iter().flatten() {
            if let Some(key) = &deleted.key {
                self.forget_object(&bucket, key).await?;
            }
        }
        Ok(resp)
    }

    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &mut req.input;
        let (bucket, key, id, number) =
            (input.bucket.clone(), input.key.clone(), input.upload_id.clone(), input.part_number);
        // An upload this process did not start (s3s-fs denies unknown ones): S3's default.
        let alg = self.upload(&bucket, &key, &id).map_or(Algorithm::Crc64Nvme, |u| u.alg);
        let claim = checksums::claimed(&checksum_of!(input))?;
        if let Some((other, _)) = claim.as_ref().filter(|(a, _)| *a != alg) {
            return Err(invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                alg.name().to_lowercase(),
                other.name().to_lowercase()
            )));
        }
        let md5 = input.content_md5.as_deref().map(checksums::content_md5).transpose()?;
        let check = BodyCheck { alg, claimed: claim.map(|(_, raw)| raw), md5, trailers: req.trailing_headers.clone() };
        let body = input.body.take().ok_or_else(|| s3s::s3_error!(IncompleteBody))?;
        let (body, verdict) = checksums::verify_body(body, check);
        input.body = Some(body);
        let mut resp = self
            .fs
            .upload_part(req)
            .await
            .map_err(|e| judged(&verdict, e))
            .map_err(|e| self.no_such_upload(e, &id))?;
        let checked = verdict.lock().unwrap().take().and_then(Result::ok);
        if let Some(part) = &checked {
            set_checksum!(resp.output, alg, Some(checksums::encode(&part.checksum)));
        }
        if let Some(u) = self.uploads.lock().unwrap().get_mut(&(bucket, key, id)) {
            if let Some(etag) = &resp.output.e_tag {
                u.etags.insert(number, etag.value().to_string());
            }
            if let Some(part) = checked {
                u.parts.insert(number, part);
            }
        }
        Ok(resp)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let access_key = req.credentials.as_ref().map(|c| c.access_key.clone());
        let input = req.input;
        let (bucket, key, id, number) = (input.bucket, input.key, input.upload_id, input.part_number);
        if !(1..=10_000).contains(&number) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        // The upload: s3s-fs's record of it, made by the same credentials.
        if !self.upload_record_is(&id, access_key.as_deref()).await {
            return Err(self.no_such_upload(s3s::s3_error!(AccessDenied), &id));
        }
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => return Err(s3s::s3_error!(NotImplemented)),
        };
        let no_such_key = || s3s::s3_error!(NoSuchKey, "The specified key does not exist.");
        let src_path = self.object_path(&src_bucket, &src_key).ok_or_else(no_such_key)?;
        let mut src = match std::fs::File::open(&src_path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => f,
            _ => return Err(no_such_key()),
        };
        let size = src.metadata().map_err(S3Error::internal_error)?.len();

        // Preconditions on the source, against the ETag of the version just opened.
        let (if_match, if_none_match) = (input.copy_source_if_match, input.copy_source_if_none_match);
        if if_match.is_some() || if_none_match.is_some() {
            let etag = match self.recorded_etag(&src_bucket, &src_key).await {
                Some(etag) => etag,
                None => {
                    let (etag, file) = tokio::task::spawn_blocking(move || {
                        let etag = part_copy::md5_of(&mut src);
                        (etag, src)
                    })
                    .await
                    .map_err(S3Error::internal_error)?;
                    src = file;
                    etag.map_err(S3Error::internal_error)?
                }
            };
            let holds = |c: &ETagCondition| match c.as_etag() {
                None => true, // `*`
                Some(want) => want.value() == etag,
            };
            let failed = if_match.as_ref().is_some_and(|c| !holds(c))
                || if_none_match.as_ref().is_some_and(holds);
            if failed {
                return Err(s3s::s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        let (start, len) = part_copy::source_range(input.copy_source_range.as_deref(), size)?;
        if len > part_copy::MAX_PART {
            return Err(invalid_request(format!(
                "The specified copy source is larger than the maximum allowable size for a copy \
                 source: {}",
                part_copy::MAX_PART
            )));
        }

        // The copy, into a file of ours moved into the part's place once complete.
        let upload = self.upload(&bucket, &key, &id);
        let alg = upload.as_ref().map_or(Algorithm::Crc64Nvme, |u| u.alg);
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.root.join(format!(".tmp.zip-oss-{n}.internal.part"));
        let part_path = self.root.join(format!(".upload_id-{id}.part-{number}"));
        let (etag, part) = tokio::task::spawn_blocking(move || {
            let copied = part_copy::copy_range(&mut src, start, len, &tmp, alg)?;
            std::fs::rename(&tmp, &part_path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            std::io::Result::Ok(copied)
        })
        .await
        .map_err(S3Error::internal_error)?
        .map_err(S3Error::internal_error)?;

        let mut result = CopyPartResult {
            e_tag: Some(ETag::Strong(etag.clone())),
            last_modified: Some(Timestamp::from(SystemTime::now())),
            ..Default::default()
        };
        // S3 states the part's checksum for an upload created with an algorithm.
        if upload.as_ref().is_some_and(|u| u.explicit) {
            set_checksum!(result, alg, Some(checksums::encode(&part.checksum)));
        }
        if let Some(u) = self.uploads.lock().unwrap().get_mut(&(bucket, key, id)) {
            u.etags.insert(number, etag);
            u.parts.insert(number, part);
        }
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(result),
            ..Default::default()
        }))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = &req.input;
        let (bucket, key, id) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let after = input.part_number_marker.unwrap_or(0);
        let mut resp = self.fs.list_parts(req).await.map_err(|e| self.no_such_upload(e, &id))?;
        let upload = self.upload(&bucket, &key, &id);
        let mut parts: Vec<Part> =
            resp.output.parts.take().unwrap_or_default().into_iter().filter(|p| p.part_number > Some(after)).collect();
        parts.sort_by_key(|p| p.part_number);
        let truncated = parts.len() > max;
        parts.truncate(max);
        for p in &mut parts {
            let n = p.part_number.unwrap_or_default();
            let etag = match upload.as_ref().and_then(|u| u.etags.get(&n)) {
                Some(etag) => etag.clone(),
                // Uploaded before this process started: the MD5 of the part's file.
                None => {
                    let path = self.root.join(format!(".upload_id-{id}.part-{n}"));
                    let data = tokio::fs::read(&path).await.map_err(|e| s3s::s3_error!(InternalError, "{e}"))?;
                    hex_md5(&data)
                }
            };
            p.e_tag = Some(ETag::Strong(etag));
            if let Some(u) = upload.as_ref().filter(|u| u.explicit) {
                if let Some(part) = u.parts.get(&n) {
                    set_checksum!(p, u.alg, Some(checksums::encode(&part.checksum)));
                }
            }
        }
        resp.output.max_parts = Some(max as i32);
        resp.output.is_truncated = Some(truncated);
        resp.output.part_number_marker = Some(after);
        resp.output.next_part_number_marker =
            parts.last().and_then(|p| p.part_number);
        resp.output.parts = Some(parts);
        Ok(resp)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let encode = req.input.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let mut resp = super::listing::list_objects_v2(&self.root, req).await?;
        if encode {
            let out = &mut resp.output;
            for obj in out.contents.iter_mut().flatten() {
                obj.key = obj.key.as_deref().map(url_encode);
            }
            out.prefix = out.prefix.as_deref().map(url_encode);
            out.start_after = out.start_after.as_deref().map(url_encode);
            out.delimiter = out.delimiter.as_deref().map(url_encode);
            for p in out.common_prefixes.iter_mut().flatten() {
                p.prefix = p.prefix.as_deref().map(url_encode);
            }
        }
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (alg, checksum_type, explicit) =
            upload_checksum(&req.input.checksum_algorithm, &req.input.checksum_type)?;
        let mut resp = self.fs.create_multipart_upload(req).await?;
        if let Some(id) = &resp.output.upload_id {
            let upload = OpenUpload { started: SystemTime::now(), alg, checksum_type, explicit, parts: BTreeMap::new(), etags: BTreeMap::new() };
            self.uploads.lock().unwrap().insert((bucket, key, id.clone()), upload);
        }
        if explicit {
            resp.output.checksum_algorithm = Some(ChecksumAlgorithm::from(alg.name().to_string()));
            resp.output.checksum_type = Some(ChecksumType::from_static(checksum_type));
        }
        Ok(resp)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key, id) = (req.input.bucket.clone(), req.input.key.clone(), req.input.upload_id.clone());
        // The object's checksum, once the request is found consistent with the parts.
        let checksum = match self.upload(&bucket, &key, &id) {
            Some(upload) => Some((upload.alg, upload.checksum_type, object_checksum(&upload, &req.input)?)),
            None => None, // s3s-fs answers (NoSuchUpload, below)
        };
        self.check_part_sizes(&id, &req.input).await?;
        let mut resp = self.fs.complete_multipart_upload(req).await.map_err(|e| self.no_such_upload(e, &id))?;
        self.forget(&bucket, &key, &id);
        let Some((alg, checksum_type, value)) = checksum else { return Ok(resp) };
        // s3s-fs has written the object; its answer comes from a future (keep-alive).
        self.record_checksum(&bucket, &key, alg, &value).await?;
        let finish = move |mut out: CompleteMultipartUploadOutput| {
            set_checksum!(out, alg, Some(value.clone()));
            out.checksum_type = Some(ChecksumType::from_static(checksum_type));
            out
        };
        let out = &mut resp.output;
        match out.future.take() {
            Some(future) => out.future = Some(Box::pin(async move { future.await.map(finish) })),
            None => *out = finish(std::mem::take(out)),
        }
        Ok(resp)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let (bucket, key, id) = (req.input.bucket.clone(), req.input.key.clone(), req.input.upload_id.clone());
        let resp = self.fs.abort_multipart_upload(req).await.map_err(|e| self.no_such_upload(e, &id))?;
        self.forget(&bucket, &key, &id);
        Ok(resp)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads: Vec<MultipartUpload> = self
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k, _), _)| *b == input.bucket && k.starts_with(&prefix))
            .map(|((_, k, id), u)| MultipartUpload {
                key: Some(k.clone()),
                upload_id: Some(id.clone()),
                initiated: Some(Timestamp::from(u.started)),
                checksum_algorithm: u.explicit.then(|| ChecksumAlgorithm::from(u.alg.name().to_string())),
                checksum_type: u.explicit.then(|| ChecksumType::from_static(u.checksum_type)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}
}

fn unsupported_algorithm() -> S3Error {
    invalid_request(
        "Checksum algorithm provided is unsupported. Please try again with any of the valid \
         types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            .into(),
    )
}

/// An upload's algorithm and checksum type from CreateMultipartUpload's headers, checked as
/// S3 checks them; `explicit` is false for S3's default (CRC-64/NVME, full object).
fn upload_checksum(
    algorithm: &Option<ChecksumAlgorithm>,
    checksum_type: &Option<ChecksumType>,
) -> S3Result<(Algorithm, &'static str, bool)> {
    let Some(alg) = algorithm else {
        if checksum_type.is_some() {
            return Err(invalid_request(
                "The x-amz-checksum-type header can only be used with the \
                 x-amz-checksum-algorithm header."
                    .into(),
            ));
        }
        return Ok((Algorithm::Crc64Nvme, FULL_OBJECT, false));
    };
    let alg = Algorithm::parse(alg.as_str()).ok_or_else(unsupported_algorithm)?;
    let ty = match checksum_type
        .as_ref()
        .map(|t| t.as_str().to_ascii_uppercase())
    {
        None => alg.default_type(),
        Some(t) if t == FULL_OBJECT => FULL_OBJECT,
        Some(t) if t == COMPOSITE => COMPOSITE,
        Some(_) => {
            return Err(invalid_request(
                "Value for x-amz-checksum-type header is invalid.".into(),
            ))
        }
    };
    if !alg.allows(ty) {
        return Err(invalid_request(format!(
            "The {ty} checksum type cannot be used with the {} checksum algorithm.",
            alg.name().to_lowercase()
        )));
    }
    Ok((alg, ty, true))
}

/// The checksum the completed object will have, from the parts' recorded checksums in the
/// order the request lists them; refuses a request inconsistent with them (see the module
/// doc), before anything is written, so the upload stays open.
fn object_checksum(upload: &OpenUpload, input: &CompleteMultipartUploadInput) -> S3Result<String> {
    let alg = upload.alg;
    if let Some(t) = &input.checksum_type {
        if !upload.explicit || !t.as_str().eq_ignore_ascii_case(upload.checksum_type) {
            let created = if upload.explicit {
                upload.checksum_type
            } else {
                "null"
            };
            return Err(invalid_request(format!(
                "The upload was created using the {created} checksum mode. The complete \
                 request must use the same checksum mode."
            )));
        }
    }
    let listed = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref());
    let mut parts = Vec::new();
    for p in listed.into_iter().flatten() {
        let recorded = p
            .part_number
            .and_then(|n| upload.parts.get(&n))
            .ok_or_else(invalid_part)?;
        if let Some((a, raw)) = checksums::claimed(&checksum_of!(p))? {
            if a != alg || raw != recorded.checksum {
                return Err(invalid_part());
            }
        }
        parts.push(recorded.clone());
    }
    if upload.checksum_type == COMPOSITE {
        let sums: Vec<Vec<u8>> = parts.into_iter().map(|p| p.checksum).collect();
        return Ok(checksums::composite(alg, &sums));
    }
    let sums: Vec<(Vec<u8>, u64)> = parts.into_iter().map(|p| (p.checksum, p.len)).collect();
    let whole = checksums::combine(alg, &sums).expect("full-object uploads are CRCs");
    if let Some((stated, raw)) = checksums::claimed(&checksum_of!(input))? {
        if stated != alg || raw != whole {
            return Err(checksums::bad_digest(alg));
        }
    }
    Ok(checksums::encode(&whole))
}

/// An ETag's value: the hex MD5 of the bytes.
fn hex_md5(data: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
