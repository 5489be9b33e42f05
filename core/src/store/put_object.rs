//! PutObject: stores a whole object in one request.

use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Uploads an object of exactly `content_length` bytes (at most 5 GiB), replacing any
/// object with that key unless [`Self::forbid_overwrite`]. zip-oss uses it for a pack's
/// checkpoint (and to seed sample files); archives go through multipart uploads.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>
#[derive(Clone, Debug)]
pub struct PutObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    content_length: u64,
    content_type: Option<&'a str>,
    forbid_overwrite: bool,
}

impl<'a> PutObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey, content_length: u64) -> Self {
        Self {
            bucket,
            key,
            content_length,
            content_type: None,
            forbid_overwrite: false,
        }
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

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("PUT", cfg.object_url(self.bucket, self.key, false))
            .content_length(self.content_length);
        if let Some(ct) = self.content_type {
            spec = spec.header("content-type", ct);
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
        let claim = PutObject::new(&b, &k, 5)
            .forbid_overwrite(true)
            .sign(&cfg(false), NOW);
        assert_eq!(claim.header("if-none-match"), Some("*"));
    }
}
