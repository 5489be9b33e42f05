//! CreateMultipartUpload: starts an upload assembled from parts.

use super::request::{HttpRequest, RequestSpec};
use super::{parse_root, Bucket, ObjectKey, StoreConfig, StoreError};

/// Starts a multipart upload and returns its upload id. Until it is completed
/// or aborted, its parts are stored (and billed) but invisible; always abort
/// on failure. Up to 10,000 parts; S3 parts are 5 MiB–5 GiB (OSS 100 KB–5 GB),
/// the last one any size.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html>
#[derive(Clone, Debug)]
pub struct CreateMultipartUpload<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    content_type: Option<&'a str>,
}

impl<'a> CreateMultipartUpload<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey) -> Self {
        Self {
            bucket,
            key,
            content_type: None,
        }
    }

    /// The `Content-Type` the finished object is served with (e.g. `application/zip`).
    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("POST", cfg.object_url(self.bucket, self.key, false))
            .query("uploads", "")
            .content_length(0);
        if let Some(ct) = self.content_type {
            spec = spec.header("content-type", ct);
        }
        spec.sign(cfg, now_unix)
    }

    /// Parses a 2xx response body into the upload id.
    pub fn parse(xml: &[u8]) -> Result<String, StoreError> {
        let root = parse_root(xml, "InitiateMultipartUploadResult")?;
        root.child_text("UploadId")
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::invalid_response("no <UploadId> in the response"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let (b, k) = (bucket(), key("out/x.zip"));
        let req = CreateMultipartUpload::new(&b, &k)
            .content_type("application/zip")
            .sign(&cfg(true), NOW);
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9000/bkt/out/x.zip?uploads=");
        assert_eq!(req.header("content-length"), Some("0"));
        assert_eq!(
            signed_headers(&req),
            "content-type;host;x-amz-content-sha256;x-amz-date"
        );
    }

    #[test]
    fn parse() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            CreateMultipartUpload::parse(xml).unwrap(),
            "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"
        );
        // OSS: no namespace.
        let oss = b"<InitiateMultipartUploadResult><UploadId>0004B9894A22E5B1888A1E29F823****</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(
            CreateMultipartUpload::parse(oss).unwrap(),
            "0004B9894A22E5B1888A1E29F823****"
        );
        assert!(CreateMultipartUpload::parse(b"<InitiateMultipartUploadResult/>").is_err());
    }
}
