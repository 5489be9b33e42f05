//! GetObject: an object's bytes, optionally a range of them.

use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Downloads an object. [`GetObject::range_from`] resumes a broken download at
/// byte `N` (`Range: bytes=N-`, answered with 206); [`GetObject::if_match`]
/// makes sure the resumed bytes belong to the same version (412 otherwise).
/// A start at or past the end is answered with 416.
///
/// S3 shows an object's checksum only when asked (`x-amz-checksum-mode: ENABLED`, sent
/// on S3) and only on answers holding the whole object; OSS always shows its CRC-64.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
#[derive(Clone, Debug)]
pub struct GetObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    range_start: Option<u64>,
    /// Exclusive; only with a start.
    range_end: Option<u64>,
    if_match: Option<&'a str>,
}

impl<'a> GetObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey) -> Self {
        Self {
            bucket,
            key,
            range_start: None,
            range_end: None,
            if_match: None,
        }
    }

    /// Only bytes `start..end` (`Range: bytes=start-(end-1)`, answered with 206).
    pub fn range(mut self, start: u64, end: u64) -> Self {
        debug_assert!(end > start, "empty range {start}..{end}");
        self.range_start = Some(start);
        self.range_end = Some(end.max(start + 1));
        self
    }

    /// Starts at byte `start` (0-based) instead of the beginning.
    pub fn range_from(mut self, start: u64) -> Self {
        self.range_start = Some(start);
        self
    }

    /// Only answers if the object's ETag (as listed, quotes included) still matches.
    pub fn if_match(mut self, etag: &'a str) -> Self {
        self.if_match = Some(etag);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("GET", cfg.object_url(self.bucket, self.key, false));
        match (self.range_start, self.range_end) {
            (Some(start), Some(end)) => {
                spec = spec.header("range", format!("bytes={start}-{}", end - 1));
            }
            (Some(start), None) => spec = spec.header("range", format!("bytes={start}-")),
            _ => {}
        }
        if let Some(etag) = self.if_match {
            spec = spec.header("if-match", etag);
        }
        if cfg.provider == Provider::S3 {
            spec = spec.header("x-amz-checksum-mode", "ENABLED");
        }
        spec.sign(cfg, now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn plain_get() {
        let (b, k) = (bucket(), key("files/中文 a+b%c.txt"));
        let req = GetObject::new(&b, &k).sign(&cfg(true), NOW);
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt/files/%E4%B8%AD%E6%96%87%20a%2Bb%25c.txt"
        );
        assert_eq!(req.header("range"), None);
        assert_eq!(
            signed_headers(&req),
            "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date"
        );
    }

    #[test]
    fn resumed_get_signs_range_and_if_match() {
        let (b, k) = (bucket(), key("k"));
        let req = GetObject::new(&b, &k)
            .range_from(1024)
            .if_match("\"abc\"")
            .sign(&cfg(false), NOW);
        assert_eq!(req.url, "http://bkt.127.0.0.1:9000/k");
        assert_eq!(req.header("range"), Some("bytes=1024-"));
        let ranged = GetObject::new(&b, &k).range(8, 16).sign(&cfg(false), NOW);
        assert_eq!(ranged.header("range"), Some("bytes=8-15"));
        assert_eq!(req.header("if-match"), Some("\"abc\""));
        assert_eq!(
            signed_headers(&req),
            "host;if-match;range;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date"
        );
    }

    #[test]
    fn oss_requests_are_oss_v4_signed() {
        let mut c = cfg(false);
        c.provider = crate::store::Provider::Oss;
        c.region = "cn-hangzhou".into();
        let (b, k) = (bucket(), key("a+b"));
        let req = GetObject::new(&b, &k).sign(&c, NOW);
        assert_eq!(req.url, "http://bkt.127.0.0.1:9000/a%2Bb");
        let auth = req.header("authorization").unwrap();
        assert!(auth.starts_with("OSS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/cn-hangzhou/oss/aliyun_v4_request,"), "{auth}");
        assert_eq!(req.header("x-oss-content-sha256"), Some("UNSIGNED-PAYLOAD"));
        assert!(req.header("x-amz-date").is_none());
    }
}
