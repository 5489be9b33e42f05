//! CreateMultipartUpload: starts an upload assembled from parts.

use super::checksum::Algorithm;
use super::request::{HttpRequest, RequestSpec};
use super::{parse_root, Bucket, ObjectKey, Provider, StoreConfig, StoreError};

/// Starts a multipart upload and returns its upload id. Until it is completed
/// or aborted, its parts are stored (and billed) but invisible; always abort
/// on failure. Up to 10,000 parts; S3 parts are 5 MiB–5 GiB (OSS 100 KB–5 GB),
/// the last one any size.
///
/// [`Self::forbid_overwrite`] sends OSS's `x-oss-forbid-overwrite: true`, which OSS takes
/// on InitiateMultipartUpload as well as on CompleteMultipartUpload (the completion is
/// where an existing key is refused, `409 FileAlreadyExists`); S3 has no such condition
/// on create, so nothing is sent there (its completion carries `If-None-Match: *`).
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html>
/// <https://www.alibabacloud.com/help/en/oss/developer-reference/initiatemultipartupload>
#[derive(Clone, Debug)]
pub struct CreateMultipartUpload<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    content_type: Option<&'a str>,
    forbid_overwrite: bool,
    checksum: Option<Algorithm>,
    marker: Option<&'a str>,
}

/// The user metadata an archive carries its upload's marker in (`x-amz-meta-` on S3,
/// `x-oss-meta-` on OSS): the one sign that an object at the destination is this pack's,
/// when the answer to its Complete was lost.
pub const UPLOAD_MARKER: &str = "zip-oss-upload";

impl<'a> CreateMultipartUpload<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey) -> Self {
        Self {
            bucket,
            key,
            content_type: None,
            forbid_overwrite: false,
            checksum: None,
            marker: None,
        }
    }

    /// Metadata [`UPLOAD_MARKER`] = `marker` on the finished object.
    pub fn marker(mut self, marker: &'a str) -> Self {
        self.marker = Some(marker);
        self
    }

    /// S3: the upload is checked as a whole with a full-object checksum of `algorithm`
    /// (`x-amz-checksum-type: FULL_OBJECT`), so its parts must carry theirs. OSS: nothing.
    pub fn full_object_checksum(mut self, algorithm: Algorithm) -> Self {
        self.checksum = Some(algorithm);
        self
    }

    /// OSS: `x-oss-forbid-overwrite: true` (see the type's documentation); S3: nothing.
    pub fn forbid_overwrite(mut self, forbid: bool) -> Self {
        self.forbid_overwrite = forbid;
        self
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
        if let Some(a) = self.checksum.filter(|_| cfg.provider == Provider::S3) {
            spec = spec
                .header("x-amz-checksum-algorithm", a.name().to_ascii_uppercase())
                .header("x-amz-checksum-type", "FULL_OBJECT");
        }
        if self.forbid_overwrite && cfg.provider == Provider::Oss {
            spec = spec.header("x-oss-forbid-overwrite", "true");
        }
        if let Some(marker) = self.marker {
            spec = spec.header(&marker_header(cfg.provider), marker);
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

/// The header [`UPLOAD_MARKER`] travels in.
pub fn marker_header(provider: Provider) -> String {
    match provider {
        Provider::S3 => format!("x-amz-meta-{UPLOAD_MARKER}"),
        Provider::Oss => format!("x-oss-meta-{UPLOAD_MARKER}"),
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
        let marked = CreateMultipartUpload::new(&b, &k)
            .marker("m1")
            .sign(&cfg(true), NOW);
        assert_eq!(marked.header("x-amz-meta-zip-oss-upload"), Some("m1"));
        assert_eq!(
            signed_headers(&marked),
            "host;x-amz-content-sha256;x-amz-date;x-amz-meta-zip-oss-upload"
        );
    }

    #[test]
    fn forbid_overwrite_is_sent_to_oss_only() {
        let (b, k) = (bucket(), key("out/x.zip"));
        let create = CreateMultipartUpload::new(&b, &k).forbid_overwrite(true);
        let s3 = create.sign(&cfg(true), NOW);
        assert_eq!(s3.header("x-oss-forbid-overwrite"), None);
        assert_eq!(s3.header("if-none-match"), None);
        let mut oss = cfg(false);
        oss.provider = Provider::Oss;
        let req = create.sign(&oss, NOW);
        assert_eq!(req.header("x-oss-forbid-overwrite"), Some("true"));
        let plain = CreateMultipartUpload::new(&b, &k).sign(&oss, NOW);
        assert_eq!(plain.header("x-oss-forbid-overwrite"), None);
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
