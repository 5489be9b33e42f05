//! UploadPartCopy: a part of a multipart upload copied by the store from a byte range of
//! an existing object, without its bytes passing through the client.

use super::checksum::{Algorithm, Checksum};
use super::error::StoreError;
use super::request::{HttpRequest, RequestSpec};
use super::uri::encode_path;
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Copies bytes `start..end` of `source` (same bucket) into part `part_number`, only if
/// the source still has `etag` (`412 PreconditionFailed` otherwise, as with `If-Match` on
/// a read). Parts must be 5 MiB (S3) or 100 KB (OSS) at least, as uploaded ones, and at
/// most 5 GiB.
///
/// S3 may fail a copy after answering `200`: the error is then the body (an `<Error>`
/// root), which [`Self::parse`] turns into the error it is.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html>,
/// <https://help.aliyun.com/en/oss/developer-reference/uploadpartcopy>
#[derive(Clone, Debug)]
pub struct UploadPartCopy<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
    part_number: u32,
    source: &'a ObjectKey,
    range: (u64, u64),
    etag: Option<&'a str>,
}

/// What a successful copy answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedPart {
    pub etag: String,
    /// The part's checksum in `algorithm`, if the store stated one (S3 does for uploads
    /// created with a checksum algorithm; OSS states none).
    pub checksum: Option<Checksum>,
}

impl<'a> UploadPartCopy<'a> {
    /// Bytes `range.0..range.1` (end exclusive, non-empty) of `source`.
    pub fn new(
        bucket: &'a Bucket,
        key: &'a ObjectKey,
        upload_id: &'a str,
        part_number: u32,
        source: &'a ObjectKey,
        range: (u64, u64),
    ) -> Self {
        debug_assert!(range.0 < range.1);
        Self {
            bucket,
            key,
            upload_id,
            part_number,
            source,
            range,
            etag: None,
        }
    }

    /// The source's ETag the copy is pinned to.
    pub fn if_match(mut self, etag: &'a str) -> Self {
        self.etag = Some(etag);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let prefix = match cfg.provider {
            Provider::S3 => "x-amz",
            Provider::Oss => "x-oss",
        };
        // S3's SDKs send `bucket/key` URL-encoded ('/' kept); OSS's `/bucket/key`.
        let source = encode_path(&format!(
            "{}/{}",
            self.bucket.as_str(),
            self.source.as_str()
        ));
        let source = match cfg.provider {
            Provider::S3 => source,
            Provider::Oss => format!("/{source}"),
        };
        let mut spec = RequestSpec::new("PUT", cfg.object_url(self.bucket, self.key, false))
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id)
            .content_length(0)
            .header(&format!("{prefix}-copy-source"), source)
            .header(
                &format!("{prefix}-copy-source-range"),
                format!("bytes={}-{}", self.range.0, self.range.1 - 1),
            );
        if let Some(etag) = self.etag {
            spec = spec.header(&format!("{prefix}-copy-source-if-match"), etag);
        }
        spec.sign(cfg, now_unix)
    }

    /// Reads a `2xx` answer's body: `<CopyPartResult>` with the part's ETag (and, on S3,
    /// its checksum in `algorithm`), or the `<Error>` S3 may send with a `200`.
    pub fn parse(status: u16, body: &[u8], algorithm: Algorithm) -> Result<CopiedPart, StoreError> {
        StoreError::check(status, body)?;
        let root = crate::store::xml::parse(body).map_err(StoreError::invalid_response)?;
        if root.name == "Error" {
            // A failure after the `200`: S3 says these are to be retried like a 5xx.
            return Err(StoreError::from_element(500, &root));
        }
        let etag = root
            .child_text("ETag")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| StoreError::invalid_response("no ETag in CopyPartResult"))?;
        let name = match algorithm {
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Sha1 => "ChecksumSHA1",
            Algorithm::Sha256 => "ChecksumSHA256",
            Algorithm::Crc64Ecma => "",
        };
        let checksum = root
            .child_text(name)
            .and_then(|v| Checksum::parse(algorithm, v));
        Ok(CopiedPart {
            etag: etag.to_string(),
            checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request_s3() {
        let (b, k, src) = (bucket(), key("out/x.zip"), key("photos/a b+c.jpg"));
        let req = UploadPartCopy::new(&b, &k, "id/+=", 3, &src, (5 << 20, 40 << 20))
            .if_match("\"abc\"")
            .sign(&cfg(false), NOW);
        assert_eq!(req.method, "PUT");
        assert_eq!(
            req.url,
            "http://bkt.127.0.0.1:9000/out/x.zip?partNumber=3&uploadId=id%2F%2B%3D"
        );
        assert_eq!(
            req.header("x-amz-copy-source"),
            Some("bkt/photos/a%20b%2Bc.jpg")
        );
        assert_eq!(
            req.header("x-amz-copy-source-range"),
            Some("bytes=5242880-41943039")
        );
        assert_eq!(req.header("x-amz-copy-source-if-match"), Some("\"abc\""));
        assert_eq!(req.header("content-length"), Some("0"));
        assert!(signed_headers(&req)
            .contains("x-amz-copy-source;x-amz-copy-source-if-match;x-amz-copy-source-range"));
    }

    #[test]
    fn request_oss() {
        let (b, k, src) = (bucket(), key("out/x.zip"), key("文件/a.bin"));
        let mut c = cfg(false);
        c.provider = Provider::Oss;
        let req = UploadPartCopy::new(&b, &k, "U", 1, &src, (0, 1)).sign(&c, NOW);
        assert_eq!(
            req.header("x-oss-copy-source"),
            Some("/bkt/%E6%96%87%E4%BB%B6/a.bin")
        );
        assert_eq!(req.header("x-oss-copy-source-range"), Some("bytes=0-0"));
        assert_eq!(req.header("x-oss-copy-source-if-match"), None);
    }

    #[test]
    fn parses_results_and_the_error_a_200_may_carry() {
        let ok = br#"<?xml version="1.0" encoding="UTF-8"?>
<CopyPartResult><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e1"</ETag><ChecksumCRC64NVME>AAAAAAAAAAE=</ChecksumCRC64NVME></CopyPartResult>"#;
        let got = UploadPartCopy::parse(200, ok, Algorithm::Crc64Nvme).unwrap();
        assert_eq!(got.etag, "\"e1\"");
        assert_eq!(got.checksum, Some(Checksum::crc(Algorithm::Crc64Nvme, 1)));
        // OSS: no namespace, no checksum.
        let oss =
            br#"<CopyPartResult><LastModified>x</LastModified><ETag>"E2"</ETag></CopyPartResult>"#;
        let got = UploadPartCopy::parse(200, oss, Algorithm::Crc64Ecma).unwrap();
        assert_eq!((got.etag.as_str(), got.checksum), ("\"E2\"", None));
        let failed = br#"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"#;
        let e = UploadPartCopy::parse(200, failed, Algorithm::Crc64Nvme).unwrap_err();
        assert_eq!(e.code, "InternalError");
        assert_eq!(e.kind(), crate::store::ErrorKind::Transient);
        let e = UploadPartCopy::parse(200, b"<CopyPartResult/>", Algorithm::Crc64Nvme).unwrap_err();
        assert_eq!(e.code, StoreError::INVALID_RESPONSE);
    }
}
