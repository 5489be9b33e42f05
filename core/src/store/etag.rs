//! An object's ETag as the plan keeps it: 17 bytes when it is the usual quoted MD5 in hex
//! (S3 lower-case, OSS upper-case), not a 34-byte string on the heap, since a plan keeps
//! one per object for every read's `If-Match`. Written back exactly as the store gave it.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ETag {
    /// `"` + the digest in hex + `"`.
    Md5 {
        digest: [u8; 16],
        upper: bool,
    },
    Other(Box<str>),
}

impl ETag {
    pub fn new(text: &str) -> ETag {
        Self::md5(text).unwrap_or_else(|| ETag::Other(text.into()))
    }

    fn md5(text: &str) -> Option<ETag> {
        let hex = text.strip_prefix('"')?.strip_suffix('"')?.as_bytes();
        if hex.len() != 32 {
            return None;
        }
        let upper = hex.iter().any(u8::is_ascii_uppercase);
        let lower = hex.iter().any(u8::is_ascii_lowercase);
        if upper && lower {
            return None; // mixed case would not come back the same
        }
        // Hex digits only (`from_str_radix` would take a `+`, which would not come back).
        let mut digest = [0u8; 16];
        hex::decode_to_slice(hex, &mut digest).ok()?;
        Some(ETag::Md5 { digest, upper })
    }

    /// The ETag as the store wrote it (made for every read of the object: no formatting
    /// machinery).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            ETag::Md5 { digest, upper } => {
                let mut text = [b'"'; 34];
                hex::encode_to_slice(digest, &mut text[1..33]).expect("32 digits fit");
                if *upper {
                    text.make_ascii_uppercase();
                }
                Cow::Owned(String::from_utf8_lossy(&text).into_owned())
            }
            ETag::Other(text) => Cow::Borrowed(text),
        }
    }
}

impl From<&str> for ETag {
    fn from(text: &str) -> ETag {
        ETag::new(text)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::ETag;

    #[test]
    fn comes_back_as_the_store_wrote_it() {
        for text in [
            "\"d41d8cd98f00b204e9800998ecf8427e\"",   // S3
            "\"5B3C1A2E053D763E1B002CC607C5A0FE\"",   // OSS
            "\"d41d8cd98f00b204e9800998ecf8427e-3\"", // multipart
            "\"D41d8cd98f00b204e9800998ecf8427e\"",   // mixed case
            "d41d8cd98f00b204e9800998ecf8427e",       // unquoted
            "\"d41d8cd98f00b204e9800998ecf8427g\"",   // not hex
            "\"+41d8cd98f00b204e9800998ecf8427e\"",   // a sign is not a digit
            "\"e1\"",
            "",
        ] {
            let etag = ETag::new(text);
            assert_eq!(etag.text(), text);
            assert_eq!(etag.to_string(), text);
            assert_eq!(format!("{etag:?}"), format!("{text:?}"));
        }
        assert!(matches!(
            ETag::new("\"5B3C1A2E053D763E1B002CC607C5A0FE\""),
            ETag::Md5 { upper: true, .. }
        ));
        assert!(matches!(
            ETag::new("\"d41d8cd98f00b204e9800998ecf8427e\""),
            ETag::Md5 { upper: false, .. }
        ));
    }
}
