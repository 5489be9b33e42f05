//! How an entry name is stored: UTF-8 (flag bit 11, plus the Info-ZIP Unicode Path extra
//! field 0x7075 with the same name), or GBK for readers that assume the Windows Chinese
//! code page.
//!
//! GBK names carry no Unicode Path field: Info-ZIP UnZip 6.0 (Debian's, with the zip-bomb
//! check) refuses an archive whose streamed entries (data descriptors) have a Unicode Path
//! name of another byte length than the name field — "invalid zip file with overlapped
//! components" — which is every GBK name. An archive that opens everywhere with names in
//! the code page its users asked for beats one that some readers refuse.

/// The encoding asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NameEncoding {
    #[default]
    Utf8,
    Gbk,
}

/// A name ready for the headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedName {
    /// The bytes in the name field.
    pub bytes: Vec<u8>,
    /// Sets flag bit 11: `bytes` are UTF-8 (and not plain ASCII).
    pub utf8_flag: bool,
    /// The UTF-8 name for the Unicode Path extra field (non-ASCII names only).
    pub unicode_path: Option<String>,
    /// GBK was asked for but cannot represent this name, so it is stored as UTF-8.
    pub fell_back_to_utf8: bool,
}

impl EncodedName {
    pub fn new(name: &str, encoding: NameEncoding) -> Self {
        if name.is_ascii() {
            return EncodedName {
                bytes: name.as_bytes().to_vec(),
                utf8_flag: false,
                unicode_path: None,
                fell_back_to_utf8: false,
            };
        }
        let utf8 = |fell_back| EncodedName {
            bytes: name.as_bytes().to_vec(),
            utf8_flag: true,
            unicode_path: Some(name.to_string()),
            fell_back_to_utf8: fell_back,
        };
        match encoding {
            NameEncoding::Utf8 => utf8(false),
            NameEncoding::Gbk => {
                let (bytes, _, unmappable) = encoding_rs::GBK.encode(name);
                if unmappable {
                    utf8(true)
                } else {
                    EncodedName {
                        bytes: bytes.into_owned(),
                        utf8_flag: false,
                        unicode_path: None,
                        fell_back_to_utf8: false,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_needs_nothing() {
        let n = EncodedName::new("a/b.txt", NameEncoding::Gbk);
        assert_eq!(
            (n.bytes.as_slice(), n.utf8_flag, n.unicode_path),
            (&b"a/b.txt"[..], false, None)
        );
    }

    #[test]
    fn chinese_in_gbk() {
        let n = EncodedName::new("报告.txt", NameEncoding::Gbk);
        assert_eq!(n.bytes, [0xB1, 0xA8, 0xB8, 0xE6, b'.', b't', b'x', b't']);
        assert!(!n.utf8_flag && !n.fell_back_to_utf8);
        assert_eq!(n.unicode_path, None);
    }

    #[test]
    fn what_gbk_cannot_hold_stays_utf8() {
        let n = EncodedName::new("🎉.txt", NameEncoding::Gbk);
        assert_eq!(n.bytes, "🎉.txt".as_bytes());
        assert!(n.utf8_flag && n.fell_back_to_utf8);
    }
}
