//! The pack request: the original's JSON (`region`, `bucket`, `source-dir`,
//! `source-files`, `dest-file`) plus our own optional fields. Unknown fields are
//! ignored so requests written for the original keep working.

use serde::Deserialize;

use crate::store::Bucket;

/// Default lifetime of the presigned link, as the original (300 s).
pub const DEFAULT_URL_EXPIRES: u32 = 300;
/// The longest a SigV4 presigned URL may live (7 days).
const MAX_URL_EXPIRES: u32 = 604_800;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct PackRequest {
    /// The original's region; for S3 stores the configured endpoint decides, so it is informational.
    #[serde(default)]
    pub region: Option<String>,
    pub bucket: String,
    #[serde(default)]
    pub source_dir: Option<String>,
    #[serde(default)]
    pub source_files: Vec<String>,
    #[serde(default)]
    pub dest_file: Option<String>,
    /// Lifetime of the presigned link in seconds.
    #[serde(default, alias = "expires")]
    pub url_expires: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("request body is not valid JSON for a pack request: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
}

impl PackRequest {
    /// Parses and validates a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, RequestError> {
        let req: PackRequest =
            serde_json::from_slice(body).map_err(|e| RequestError::Malformed(e.to_string()))?;
        req.validate()?;
        Ok(req)
    }

    /// Checks what the store would otherwise reject late, or what could make a
    /// request reach outside its bucket.
    pub fn validate(&self) -> Result<(), RequestError> {
        let invalid = |m: &str| Err(RequestError::Invalid(m.to_string()));
        if let Err(e) = Bucket::new(self.bucket.as_str()) {
            return Err(RequestError::Invalid(format!("`bucket`: {e}")));
        }
        let dir_empty = self.source_dir.as_deref().is_none_or(str::is_empty);
        if dir_empty && self.source_files.is_empty() {
            return invalid("give `source-dir` (a prefix) or `source-files` (a list of keys)");
        }
        if self
            .source_files
            .iter()
            .any(|k| !valid_key(k) || k.ends_with('/'))
        {
            return invalid(
                "every `source-files` item must be an object key (1-1024 bytes, not ending in `/`)",
            );
        }
        if let Some(dest) = &self.dest_file {
            if !valid_key(dest) || dest.ends_with('/') {
                return invalid(
                    "`dest-file` must be an object key (1-1024 bytes, not ending in `/`)",
                );
            }
        }
        if let Some(secs) = self.url_expires {
            if secs == 0 || secs > MAX_URL_EXPIRES {
                return invalid("`url-expires` must be between 1 and 604800 seconds");
            }
        }
        Ok(())
    }

    /// The archive's key: `dest-file`, else `output/<request-id>.zip` as the original.
    pub fn dest_key(&self, request_id: &str) -> String {
        self.dest_file
            .clone()
            .unwrap_or_else(|| format!("output/{request_id}.zip"))
    }

    pub fn url_expires(&self) -> u32 {
        self.url_expires.unwrap_or(DEFAULT_URL_EXPIRES)
    }
}

fn valid_key(k: &str) -> bool {
    (1..=1024).contains(&k.len()) && !k.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_originals_event_json() {
        let r = PackRequest::from_json(
            br#"{"region":"cn-shanghai","bucket":"fc-test","source-dir":"files/"}"#,
        )
        .unwrap();
        assert_eq!(r.bucket, "fc-test");
        assert_eq!(r.source_dir.as_deref(), Some("files/"));
        assert_eq!(r.dest_key("abc"), "output/abc.zip");
        assert_eq!(r.url_expires(), 300);
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        for body in [
            &b"not json"[..],
            br#"{"source-dir":"x/"}"#,
            br#"{"bucket":"b"}"#,
            br#"{"bucket":"b/../c","source-dir":"x/"}"#,
            br#"{"bucket":"b","source-files":["a/"]}"#,
            br#"{"bucket":"b","source-dir":"x/","dest-file":""}"#,
            br#"{"bucket":"b","source-dir":"x/","url-expires":0}"#,
            br#"{"bucket":"b","source-dir":"x/","source-files":"a"}"#,
        ] {
            assert!(
                PackRequest::from_json(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
