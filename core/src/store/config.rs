//! How objects are addressed: path-style vs virtual-hosted URLs, and the
//! errors a configuration value can have.

use super::credentials::Credentials;
use super::endpoint::{Endpoint, Scheme};
use super::names::{Bucket, ObjectKey};
use super::uri::encode_path;

/// A configuration value the store cannot be addressed with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid store endpoint: {0}")]
    InvalidEndpoint(String),
    #[error("invalid bucket name {0:?}: use 1-255 of A-Z a-z 0-9 . - _, starting and ending with a letter or digit")]
    InvalidBucket(String),
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    #[error("invalid URL expiry {0} s: must be 1..=604800 (7 days)")]
    InvalidExpiry(u64),
}

/// Which protocol the store speaks: how requests are signed and addressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Provider {
    /// S3 API, AWS Signature V4.
    #[default]
    S3,
    /// Aliyun OSS native API, OSS V4 signatures (`OSS4-HMAC-SHA256`).
    Oss,
}

/// Everything needed to address and sign requests to one store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub provider: Provider,
    /// Where requests go (on Aliyun, often the `-internal` endpoint).
    pub endpoint: Endpoint,
    /// Where presigned URLs handed to users point, when that differs.
    pub public_endpoint: Option<Endpoint>,
    /// `public_endpoint` is a domain bound to the bucket (an OSS custom domain): links are
    /// `https://domain/key`, with no bucket in host or path.
    pub public_bucket_bound: bool,
    /// Signing region, e.g. `us-east-1` or `cn-hangzhou`.
    pub region: String,
    /// `host/bucket/key` instead of `bucket.host/key`; most local servers need
    /// it, OSS refuses it. Virtual-hosted style needs a DNS host, not an IP.
    pub path_style: bool,
    pub credentials: Credentials,
    /// Completing an upload must not replace an existing object: the completion is made
    /// conditional (S3 `If-None-Match: *`, OSS `x-oss-forbid-overwrite: true`) and fails
    /// when the key exists. Off by default.
    pub forbid_overwrite: bool,
}

/// The parts of a request URL that signing needs separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUrl {
    pub scheme: Scheme,
    /// `host[:port]`, signed as `host`.
    pub authority: String,
    /// The encoded path, which is also the SigV4 canonical URI.
    pub path: String,
    /// The bucket and key, unencoded (OSS V4 signs `/bucket/key` whatever the addressing).
    pub bucket: String,
    pub key: Option<String>,
}

impl ResourceUrl {
    /// The full URL with an already-encoded query (may be empty).
    pub fn url(&self, query: &str) -> String {
        let mut url = [self.scheme.as_str(), "://", &self.authority, &self.path].concat();
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

impl StoreConfig {
    pub fn new(endpoint: Endpoint, region: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            provider: Provider::S3,
            endpoint,
            public_endpoint: None,
            public_bucket_bound: false,
            region: region.into(),
            path_style: false,
            credentials,
            forbid_overwrite: false,
        }
    }

    fn endpoint_for(&self, public: bool) -> &Endpoint {
        match (&self.public_endpoint, public) {
            (Some(p), true) => p,
            _ => &self.endpoint,
        }
    }

    /// The bucket itself (for listings): `/bucket` path-style, `/` virtual-hosted.
    pub fn bucket_url(&self, bucket: &Bucket, public: bool) -> ResourceUrl {
        self.resource(bucket, None, public)
    }

    /// An object: `/bucket/key` path-style, `/key` on `bucket.host` otherwise.
    pub fn object_url(&self, bucket: &Bucket, key: &ObjectKey, public: bool) -> ResourceUrl {
        self.resource(bucket, Some(key), public)
    }

    fn resource(&self, bucket: &Bucket, key: Option<&ObjectKey>, public: bool) -> ResourceUrl {
        let ep = self.endpoint_for(public);
        let raw_key = key.map(|k| k.as_str().to_string());
        let key = key.map(|k| encode_path(k.as_str()));
        let bucket_bound_domain =
            public && self.public_bucket_bound && self.public_endpoint.is_some();
        let (authority, path) = if bucket_bound_domain {
            (
                ep.authority(),
                ["/", key.as_deref().unwrap_or_default()].concat(),
            )
        } else if self.path_style {
            let b = encode_path(bucket.as_str());
            let path = match &key {
                Some(k) => ["/", &b, "/", k].concat(),
                None => ["/", &b].concat(),
            };
            (ep.authority(), path)
        } else {
            let authority = ep.authority_with_prefix(&[bucket.as_str(), "."].concat());
            (
                authority,
                ["/", key.as_deref().unwrap_or_default()].concat(),
            )
        };
        ResourceUrl {
            scheme: ep.scheme(),
            authority,
            path,
            bucket: bucket.as_str().to_string(),
            key: raw_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap()
    }

    fn cfg(path_style: bool) -> StoreConfig {
        let mut c = StoreConfig::new(
            ep("http://127.0.0.1:9000"),
            "us-east-1",
            Credentials::new("a", "b"),
        );
        c.path_style = path_style;
        c
    }

    #[test]
    fn path_style_and_virtual_hosted_urls() {
        let b = Bucket::new("bkt").unwrap();
        let k = ObjectKey::new("files/中文 a+b%c.txt").unwrap();
        let enc = "files/%E4%B8%AD%E6%96%87%20a%2Bb%25c.txt";

        let u = cfg(true).object_url(&b, &k, false);
        assert_eq!(u.authority, "127.0.0.1:9000");
        assert_eq!(u.path, format!("/bkt/{enc}"));
        assert_eq!(u.url(""), format!("http://127.0.0.1:9000/bkt/{enc}"));
        assert_eq!(
            cfg(true).bucket_url(&b, false).url("list-type=2"),
            "http://127.0.0.1:9000/bkt?list-type=2"
        );

        let u = cfg(false).object_url(&b, &k, false);
        assert_eq!(u.authority, "bkt.127.0.0.1:9000");
        assert_eq!(u.url(""), format!("http://bkt.127.0.0.1:9000/{enc}"));
        assert_eq!(cfg(false).bucket_url(&b, false).path, "/");
    }

    #[test]
    fn public_endpoint_only_when_asked() {
        let mut c = cfg(false);
        let b = Bucket::new("bkt").unwrap();
        let k = ObjectKey::new("k").unwrap();
        assert_eq!(
            c.object_url(&b, &k, true).url(""),
            "http://bkt.127.0.0.1:9000/k"
        );
        c.public_endpoint = Some(ep("https://oss-cn-shanghai.aliyuncs.com"));
        assert_eq!(
            c.object_url(&b, &k, true).url(""),
            "https://bkt.oss-cn-shanghai.aliyuncs.com/k"
        );
        assert_eq!(
            c.object_url(&b, &k, false).url(""),
            "http://bkt.127.0.0.1:9000/k"
        );
    }

    #[test]
    fn config_debug_redacts() {
        let mut c = cfg(true);
        c.credentials = Credentials::new("AKID", "top-secret").with_security_token("tok-secret");
        let s = format!("{c:?}");
        assert!(
            !s.contains("top-secret") && !s.contains("tok-secret"),
            "{s}"
        );
    }
}
