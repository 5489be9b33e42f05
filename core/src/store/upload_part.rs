//! UploadPart: one numbered part of a multipart upload.

use super::checksum::Checksum;
use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Uploads part `part_number` (1..=10000) of exactly `content_length` bytes.
/// The body is streamed unhashed (`UNSIGNED-PAYLOAD`), so `Content-Length` is
/// required. The part's `ETag` response header is what
/// [`CompleteMultipartUpload`](super::CompleteMultipartUpload) needs.
/// Uploading the same number again replaces the part, so retries are safe.
///
/// With [`Self::checksum`], S3 checks the part against it before storing it (`400 BadDigest`
/// otherwise). OSS checks no CRC sent to it, but answers the stored part's
/// `x-oss-hash-crc64ecma`, which the caller compares.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html>
#[derive(Clone, Debug)]
pub struct UploadPart<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
    part_number: u32,
    content_length: u64,
    checksum: Option<&'a Checksum>,
}

impl<'a> UploadPart<'a> {
    pub fn new(
        bucket: &'a Bucket,
        key: &'a ObjectKey,
        upload_id: &'a str,
        part_number: u32,
        content_length: u64,
    ) -> Self {
        Self {
            bucket,
            key,
            upload_id,
            part_number,
            content_length,
            checksum: None,
        }
    }

    /// S3: the part's checksum, for the store to check (`x-amz-checksum-crc64nvme`).
    pub fn checksum(mut self, checksum: &'a Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("PUT", cfg.object_url(self.bucket, self.key, false))
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id)
            .content_length(self.content_length);
        if let Some(c) = self.checksum.filter(|_| cfg.provider == Provider::S3) {
            spec = spec.header(c.algorithm.header(), c.header_value());
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
        let (b, k) = (bucket(), key("out/x.zip"));
        let req = UploadPart::new(&b, &k, "id/+=", 7, 8_388_608).sign(&cfg(false), NOW);
        assert_eq!(req.method, "PUT");
        assert_eq!(
            req.url,
            "http://bkt.127.0.0.1:9000/out/x.zip?partNumber=7&uploadId=id%2F%2B%3D"
        );
        assert_eq!(req.header("content-length"), Some("8388608"));
        // Content-Length is sent but not signed.
        assert_eq!(signed_headers(&req), "host;x-amz-content-sha256;x-amz-date");
    }
}
