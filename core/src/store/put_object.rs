//! PutObject: stores a whole object in one request.

use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, StoreConfig};

/// Uploads an object of exactly `content_length` bytes (at most 5 GiB),
/// replacing any object with that key. zip-oss uses it to seed sample files;
/// archives go through multipart uploads.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>
#[derive(Clone, Debug)]
pub struct PutObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    content_length: u64,
    content_type: Option<&'a str>,
}

impl<'a> PutObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey, content_length: u64) -> Self {
        Self {
            bucket,
            key,
            content_length,
            content_type: None,
        }
    }

    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("PUT", cfg.object_url(self.bucket, self.key, false))
            .content_length(self.content_length);
        if let Some(ct) = self.content_type {
            spec = spec.header("content-type", ct);
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
    }
}
