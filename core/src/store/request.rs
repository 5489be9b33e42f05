//! The signed request handed to a driver, and the one place actions sign.

use std::borrow::Cow;

use super::config::Provider;
use super::config::{ResourceUrl, StoreConfig};
use super::signing::oss_v4;
use super::signing::sigv4::{self, UNSIGNED_PAYLOAD};
use super::uri::canonical_query;

/// A request ready to send. The driver supplies the body (if any) and must
/// not add a `Host` other than the URL's authority, which is what was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    /// Lower-case names; never `host`.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a driver must add `content-length` (the body's length, 0 included): the
    /// request may carry a body and has none set. Without it HTTP clients send the body
    /// chunked, which S3 refuses (`MissingContentLength`), even an empty one.
    pub fn needs_content_length(&self) -> bool {
        self.header("content-length").is_none() && !matches!(self.method, "GET" | "HEAD")
    }

    /// The URL as `wasi:http` takes it: scheme, authority, and path with query (starting
    /// with `/`, which is added when the URL has none). `None` without `scheme://`.
    pub fn url_parts(&self) -> Option<(&str, &str, Cow<'_, str>)> {
        let (scheme, rest) = self.url.split_once("://")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = match path.starts_with('/') {
            true => Cow::Borrowed(path),
            false => Cow::Owned(format!("/{path}")),
        };
        Some((scheme, authority, path))
    }
}

/// What an action contributes; [`RequestSpec::sign`] does the rest.
pub(crate) struct RequestSpec {
    pub method: &'static str,
    pub target: ResourceUrl,
    pub query: Vec<(String, String)>,
    /// Headers that are signed.
    pub headers: Vec<(String, String)>,
    /// `content-length`, which is sent but not signed, so a client that
    /// rewrites it cannot break the signature.
    pub content_length: Option<u64>,
}

impl RequestSpec {
    pub fn new(method: &'static str, target: ResourceUrl) -> Self {
        Self {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            content_length: None,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn content_length(mut self, len: u64) -> Self {
        self.content_length = Some(len);
        self
    }

    /// Header-signs with `UNSIGNED-PAYLOAD`, by the store's scheme.
    pub fn sign(self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut headers = match cfg.provider {
            Provider::S3 => {
                let req = sigv4::Request {
                    method: self.method,
                    authority: &self.target.authority,
                    canonical_uri: &self.target.path,
                    query: &self.query,
                    headers: &self.headers,
                    payload_hash: UNSIGNED_PAYLOAD,
                };
                sigv4::sign_headers(&cfg.credentials, &cfg.region, &req, now_unix)
            }
            Provider::Oss => {
                oss_v4::sign_headers(&cfg.credentials, &cfg.region, &self.oss_request(), now_unix)
            }
        };
        if let Some(len) = self.content_length {
            headers.push(("content-length".into(), len.to_string()));
        }
        HttpRequest {
            method: self.method,
            url: self.target.url(&canonical_query(&self.query)),
            headers,
        }
    }

    /// The request as OSS V4 signs it: `/bucket/key`, whatever the addressing.
    pub(crate) fn oss_request(&self) -> oss_v4::Request<'_> {
        oss_v4::Request {
            method: self.method,
            bucket: Some(&self.target.bucket),
            key: self.target.key.as_deref(),
            query: &self.query,
            headers: &self.headers,
            additional_headers: &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HttpRequest;

    fn parts(url: &str) -> Option<(String, String, String)> {
        let req = HttpRequest {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
        };
        req.url_parts()
            .map(|(s, a, p)| (s.into(), a.into(), p.into_owned()))
    }

    #[test]
    fn a_body_without_a_length_needs_one() {
        let req = |method, headers: &[(&str, &str)]| HttpRequest {
            method,
            url: "http://h/k".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        assert!(req("PUT", &[]).needs_content_length());
        assert!(req("POST", &[("x-amz-date", "d")]).needs_content_length());
        assert!(!req("PUT", &[("Content-Length", "5")]).needs_content_length());
        assert!(!req("GET", &[]).needs_content_length());
        assert!(!req("HEAD", &[]).needs_content_length());
    }

    #[test]
    fn a_url_splits_as_wasi_http_takes_it() {
        let p = |s: &str, a: &str, q: &str| Some((s.into(), a.into(), q.into()));
        assert_eq!(
            parts("http://127.0.0.1:9000/bkt/a%20b?uploadId=1&partNumber=2"),
            p(
                "http",
                "127.0.0.1:9000",
                "/bkt/a%20b?uploadId=1&partNumber=2"
            )
        );
        assert_eq!(
            parts("https://bkt.oss.example"),
            p("https", "bkt.oss.example", "/")
        );
        assert_eq!(
            parts("https://h?list-type=2"),
            p("https", "h", "/?list-type=2")
        );
        assert_eq!(parts("h/no-scheme"), None);
    }
}
