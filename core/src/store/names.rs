//! Bucket and object names, validated once so every action can trust them.

use std::fmt;
use std::str::FromStr;

use super::ConfigError;

/// A bucket name safe to put in a host name: with virtual-hosted URLs the
/// bucket becomes `bucket.host`, so a request-supplied name must not be able
/// to smuggle in `/`, `@` or `#` and point us at another server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket(String);

impl Bucket {
    pub fn new(name: impl Into<String>) -> Result<Self, ConfigError> {
        let name = name.into();
        let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let ok = (1..=255).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && edge_ok(name.chars().next())
            && edge_ok(name.chars().last());
        if ok {
            Ok(Self(name))
        } else {
            Err(ConfigError::InvalidBucket(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object key: 1 to 1024 bytes of UTF-8. The empty key is refused because
/// `PUT /bucket/` or `DELETE /bucket/` address the bucket itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub const MAX_LEN: usize = 1024;

    pub fn new(key: impl Into<String>) -> Result<Self, ConfigError> {
        let key = key.into();
        if key.is_empty() {
            Err(ConfigError::InvalidKey("empty"))
        } else if key.len() > Self::MAX_LEN {
            Err(ConfigError::InvalidKey("longer than 1024 bytes"))
        } else {
            Ok(Self(key))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! name_impls {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = ConfigError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
name_impls!(Bucket);
name_impls!(ObjectKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in ["b", "my-bucket", "a.b.c", "Legacy_Bucket1"] {
            assert!(Bucket::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            "a-",
            "a/b",
            "x.evil.com#",
            "a@b",
            "a b",
            "中",
            &"a".repeat(256),
        ] {
            assert!(Bucket::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        assert!(ObjectKey::new("").is_err());
        assert!(ObjectKey::new("a".repeat(1025)).is_err());
        assert!(ObjectKey::new("a".repeat(1024)).is_ok());
        assert!(ObjectKey::new("../x").is_ok());
    }
}
