//! A presigned GET URL: lets anyone holding it download one object.

use super::config::Provider;
use super::signing::oss_v4;
use super::signing::sigv4::{self, UNSIGNED_PAYLOAD};
use super::{Bucket, ConfigError, ObjectKey, StoreConfig};

/// A query-signed GET URL for an object, valid for `expires_secs` (1 s to
/// 7 days) from the signing time. It points at `public_endpoint` when one is
/// configured, since users cannot reach an internal endpoint. Temporary
/// credentials cap the validity at their own expiry.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>
#[derive(Clone, Debug)]
pub struct PresignedGet<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    expires_secs: u64,
    content_disposition: Option<&'a str>,
}

impl<'a> PresignedGet<'a> {
    pub const MAX_EXPIRES_SECS: u64 = 604_800;

    pub fn new(
        bucket: &'a Bucket,
        key: &'a ObjectKey,
        expires_secs: u64,
    ) -> Result<Self, ConfigError> {
        if !(1..=Self::MAX_EXPIRES_SECS).contains(&expires_secs) {
            return Err(ConfigError::InvalidExpiry(expires_secs));
        }
        Ok(Self {
            bucket,
            key,
            expires_secs,
            content_disposition: None,
        })
    }

    /// Overrides `Content-Disposition` in the response (signed, as
    /// `response-content-disposition`), e.g. to name the downloaded file.
    pub fn response_content_disposition(mut self, value: &'a str) -> Self {
        self.content_disposition = Some(value);
        self
    }

    pub fn url(&self, cfg: &StoreConfig, now_unix: u64) -> String {
        let target = cfg.object_url(self.bucket, self.key, true);
        let query: Vec<(String, String)> = self
            .content_disposition
            .map(|v| ("response-content-disposition".to_string(), v.to_string()))
            .into_iter()
            .collect();
        let signed = match cfg.provider {
            Provider::S3 => {
                let req = sigv4::Request {
                    method: "GET",
                    authority: &target.authority,
                    canonical_uri: &target.path,
                    query: &query,
                    headers: &[],
                    payload_hash: UNSIGNED_PAYLOAD,
                };
                sigv4::presign(
                    &cfg.credentials,
                    &cfg.region,
                    &req,
                    self.expires_secs,
                    now_unix,
                )
            }
            Provider::Oss => {
                let req = oss_v4::Request {
                    method: "GET",
                    bucket: Some(&target.bucket),
                    key: target.key.as_deref(),
                    query: &query,
                    headers: &[],
                    additional_headers: &[],
                };
                oss_v4::presign(
                    &cfg.credentials,
                    &cfg.region,
                    &req,
                    self.expires_secs,
                    now_unix,
                )
            }
        };
        target.url(&signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;
    use crate::store::{Credentials, Endpoint, StoreConfig};

    #[test]
    fn aws_vector_through_the_action() {
        let mut cfg = StoreConfig::new(
            Endpoint::parse("https://s3.amazonaws.com").unwrap(),
            "us-east-1",
            Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        );
        cfg.path_style = false;
        let (b, k) = (Bucket::new("examplebucket").unwrap(), key("test.txt"));
        let url = PresignedGet::new(&b, &k, 86_400).unwrap().url(&cfg, NOW);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404\
             &X-Amz-SignedHeaders=host"
        );
    }

    #[test]
    fn uses_public_endpoint() {
        let mut c = cfg(false);
        c.public_endpoint = Some(Endpoint::parse("https://oss-cn-shanghai.aliyuncs.com").unwrap());
        let (b, k) = (bucket(), key("out/中 1.zip"));
        let url = PresignedGet::new(&b, &k, 300)
            .unwrap()
            .response_content_disposition("attachment; filename=\"1.zip\"")
            .url(&c, NOW);
        assert!(
            url.starts_with(
                "https://bkt.oss-cn-shanghai.aliyuncs.com/out/%E4%B8%AD%201.zip?X-Amz-Algorithm="
            ),
            "{url}"
        );
        assert!(url.contains("&X-Amz-Expires=300&"));
        assert!(
            url.ends_with("&response-content-disposition=attachment%3B%20filename%3D%221.zip%22")
        );
    }

    #[test]
    fn expiry_bounds() {
        let (b, k) = (bucket(), key("k"));
        assert!(PresignedGet::new(&b, &k, 0).is_err());
        assert!(PresignedGet::new(&b, &k, 604_801).is_err());
        assert!(PresignedGet::new(&b, &k, 604_800).is_ok());
    }

    #[test]
    fn oss_links_use_oss_v4_and_a_bucket_bound_domain() {
        let mut cfg = StoreConfig::new(
            Endpoint::parse("https://oss-cn-shanghai-internal.aliyuncs.com").unwrap(),
            "cn-shanghai",
            Credentials::new("ak", "sk"),
        );
        cfg.provider = crate::store::Provider::Oss;
        let (b, k) = (
            Bucket::new("my-bucket").unwrap(),
            ObjectKey::new("output/a b.zip").unwrap(),
        );
        let url = PresignedGet::new(&b, &k, 300).unwrap().url(&cfg, NOW);
        assert!(
            url.starts_with(
                "https://my-bucket.oss-cn-shanghai-internal.aliyuncs.com/output/a%20b.zip?"
            ),
            "{url}"
        );
        assert!(
            url.contains("x-oss-signature-version=OSS4-HMAC-SHA256")
                && url.contains("x-oss-signature="),
            "{url}"
        );
        assert!(
            url.contains("x-oss-credential=ak%2F20130524%2Fcn-shanghai%2Foss%2Faliyun_v4_request"),
            "{url}"
        );

        cfg.public_endpoint = Some(Endpoint::parse("https://dl.example.com").unwrap());
        cfg.public_bucket_bound = true;
        let url = PresignedGet::new(&b, &k, 300).unwrap().url(&cfg, NOW);
        assert!(
            url.starts_with("https://dl.example.com/output/a%20b.zip?"),
            "{url}"
        );
    }
}
