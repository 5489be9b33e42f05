//! PutObject: stores a whole object in one request.

use super::checksum::Checksum;
use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Uploads an object of exactly `content_length` bytes (at most 5 GiB), replacing any
/// object with that key unless [`Self::forbid_overwrite`]. zip-oss uses it for a pack's
/// checkpoint, for the status objects of asynchronous packs (and to seed sample files);
/// archives go through multipart uploads.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>
#[derive(Clone, Debug)]
pub struct PutObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    content_length: u64,
    content_type: Option<&'a str>,
    cache_control: Option<&'a str>,
    forbid_overwrite: bool,
    checksum: Option<&'a Checksum>,
}

impl<'a> PutObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey, content_length: u64) -> Self {
        Self {
            bucket,
            key,
            content_length,
            content_type: None,
            cache_control: None,
            forbid_overwrite: false,
            checksum: None,
        }
    }

    pub fn cache_control(mut self, value: &'a str) -> Self {
        self.cache_control = Some(value);
        self
    }

    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Writes only if the key is free: S3's `If-None-Match: *` (412 `PreconditionFailed`
    /// otherwise), OSS's `x-oss-forbid-overwrite` (409 `FileAlreadyExists`).
    pub fn forbid_overwrite(mut self, forbid: bool) -> Self {
        self.forbid_overwrite = forbid;
        self
    }

    /// S3: the object's checksum, which the store checks and keeps (as SDKs upload with
    /// `x-amz-checksum-crc32`).
    pub fn checksum(mut self, checksum: &'a Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("PUT", cfg.object_url(self.bucket, self.key, false))
            .content_length(self.content_length);
        if let Some(c) = self.checksum.filter(|_| cfg.provider == Provider::S3) {
            spec = spec.header(c.algorithm.header(), c.header_value());
        }
        if let Some(ct) = self.content_type {
            spec = spec.header("content-type", ct);
        }
        if let Some(cc) = self.cache_control {
            spec = spec.header("cache-control", cc);
        }
        if self.forbid_overwrite {
            spec = match cfg.provider {
                Provider::S3 => spec.header("if-none-match", "*"),
                Provider::Oss => spec.header("x-oss-forbid-overwrite", "true"),
            };
        }
        spec.sign(cfg, now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let (b, k) = (bucket(), key("files/a b.txt"));
        let req = PutObject::new(&b, &k, 5)
            .content_type("text/plain")
            .sign(&cfg(false), NOW);
        assert_eq!(req.method, "PUT");
        assert_eq!(req.url, "http://bkt.127.0.0.1:9000/files/a%20b.txt");
        assert_eq!(req.header("content-length"), Some("5"));
        assert_eq!(req.header("content-type"), Some("text/plain"));
        assert_eq!(
            signed_headers(&req),
            "content-type;host;x-amz-content-sha256;x-amz-date"
        );
        assert_eq!(req.header("if-none-match"), None);
        let claim = PutObject::new(&b, &k, 5)
            .forbid_overwrite(true)
            .sign(&cfg(false), NOW);
        assert_eq!(claim.header("if-none-match"), Some("*"));
    }

    #[test]
    fn conditional_create() {
        let (b, k) = (bucket(), key("output/a.zip.status.json"));
        let put = PutObject::new(&b, &k, 2)
            .cache_control("no-cache")
            .forbid_overwrite(true);
        let s3 = put.sign(&cfg(false), NOW);
        assert_eq!(s3.header("if-none-match"), Some("*"));
        assert_eq!(s3.header("cache-control"), Some("no-cache"));
        let mut oss = cfg(false);
        oss.provider = Provider::Oss;
        let oss = put.sign(&oss, NOW);
        assert_eq!(oss.header("x-oss-forbid-overwrite"), Some("true"));
        assert_eq!(oss.header("if-none-match"), None);
    }

    #[test]
    fn a_stated_checksum_is_sent_and_signed_on_s3_only() {
        use crate::store::checksum::{Algorithm, Checksum};
        let (b, k) = (bucket(), key("a.bin"));
        let crc = Checksum::crc(Algorithm::Crc32, 0xCBF4_3926);
        let put = PutObject::new(&b, &k, 9).checksum(&crc);
        let s3 = put.sign(&cfg(false), NOW);
        assert_eq!(s3.header("x-amz-checksum-crc32"), Some("y/Q5Jg=="));
        assert!(signed_headers(&s3).contains("x-amz-checksum-crc32"));
        let mut oss = cfg(false);
        oss.provider = Provider::Oss;
        assert_eq!(put.sign(&oss, NOW).header("x-amz-checksum-crc32"), None);
    }
}
