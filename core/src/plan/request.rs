//! The pack request: the original's JSON (`region`, `bucket`, `source-dir`,
//! `source-files`, `dest-file`) plus our own optional fields. Unknown fields are
//! ignored so requests written for the original keep working.

use serde::{Deserialize, Deserializer};

use crate::store::Bucket;
use crate::zip::NameEncoding;

/// Default lifetime of the presigned link, as the original (300 s).
pub const DEFAULT_URL_EXPIRES: u32 = 300;
/// The longest a SigV4 presigned URL may live (7 days).
const MAX_URL_EXPIRES: u32 = 604_800;
/// zlib's default: a good ratio at a fair speed.
pub const DEFAULT_DEFLATE_LEVEL: u32 = 6;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct PackRequest {
    /// The original's region; for S3 stores the configured endpoint decides, so it is informational.
    #[serde(default)]
    pub region: Option<String>,
    pub bucket: String,
    /// One prefix or several; each object's name is its key without the prefix it was listed under.
    #[serde(default, deserialize_with = "one_or_many")]
    pub source_dir: Vec<String>,
    /// Keys to pack, each a key or `{"key": …, "name": …}`.
    #[serde(default)]
    pub source_files: Vec<SourceFile>,
    #[serde(default)]
    pub dest_file: Option<String>,
    /// Lifetime of the presigned link in seconds.
    #[serde(default, alias = "expires")]
    pub url_expires: Option<u32>,
    #[serde(default)]
    pub compression: Compression,
    /// Deflate level 0–9 for `deflate` and `auto`.
    #[serde(default)]
    pub compression_level: Option<u32>,
    #[serde(default, deserialize_with = "name_encoding")]
    pub name_encoding: NameEncoding,
    /// Glob patterns on entry names; when any is given, only matching files are packed.
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns on entry names; matching entries are left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `markers` (default): folder entries only for folder-marker keys; `all`: also every
    /// folder that holds an entry.
    #[serde(default)]
    pub folders: Folders,
    /// Where to `POST` the outcome when the pack ends (signed; only to hosts the operator
    /// allows: `notify::hosts`). Checked for shape here, against the allow-list by the API.
    #[serde(default)]
    pub callback: Option<String>,
    /// `false`: carry every byte through the packer, even where the store could copy it
    /// (`pack/copy.rs`).
    #[serde(default)]
    pub copy: Option<bool>,
}

/// A `source-files` item: a key, or a key with the name it gets in the archive.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SourceFile {
    Key(String),
    Named { key: String, name: Option<String> },
}

impl SourceFile {
    pub fn key(&self) -> &str {
        match self {
            SourceFile::Key(k) | SourceFile::Named { key: k, .. } => k,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            SourceFile::Key(_) => None,
            SourceFile::Named { name, .. } => name.as_deref(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// As the original: fastest, and the archive size is known in advance.
    #[default]
    Stored,
    Deflate,
    /// Deflate, except data that is already compressed (by extension and leading bytes).
    Auto,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Folders {
    #[default]
    Markers,
    All,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) if s.is_empty() => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn name_encoding<'de, D: Deserializer<'de>>(d: D) -> Result<NameEncoding, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(NameEncoding::Utf8),
        "gbk" | "gb2312" | "cp936" => Ok(NameEncoding::Gbk),
        other => Err(serde::de::Error::custom(format!(
            "unknown name-encoding `{other}` (utf-8 or gbk)"
        ))),
    }
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
        if self.source_dir.is_empty() && self.source_files.is_empty() {
            return invalid(
                "give `source-dir` (a prefix or a list of them) or `source-files` (a list of keys)",
            );
        }
        if self.source_dir.iter().any(|d| d.len() > 1024) {
            return invalid("a `source-dir` prefix is longer than 1024 bytes");
        }
        if self
            .source_files
            .iter()
            .any(|f| !valid_key(f.key()) || f.key().ends_with('/'))
        {
            return invalid(
                "every `source-files` key must be an object key (1-1024 bytes, not ending in `/`)",
            );
        }
        if self
            .source_files
            .iter()
            .any(|f| f.name().is_some_and(|n| n.is_empty() || n.len() > 1024))
        {
            return invalid("a `source-files` name must be 1-1024 bytes");
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
        if self.compression_level.is_some_and(|l| l > 9) {
            return invalid("`compression-level` must be 0-9");
        }
        if let Some(url) = &self.callback {
            crate::notify::CallbackUrl::parse(url)
                .map_err(|e| RequestError::Invalid(e.to_string()))?;
        }
        for pattern in self.include.iter().chain(&self.exclude) {
            if let Err(e) = globset::Glob::new(pattern) {
                return Err(RequestError::Invalid(format!("pattern `{pattern}`: {e}")));
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

    pub fn deflate_level(&self) -> u32 {
        self.compression_level.unwrap_or(DEFAULT_DEFLATE_LEVEL)
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
        assert_eq!(r.source_dir, ["files/"]);
        assert_eq!(r.dest_key("abc"), "output/abc.zip");
        assert_eq!(r.url_expires(), 300);
        assert_eq!(r.compression, Compression::Stored);
        assert_eq!(r.name_encoding, NameEncoding::Utf8);
    }

    #[test]
    fn accepts_our_fields() {
        let r = PackRequest::from_json(
            br#"{"bucket":"b","source-dir":["a/","b/"],"source-files":["k1",{"key":"k2","name":"n2.txt"}],
                "compression":"auto","compression-level":9,"name-encoding":"GBK","include":["*.txt"],"exclude":["tmp/**"],"folders":"all",
                "callback":"https://hooks.example.com/zip"}"#,
        )
        .unwrap();
        assert_eq!(r.source_dir, ["a/", "b/"]);
        assert_eq!(
            r.source_files[1],
            SourceFile::Named {
                key: "k2".into(),
                name: Some("n2.txt".into())
            }
        );
        assert_eq!(
            (r.compression, r.deflate_level(), r.name_encoding, r.folders),
            (Compression::Auto, 9, NameEncoding::Gbk, Folders::All)
        );
        assert_eq!(r.callback.as_deref(), Some("https://hooks.example.com/zip"));
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        for body in [
            &b"not json"[..],
            br#"{"source-dir":"x/"}"#,
            br#"{"bucket":"b"}"#,
            br#"{"bucket":"b","source-dir":""}"#,
            br#"{"bucket":"b/../c","source-dir":"x/"}"#,
            br#"{"bucket":"b","source-files":["a/"]}"#,
            br#"{"bucket":"b","source-dir":"x/","dest-file":""}"#,
            br#"{"bucket":"b","source-dir":"x/","url-expires":0}"#,
            br#"{"bucket":"b","source-dir":"x/","source-files":"a"}"#,
            br#"{"bucket":"b","source-dir":"x/","compression":"zstd"}"#,
            br#"{"bucket":"b","source-dir":"x/","compression-level":10}"#,
            br#"{"bucket":"b","source-dir":"x/","name-encoding":"latin1"}"#,
            br#"{"bucket":"b","source-dir":"x/","include":["a[b"]}"#,
            br#"{"bucket":"b","source-dir":"x/","callback":"ftp://x.com/"}"#,
            br#"{"bucket":"b","source-dir":"x/","callback":"https://u@x.com/"}"#,
        ] {
            assert!(
                PackRequest::from_json(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
