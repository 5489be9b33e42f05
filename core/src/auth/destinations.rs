//! Where an archive may be written and what may be read: the destination key's shape, the
//! prefixes archives may be written under (default `output/`) and, when configured, the
//! prefixes sources may be read from. Checked before any store request.
//!
//! A destination key must be a plain path: no `.` or `..` segments, no empty segments
//! (`a//b`, a leading `/`), no `\` and no control characters. S3 and OSS store such keys
//! literally, but the presigned link to `output/../../x.zip` is normalised by browsers and
//! HTTP clients into another path, and a prefix check on the literal key would pass it.
//! Keys are compared as written: a key is under `output/` when it starts with `output/`
//! and has a name after it.

use crate::plan::PackRequest;

/// Where archives go unless the operator says otherwise (as the original).
pub const DEFAULT_DEST_PREFIX: &str = "output/";

/// A destination key that must not be written (`400`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestKeyError {
    #[error("`dest-file` may not have `.` or `..` segments")]
    DotSegment,
    #[error("`dest-file` may not have empty segments (`//`, or a leading `/`)")]
    EmptySegment,
    #[error("`dest-file` may not hold control characters")]
    ControlCharacter,
    #[error("`dest-file` may not hold `\\`")]
    Backslash,
}

/// Checks the shape of a destination key (its length and the trailing `/` are the
/// request's own checks, [`PackRequest::validate`]).
pub fn check_dest_key(key: &str) -> Result<(), DestKeyError> {
    if key.chars().any(char::is_control) {
        return Err(DestKeyError::ControlCharacter);
    }
    if key.contains('\\') {
        return Err(DestKeyError::Backslash);
    }
    for segment in key.split('/') {
        match segment {
            "." | ".." => return Err(DestKeyError::DotSegment),
            "" => return Err(DestKeyError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

/// A configured prefix that cannot be used. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixConfigError {
    #[error("prefix `{0}` must end with `/`")]
    NoTrailingSlash(String),
    #[error("prefix `{0}` may not have empty, `.` or `..` segments, `\\` or control characters")]
    Unsafe(String),
}

/// Key prefixes, each ending in `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefixes(Vec<String>);

impl Prefixes {
    /// Prefixes from a list (blanks around items, and empty items, ignored).
    pub fn parse<'a>(
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<Prefixes, PrefixConfigError> {
        let mut prefixes = Vec::new();
        for item in items.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let Some(stem) = item.strip_suffix('/') else {
                return Err(PrefixConfigError::NoTrailingSlash(item.to_string()));
            };
            if check_dest_key(stem).is_err() {
                return Err(PrefixConfigError::Unsafe(item.to_string()));
            }
            if !prefixes.iter().any(|p| p == item) {
                prefixes.push(item.to_string());
            }
        }
        Ok(Prefixes(prefixes))
    }

    /// Prefixes from a comma-separated list.
    pub fn parse_list(list: &str) -> Result<Prefixes, PrefixConfigError> {
        Self::parse(list.split(','))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether `key` names an object under one of the prefixes (not the prefix itself),
    /// with no `.` or `..` segment after it.
    pub fn holds_key(&self, key: &str) -> bool {
        self.0.iter().any(|p| {
            key.strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.is_empty() && !has_dot_segment(rest))
        })
    }

    /// Whether listing `prefix` stays under one of the prefixes.
    pub fn holds_prefix(&self, prefix: &str) -> bool {
        self.0.iter().any(|p| {
            prefix
                .strip_prefix(p.as_str())
                .is_some_and(|rest| !has_dot_segment(rest))
        })
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A request that reaches outside what the operator allows, or names a destination that
/// must not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    InvalidDestination(#[from] DestKeyError),
    #[error("`dest-file` `{key}` is not under a prefix archives may be written to ({allowed})")]
    DestinationNotAllowed { key: String, allowed: String },
    #[error("{what} is not under a prefix this service may read ({allowed})")]
    SourceNotAllowed { what: String, allowed: String },
}

impl PolicyError {
    /// `400` for a malformed destination, `403` for one outside what is allowed.
    pub fn status(&self) -> u16 {
        match self {
            PolicyError::InvalidDestination(_) => 400,
            _ => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::InvalidDestination(_) => "InvalidRequest",
            PolicyError::DestinationNotAllowed { .. } => "DestinationNotAllowed",
            PolicyError::SourceNotAllowed { .. } => "SourceNotAllowed",
        }
    }
}

/// What the operator lets requests read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Archives are written only under these (never empty).
    pub dest: Prefixes,
    /// Sources are read only under these; empty: anywhere the credentials reach.
    pub sources: Prefixes,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            dest: Prefixes(vec![DEFAULT_DEST_PREFIX.to_string()]),
            sources: Prefixes::default(),
        }
    }
}

impl AccessPolicy {
    /// The policy for configured prefixes; no destination prefix means `output/`.
    pub fn new(dest: Prefixes, sources: Prefixes) -> AccessPolicy {
        AccessPolicy {
            dest: if dest.is_empty() {
                AccessPolicy::default().dest
            } else {
                dest
            },
            sources,
        }
    }

    /// The archive's key: `dest-file`, else `<first destination prefix><request-id>.zip`.
    pub fn dest_key(&self, dest_file: Option<&str>, request_id: &str) -> String {
        match dest_file {
            Some(key) => key.to_string(),
            None => format!(
                "{}{request_id}.zip",
                self.dest.iter().next().unwrap_or(DEFAULT_DEST_PREFIX)
            ),
        }
    }

    /// A key an archive is about to be written to: well-formed (`400`), under a
    /// destination prefix (`403`).
    pub fn check_destination(&self, key: &str) -> Result<(), PolicyError> {
        check_dest_key(key)?;
        if self.dest.holds_key(key) {
            Ok(())
        } else {
            Err(PolicyError::DestinationNotAllowed {
                key: key.to_string(),
                allowed: self.dest.describe(),
            })
        }
    }

    /// Every `source-dir` and `source-files` key under a source prefix, when any is
    /// configured (`403`).
    pub fn check_sources(&self, req: &PackRequest) -> Result<(), PolicyError> {
        if self.sources.is_empty() {
            return Ok(());
        }
        let refuse = |what: String| PolicyError::SourceNotAllowed {
            what,
            allowed: self.sources.describe(),
        };
        if let Some(dir) = req
            .source_dir
            .iter()
            .find(|d| !self.sources.holds_prefix(d))
        {
            return Err(refuse(format!("`source-dir` `{dir}`")));
        }
        if let Some(file) = req
            .source_files
            .iter()
            .find(|f| !self.sources.holds_key(f.key()))
        {
            return Err(refuse(format!("`source-files` key `{}`", file.key())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> PackRequest {
        PackRequest::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn destination_keys_must_be_plain_paths() {
        for ok in [
            "output/a.zip",
            "output/sub/报告 2024.zip",
            "a.zip",
            "output/..zip",
            "output/.a/b",
        ] {
            assert_eq!(check_dest_key(ok), Ok(()), "{ok}");
        }
        for (key, err) in [
            ("../../x.zip", DestKeyError::DotSegment),
            ("output/../../x.zip", DestKeyError::DotSegment),
            ("output/./x.zip", DestKeyError::DotSegment),
            ("output/..", DestKeyError::DotSegment),
            ("output//x.zip", DestKeyError::EmptySegment),
            ("/output/x.zip", DestKeyError::EmptySegment),
            ("output/x\n.zip", DestKeyError::ControlCharacter),
            ("output/x\u{0}.zip", DestKeyError::ControlCharacter),
            ("output/x\u{85}.zip", DestKeyError::ControlCharacter),
            ("output\\..\\x.zip", DestKeyError::Backslash),
        ] {
            assert_eq!(check_dest_key(key), Err(err), "{key:?}");
        }
    }

    #[test]
    fn destinations_under_the_default_prefix_only() {
        let policy = AccessPolicy::default();
        assert_eq!(policy.dest_key(None, "abc"), "output/abc.zip");
        assert_eq!(policy.dest_key(Some("x/y.zip"), "abc"), "x/y.zip");
        assert_eq!(policy.check_destination("output/abc.zip"), Ok(()));
        for key in ["index.html", "outputs/a.zip", "output", "x/output/a.zip"] {
            let e = policy.check_destination(key).unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (403, "DestinationNotAllowed"),
                "{key}"
            );
        }
        let e = policy
            .check_destination("output/../index.html")
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "InvalidRequest"));
    }

    #[test]
    fn configured_destination_prefixes() {
        let policy = AccessPolicy::new(
            Prefixes::parse_list(" zips/ , exports/daily/,,zips/").unwrap(),
            Prefixes::default(),
        );
        assert_eq!(
            policy.dest.iter().collect::<Vec<_>>(),
            ["zips/", "exports/daily/"]
        );
        assert_eq!(policy.dest_key(None, "r1"), "zips/r1.zip");
        assert_eq!(policy.check_destination("exports/daily/a.zip"), Ok(()));
        assert!(policy.check_destination("output/a.zip").is_err());
        assert_eq!(
            AccessPolicy::new(Prefixes::parse_list("").unwrap(), Prefixes::default()),
            AccessPolicy::default()
        );
    }

    #[test]
    fn prefixes_must_end_with_a_slash_and_be_plain() {
        assert_eq!(
            Prefixes::parse_list("output").unwrap_err(),
            PrefixConfigError::NoTrailingSlash("output".into())
        );
        for bad in ["/", "a//", "../", "a/../b/", "a\\b/"] {
            assert_eq!(
                Prefixes::parse_list(bad).unwrap_err(),
                PrefixConfigError::Unsafe(bad.into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn sources_anywhere_unless_prefixes_are_configured() {
        let open = AccessPolicy::default();
        assert_eq!(
            open.check_sources(&request(r#"{"bucket":"b","source-dir":"secret/"}"#)),
            Ok(())
        );

        let policy = AccessPolicy::new(
            Prefixes::default(),
            Prefixes::parse_list("public/,users/42/").unwrap(),
        );
        for ok in [
            r#"{"bucket":"b","source-dir":"public/"}"#,
            r#"{"bucket":"b","source-dir":["public/a/","users/42/"]}"#,
            r#"{"bucket":"b","source-files":["users/42/x.pdf",{"key":"public/y","name":"n"}]}"#,
        ] {
            assert_eq!(policy.check_sources(&request(ok)), Ok(()), "{ok}");
        }
        for bad in [
            r#"{"bucket":"b","source-dir":"pub"}"#,
            r#"{"bucket":"b","source-dir":["public/",""]}"#,
            r#"{"bucket":"b","source-dir":"users/4"}"#,
            r#"{"bucket":"b","source-dir":"users/42/../43/"}"#,
            r#"{"bucket":"b","source-files":["users/43/x.pdf"]}"#,
            r#"{"bucket":"b","source-dir":"public/","source-files":["secret.txt"]}"#,
            r#"{"bucket":"b","source-files":["public/../secret.txt"]}"#,
        ] {
            let e = policy.check_sources(&request(bad)).unwrap_err();
            assert_eq!((e.status(), e.code()), (403, "SourceNotAllowed"), "{bad}");
        }
    }
}
