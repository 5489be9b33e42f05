//! The one URI encoding SigV4 uses, so the URL sent and the canonical
//! request can never disagree.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters (`A-Za-z0-9-._~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`COMPONENT`], but `/` stays: object keys are paths to S3.
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// Encodes a query name or value (and `/` too, as SigV4 requires there).
pub fn encode_component(s: &str) -> String {
    std::borrow::Cow::from(utf8_percent_encode(s, COMPONENT)).into_owned()
}

/// Encodes an object key for the path; S3 signs the path encoded once,
/// without normalizing `.`/`..` segments or double slashes.
pub fn encode_path(s: &str) -> String {
    // `into`, not `to_string`: no `Display` machinery, and one copy when nothing is encoded
    // (every small object's GET encodes its key).
    std::borrow::Cow::from(utf8_percent_encode(s, PATH)).into_owned()
}

/// The SigV4 canonical query string, which is also the query we send:
/// names and values encoded, sorted by name then value, `name=` when empty.
pub fn canonical_query(params: &[(String, String)]) -> String {
    sorted_query(params, true)
}

/// Names and values RFC 3986-encoded, sorted by name then value; an empty value is written
/// `name=` when `equals_when_empty` (SigV4), else as the bare name (OSS V4).
pub(crate) fn sorted_query(params: &[(String, String)], equals_when_empty: bool) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| (encode_component(n), encode_component(v)))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (n, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        if equals_when_empty || !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space), the form
/// S3 uses for keys under `encoding-type=url`. `None` if not UTF-8.
pub fn decode_form(s: &str) -> Option<String> {
    decode_percent(&s.replace('+', " "))
}

/// Decodes `%XX` escapes only, `+` kept as it is (Python's `unquote`), the way Aliyun's
/// SDK decodes what OSS encodes under `encoding-type=url`. `None` if not UTF-8.
pub fn decode_percent(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keeps_slash_and_encodes_the_rest() {
        assert_eq!(
            encode_path("files/中文 a+b%c.txt"),
            "files/%E4%B8%AD%E6%96%87%20a%2Bb%25c.txt"
        );
        assert_eq!(encode_path("a-b_c.d~e/F9"), "a-b_c.d~e/F9");
        assert_eq!(encode_path("x=y&z?#"), "x%3Dy%26z%3F%23");
    }

    #[test]
    fn component_encodes_slash() {
        assert_eq!(encode_component("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn canonical_query_sorts_and_keeps_empty_values() {
        let q = vec![
            ("uploads".to_string(), String::new()),
            ("prefix".to_string(), "a b/".to_string()),
            ("list-type".to_string(), "2".to_string()),
            ("a".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ];
        assert_eq!(
            canonical_query(&q),
            "a=1&a=2&list-type=2&prefix=a%20b%2F&uploads="
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            decode_form("dir/a+b%2Bc%20d.txt").as_deref(),
            Some("dir/a b+c d.txt")
        );
        assert_eq!(decode_form("%E4%B8%AD").as_deref(), Some("中"));
        assert_eq!(decode_form("%FF"), None);
        // A stray `%` is kept, not an error.
        assert_eq!(decode_form("100%").as_deref(), Some("100%"));
    }

    #[test]
    fn percent_decoding_keeps_plus() {
        assert_eq!(
            decode_percent("a+b%2Bc%2F%3D%20").as_deref(),
            Some("a+b+c/= ")
        );
        assert_eq!(decode_percent("%E4%B8%AD").as_deref(), Some("中"));
        assert_eq!(decode_percent("%FF"), None);
    }
}
