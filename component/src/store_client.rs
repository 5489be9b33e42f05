//! Signed store requests over `wasi:http`, with retries; the only place the
//! component talks to the store.
//!
//! Each attempt is signed afresh (the time moves on), network errors and transient
//! answers (5xx, 429, `SlowDown`) are retried with backoff, and every failure
//! becomes a [`PackError`] that names the operation but no credential.

use wstd::http::body::{Body, Bytes};
use wstd::http::error::ErrorCode;
use wstd::http::BodyExt;
use wstd::http::{Client, Method, Request, Response};
use zip_oss_core::pack::Backoff;
use zip_oss_core::plan::Source;
use zip_oss_core::store::{
    AbortMultipartUpload, Bucket, CompleteMultipartUpload, CompletedPart, CreateMultipartUpload,
    ErrorKind, GetObject, HeadObject, HttpRequest, ListObjectsV2, ObjectKey, PresignedGet,
    StoreConfig, StoreError, UploadPart,
};

use crate::error::PackError;
use crate::pack::now_unix;

/// An object's body as it arrives.
pub type Stream = wstd::http::body::util::combinators::UnsyncBoxBody<Bytes, wstd::http::Error>;

/// Error bodies are small XML documents; more than this is not read.
const MAX_ERROR_BODY: usize = 64 << 10;

pub struct StoreClient {
    cfg: StoreConfig,
    http: Client,
    backoff: Backoff,
    /// The host refused one of our requests: it is stopping this pack, so failures are
    /// no longer retried (an upload's refusal can surface as a failed body write instead).
    stopped: std::cell::Cell<bool>,
}

impl StoreClient {
    pub fn new(cfg: StoreConfig) -> Self {
        let mut http = Client::new();
        // A stalled store must not hang a pack forever; a retry or resume follows.
        http.set_first_byte_timeout(std::time::Duration::from_secs(60));
        http.set_between_bytes_timeout(std::time::Duration::from_secs(60));
        StoreClient {
            cfg,
            http,
            backoff: Backoff::default(),
            stopped: std::cell::Cell::new(false),
        }
    }

    /// All objects under `prefix`, every page.
    pub async fn list_all(&self, bucket: &str, prefix: &str) -> Result<Vec<Source>, PackError> {
        let bucket = bucket_name(bucket)?;
        let mut sources = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let list = ListObjectsV2::new(&bucket, prefix).continuation_token(token.as_deref());
            let body = self
                .send_read("list objects", |now| list.sign(&self.cfg, now), None)
                .await?;
            let page =
                ListObjectsV2::parse(&body).map_err(|e| PackError::store("list objects", &e))?;
            sources.extend(page.objects.into_iter().map(|o| Source {
                key: o.key,
                size: o.size,
                mtime_unix: o.last_modified_unix,
                ..Source::default()
            }));
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => return Ok(sources),
            }
        }
    }

    /// One object's size and date.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Source, PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let what = format!("look up `{key}`");
        let head = HeadObject::new(&bucket, &okey);
        let resp = self
            .send(&what, |now| head.sign(&self.cfg, now), None)
            .await?;
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok());
        let h = HeadObject::parse(header).ok_or_else(|| {
            PackError::new(502, "InvalidResponse", format!("{what}: no Content-Length"))
        })?;
        Ok(Source {
            key: key.to_string(),
            size: h.size,
            mtime_unix: h.last_modified_unix,
            ..Source::default()
        })
    }

    /// Opens an object's body from byte `from` (to `to`, exclusive, when given); returns it
    /// with the object's ETag and the body's announced length.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        from: u64,
        to: Option<u64>,
        if_match: Option<&str>,
    ) -> Result<(Stream, Option<String>, Option<u64>), PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let mut get = GetObject::new(&bucket, &okey);
        match to {
            Some(to) => get = get.range(from, to),
            None if from > 0 => get = get.range_from(from),
            None => {}
        }
        if let Some(etag) = if_match {
            get = get.if_match(etag);
        }
        let resp = self
            .send(
                &format!("read `{key}`"),
                |now| get.sign(&self.cfg, now),
                None,
            )
            .await?;
        // A store that ignores `Range` answers 200 with the whole object: taking those
        // bytes for the range would splice the archive.
        // (OSS also answers so a range past the object's end: it shrank.)
        if (from > 0 || to.is_some()) && resp.status().as_u16() != 206 {
            return Err(PackError::new(
                502,
                "RangeNotHonoured",
                format!(
                    "read `{key}`: the store answered a ranged read with the whole object \
                     (did the object change while it was being packed?)"
                ),
            ));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let length = header("content-length").and_then(|v| v.parse().ok());
        Ok((resp.into_body().into_boxed_body(), etag, length))
    }

    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<String, PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let create = CreateMultipartUpload::new(&bucket, &okey)
            .content_type("application/zip")
            .forbid_overwrite(self.cfg.forbid_overwrite);
        let body = self
            .send_read("start the upload", |now| create.sign(&self.cfg, now), None)
            .await
            .map_err(|e| self.destination_exists(e, key))?;
        CreateMultipartUpload::parse(&body).map_err(|e| PackError::store("start the upload", &e))
    }

    /// Uploads one part; returns its ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        data: Bytes,
    ) -> Result<String, PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let what = format!("upload part {number}");
        let part = UploadPart::new(&bucket, &okey, upload_id, number, data.len() as u64);
        let resp = self
            .send(&what, |now| part.sign(&self.cfg, now), Some(data))
            .await?;
        resp.headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                PackError::new(
                    502,
                    "InvalidResponse",
                    format!("{what}: no ETag in the answer"),
                )
            })
    }

    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let parts: Vec<CompletedPart> = parts
            .iter()
            .map(|(n, etag)| CompletedPart {
                part_number: *n,
                etag: etag.clone(),
            })
            .collect();
        let complete = CompleteMultipartUpload::new(&bucket, &okey, upload_id, &parts)
            .forbid_overwrite(self.cfg.forbid_overwrite);
        let xml = Bytes::from(complete.body());
        let body = self
            .send_read(
                "complete the upload",
                |now| complete.sign(&self.cfg, now),
                Some(xml),
            )
            .await
            .map_err(|e| self.destination_exists(e, key))?;
        CompleteMultipartUpload::parse(200, &body)
            .map(|_| ())
            .map_err(|e| self.destination_exists(PackError::store("complete the upload", &e), key))
    }

    /// With `forbid_overwrite`, the store's "the key exists" (S3 `412 PreconditionFailed`,
    /// OSS `409 FileAlreadyExists`) is `409 DestinationExists`; other errors pass.
    fn destination_exists(&self, e: PackError, key: &str) -> PackError {
        if self.cfg.forbid_overwrite && CompleteMultipartUpload::destination_exists(&e.code) {
            return PackError::new(
                409,
                "DestinationExists",
                format!("`{key}` already exists, and this service does not overwrite objects"),
            );
        }
        e
    }

    /// Best effort: a failed abort is retried, then given up on (the pack's own error matters more).
    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) {
        let (Ok(bucket), Ok(okey)) = (bucket_name(bucket), object_key(key)) else {
            return;
        };
        let abort = AbortMultipartUpload::new(&bucket, &okey, upload_id);
        let _ = self
            .send("abort the upload", |now| abort.sign(&self.cfg, now), None)
            .await;
    }

    pub fn presign_get(&self, bucket: &str, key: &str, expires: u32) -> Result<String, PackError> {
        let (bucket, okey) = (bucket_name(bucket)?, object_key(key)?);
        let presign = PresignedGet::new(&bucket, &okey, u64::from(expires))
            .map_err(|e| PackError::bad_request(e.to_string()))?;
        Ok(presign.url(&self.cfg, now_unix()))
    }

    /// Waits before retry number `retry`.
    pub async fn pause_before_retry(&self, retry: u32) {
        let delay = self
            .backoff
            .delay(retry.min(self.backoff.max_attempts - 1), random_u32())
            .unwrap_or_default();
        wstd::task::sleep(wstd::time::Duration::from_micros(delay.as_micros() as u64)).await;
    }

    /// Sends and reads the whole (small, XML) answer body.
    async fn send_read(
        &self,
        what: &str,
        sign: impl Fn(u64) -> HttpRequest,
        body: Option<Bytes>,
    ) -> Result<Bytes, PackError> {
        let resp = self.send(what, sign, body).await?;
        resp.into_body()
            .bytes_contents()
            .await
            .map_err(|e| PackError::network(what, e))
    }

    /// Sends with retries; `Ok` only for a 2xx answer.
    async fn send(
        &self,
        what: &str,
        sign: impl Fn(u64) -> HttpRequest,
        body: Option<Bytes>,
    ) -> Result<Response<Body>, PackError> {
        let mut retry = 0;
        loop {
            let failure = match self
                .http
                .send(to_wstd(sign(now_unix()), body.clone())?)
                .await
            {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let request_id = resp
                        .headers()
                        .get("x-amz-request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_limited(resp.into_body()).await;
                    let err = StoreError::from_response(status, &body)
                        .with_request_id(request_id.as_deref());
                    if err.kind() != ErrorKind::Transient {
                        return Err(PackError::store(what, &err));
                    }
                    PackError::store(what, &err)
                }
                // The host stopped this pack (time limit, shutdown): no retry, so the
                // upload is aborted while there is time.
                Err(e) if denied(&e) || self.stopped.get() => {
                    self.stopped.set(true);
                    return Err(PackError::new(
                        503,
                        "Stopped",
                        format!("{what}: the host stopped this pack"),
                    ));
                }
                Err(e) => PackError::network(what, e),
            };
            retry += 1;
            if retry >= self.backoff.max_attempts {
                return Err(failure);
            }
            self.pause_before_retry(retry).await;
        }
    }
}

fn to_wstd(req: HttpRequest, body: Option<Bytes>) -> Result<Request<Body>, PackError> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|e| PackError::new(500, "InternalError", e.to_string()))?;
    let mut builder = Request::builder().method(method).uri(req.url.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    // wstd sends no Content-Length of its own, and without one hyper would send a
    // chunked body, which S3 refuses (`MissingContentLength`), even an empty one.
    let len = body.as_ref().map_or(0, |b| b.len());
    if req.header("content-length").is_none() && !matches!(req.method, "GET" | "HEAD") {
        builder = builder.header("content-length", len);
    }
    let body = match body {
        Some(bytes) if !bytes.is_empty() => Body::from(bytes),
        // Not `Body::empty()`: wstd writes even an empty body, and once the host has sent a
        // bodiless request it may already have closed the stream, so that write fails
        // ("connection reset"). A streamed body with no frames writes nothing.
        _ => Body::from_http_body(wstd::http::body::util::Empty::<Bytes>::new()),
    };
    builder.body(body).map_err(|e| {
        PackError::new(
            500,
            "InternalError",
            format!("building a store request: {e}"),
        )
    })
}

async fn read_limited(body: Body) -> Vec<u8> {
    let mut stream = body.into_boxed_body();
    let mut out = Vec::new();
    while let Some(Ok(frame)) = stream.frame().await {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > MAX_ERROR_BODY {
                break;
            }
        }
    }
    out
}

/// Whether the host refused the request (`HTTP-request-denied`).
fn denied(e: &wstd::http::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ErrorCode>(),
            Some(ErrorCode::HttpRequestDenied)
        )
    })
}

fn bucket_name(b: &str) -> Result<Bucket, PackError> {
    Bucket::new(b).map_err(|e| PackError::bad_request(e.to_string()))
}

fn object_key(k: &str) -> Result<ObjectKey, PackError> {
    ObjectKey::new(k).map_err(|e| PackError::bad_request(e.to_string()))
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    wstd::rand::get_insecure_random_bytes(&mut b);
    u32::from_le_bytes(b)
}
