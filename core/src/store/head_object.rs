//! HeadObject: an object's size and metadata without its bytes.

use super::checksum::Claimed;
use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, Provider, StoreConfig};

/// Looks up one object, for packs given an explicit key list (their sizes must be
/// known before the archive's first byte). A missing key is a bodiless 404.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
#[derive(Clone, Debug)]
pub struct HeadObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
}

/// What a HeadObject answer says about the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub last_modified_unix: Option<i64>,
    pub etag: Option<String>,
    /// What the store says the object's bytes are.
    pub checksum: Claimed,
    /// The marker of the upload it was completed from (`create_multipart_upload::UPLOAD_MARKER`).
    pub upload_marker: Option<String>,
}

impl<'a> HeadObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey) -> Self {
        Self { bucket, key }
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("HEAD", cfg.object_url(self.bucket, self.key, false));
        // S3 shows the object's checksum only when asked; OSS always does.
        if cfg.provider == Provider::S3 {
            spec = spec.header("x-amz-checksum-mode", "ENABLED");
        }
        spec.sign(cfg, now_unix)
    }

    /// Reads the answer's headers, looked up by case-insensitive name through `header`.
    pub fn parse<'h>(
        provider: Provider,
        header: impl Fn(&str) -> Option<&'h str> + Copy,
    ) -> Option<ObjectHead> {
        let size = header("content-length")?.trim().parse().ok()?;
        Some(ObjectHead {
            size,
            last_modified_unix: header("last-modified").and_then(parse_http_date),
            etag: header("etag").map(str::to_string),
            checksum: Claimed::from_headers(provider, header),
            upload_marker: header(&super::marker_header(provider)).map(|m| m.trim().to_string()),
        })
    }
}

/// Parses an IMF-fixdate such as `Wed, 21 Oct 2015 07:28:00 GMT`.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn signs_a_head() {
        let (b, k) = (bucket(), key("a b"));
        let req = HeadObject::new(&b, &k).sign(&cfg(true), NOW);
        assert_eq!(
            (req.method, req.url.as_str()),
            ("HEAD", "http://127.0.0.1:9000/bkt/a%20b")
        );
        assert_eq!(req.header("x-amz-checksum-mode"), Some("ENABLED"));
    }

    #[test]
    fn reads_size_date_and_etag() {
        let headers = [
            ("Content-Length", "42"),
            ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("ETag", "\"abc\""),
            ("x-amz-checksum-crc64nvme", "rosUhgp5mIg="),
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("X-Amz-Meta-Zip-Oss-Upload", "m1"),
        ];
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| *v)
        };
        let head = HeadObject::parse(Provider::S3, get).unwrap();
        assert_eq!(
            head,
            ObjectHead {
                size: 42,
                last_modified_unix: Some(1_445_412_480),
                etag: Some("\"abc\"".into()),
                checksum: Claimed::Full(crate::store::checksum::Checksum::crc(
                    crate::store::checksum::Algorithm::Crc64Nvme,
                    0xae8b14860a799888
                )),
                upload_marker: Some("m1".into()),
            }
        );
        // OSS shows its own header only.
        let oss = HeadObject::parse(Provider::Oss, get).unwrap();
        assert_eq!(oss.checksum, Claimed::Nothing);
        assert_eq!(oss.upload_marker, None);
        assert_eq!(HeadObject::parse(Provider::S3, |_| None), None);
    }
}
