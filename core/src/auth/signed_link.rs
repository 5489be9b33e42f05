//! Signed pack links: an application that knows which files a user may have signs the pack
//! request, and the browser follows a plain link to get the archive.
//!
//! ```text
//! GET /?pack=<base64url(request JSON)>&expires=<unix seconds>&key-id=<id>&signature=<hex>
//! ```
//!
//! The signature is HMAC-SHA256, keyed with the secret of key `key-id`, over the
//! canonical string
//!
//! ```text
//! zip-oss-pack-v1 \n <key-id> \n <expires> \n <request JSON>
//! ```
//!
//! (lines joined by a single `\n`, no spaces), written as 64 lower-case hex digits. The
//! request JSON is the exact bytes `pack` decodes to (base64url, RFC 4648 §5, without
//! padding), so every field of the request — what is read, where it is written, how —
//! is covered, and so are the expiry and the key. Signers write the JSON canonically
//! ([`canonical_json`]: compact, object keys sorted, UTF-8 unescaped) so that the same
//! request always gives the same link; the server does not need it canonical, since it
//! checks the bytes it received. A link is good until `expires` (inclusive), then `401`.
//! Nothing else of the URL is signed: unknown query parameters are ignored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::decode_form;

/// The first line of the canonical string; a new scheme would get a new one.
pub const SCHEME: &str = "zip-oss-pack-v1";
/// Secrets shorter than this are refused: an HMAC is only as strong as its key.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest key id.
const MAX_KEY_ID_LEN: usize = 64;

/// A link that cannot be used; every one is a `401`. The text tells the user what to fix
/// and nothing that would help to forge a signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the pack link is malformed: {0}")]
    Malformed(&'static str),
    #[error("the pack link has expired")]
    Expired,
    #[error("the pack link's key id is not one this service accepts (was its key rotated out?)")]
    UnknownKey,
    #[error("the pack link's signature does not match")]
    BadSignature,
}

/// A signing-key list that cannot be used. Never shows a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyConfigError {
    #[error("signing key {0} (counting from 1): write each key as `id:secret`, keys separated by commas")]
    Malformed(usize),
    #[error("signing key id `{0}`: use 1-64 of A-Z a-z 0-9 . _ -")]
    BadId(String),
    #[error("signing key `{0}`: the secret must be at least 16 bytes (32 random bytes, hex-encoded, is a good choice)")]
    ShortSecret(String),
    #[error("signing key id `{0}` is given twice")]
    Duplicate(String),
}

/// One signing key. `Debug` shows the id only.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

impl SigningKey {
    pub fn new(id: &str, secret: &str) -> Result<SigningKey, KeyConfigError> {
        if !valid_key_id(id) {
            return Err(KeyConfigError::BadId(id.to_string()));
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyConfigError::ShortSecret(id.to_string()));
        }
        Ok(SigningKey {
            id: id.to_string(),
            secret: secret.as_bytes().to_vec(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lower-case hex HMAC-SHA256 of the canonical string.
    fn sign(&self, expires: u64, request_json: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(&canonical_string(&self.id, expires, request_json));
        hex::encode(mac.finalize().into_bytes())
    }

    /// The query of a link for `request_json`, which is written canonically first:
    /// `pack=…&expires=…&key-id=…&signature=…`.
    pub fn sign_query(
        &self,
        request_json: &str,
        expires: u64,
    ) -> Result<String, serde_json::Error> {
        let json = canonical_json(request_json)?;
        Ok(format!(
            "pack={}&expires={expires}&key-id={}&signature={}",
            URL_SAFE_NO_PAD.encode(json.as_bytes()),
            self.id,
            self.sign(expires, json.as_bytes())
        ))
    }
}

/// The operator's signing keys (`id1:secret1,id2:secret2`); several, so that a new key can
/// be added before the old one is removed. `Debug` shows the ids only.
#[derive(Clone, Debug, Default)]
pub struct SigningKeys(Vec<SigningKey>);

impl SigningKeys {
    /// Parses `id:secret` entries separated by commas (blanks around entries are ignored;
    /// a secret may hold `:` but not `,`).
    pub fn parse(list: &str) -> Result<SigningKeys, KeyConfigError> {
        let mut keys: Vec<SigningKey> = Vec::new();
        for (i, entry) in list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (id, secret) = entry
                .split_once(':')
                .ok_or(KeyConfigError::Malformed(i + 1))?;
            let key = SigningKey::new(id.trim(), secret.trim())?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(KeyConfigError::Duplicate(key.id));
            }
            keys.push(key);
        }
        Ok(SigningKeys(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key named `id` (ids are not secret).
    pub fn get(&self, id: &str) -> Option<&SigningKey> {
        self.0.iter().find(|k| k.id == id)
    }
}

/// The bytes that are signed: `zip-oss-pack-v1\n<key-id>\n<expires>\n<request JSON>`.
pub fn canonical_string(key_id: &str, expires: u64, request_json: &[u8]) -> Vec<u8> {
    let mut s = format!("{SCHEME}\n{key_id}\n{expires}\n").into_bytes();
    s.extend_from_slice(request_json);
    s
}

/// `json` written canonically: no whitespace, object keys sorted by code point at every
/// level, strings escaped only where JSON requires (`"`, `\`, control characters: `\b \t
/// \n \f \r`, others `\u00xx`), everything else as UTF-8. Python's
/// `json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)` writes the
/// same for the requests zip-oss takes (strings, integers, booleans, lists, objects).
pub fn canonical_json(json: &str) -> Result<String, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    let mut out = String::with_capacity(json.len());
    write_canonical(&value, &mut out);
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            // Sorted here: serde_json's map keeps insertion order when a crate in the
            // build enables its `preserve_order` feature.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A pack link's parameters, read from the query of a `GET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedLink {
    /// The request JSON, as `pack` decodes.
    pub request: Vec<u8>,
    pub expires: u64,
    pub key_id: String,
    signature: String,
}

impl SignedLink {
    /// Whether a `GET` with this query is meant as a pack link: its parameters present,
    /// well-formed or not (a malformed link is `401`, not a `GET` that is no pack).
    pub fn is_meant(query: &str) -> bool {
        SignedLink::from_query(query).map_or(true, |l| l.is_some())
    }

    /// The link in a URL query (without `?`); `Ok(None)` when it has no `pack` parameter
    /// (not a pack link). Parameters are form-decoded; others are ignored; each of the four
    /// may appear once.
    pub fn from_query(query: &str) -> Result<Option<SignedLink>, LinkError> {
        let (mut pack, mut expires, mut key_id, mut signature) = (None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_form(name).unwrap_or_default();
            let slot = match name.as_str() {
                "pack" => &mut pack,
                "expires" => &mut expires,
                "key-id" => &mut key_id,
                "signature" => &mut signature,
                _ => continue,
            };
            if slot.is_some() {
                return Err(LinkError::Malformed("a parameter is given twice"));
            }
            *slot = Some(
                decode_form(value).ok_or(LinkError::Malformed("a parameter is not valid UTF-8"))?,
            );
        }
        let Some(pack) = pack else {
            return Ok(None);
        };
        let (Some(expires), Some(key_id), Some(signature)) = (expires, key_id, signature) else {
            return Err(LinkError::Malformed(
                "a pack link needs `pack`, `expires`, `key-id` and `signature`",
            ));
        };
        let request = URL_SAFE_NO_PAD
            .decode(pack.trim_end_matches('='))
            .map_err(|_| LinkError::Malformed("`pack` is not base64url"))?;
        if expires.is_empty() || expires.len() > 19 || !expires.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(LinkError::Malformed("`expires` must be unix seconds"));
        }
        let expires = expires
            .parse()
            .map_err(|_| LinkError::Malformed("`expires` must be unix seconds"))?;
        if !valid_key_id(&key_id) {
            return Err(LinkError::UnknownKey);
        }
        if signature.len() != 64
            || !signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(LinkError::Malformed(
                "`signature` must be 64 lower-case hex digits",
            ));
        }
        Ok(Some(SignedLink {
            request,
            expires,
            key_id,
            signature,
        }))
    }

    /// Checks the link at `now_unix`: not expired, a known key, a matching signature
    /// (compared in constant time).
    pub fn verify(&self, keys: &SigningKeys, now_unix: u64) -> Result<(), LinkError> {
        if now_unix > self.expires {
            return Err(LinkError::Expired);
        }
        let key = keys.get(&self.key_id).ok_or(LinkError::UnknownKey)?;
        let expected = key.sign(self.expires, &self.request);
        if super::constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            Ok(())
        } else {
            Err(LinkError::BadSignature)
        }
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's worked example.
    const KEY_ID: &str = "app1";
    const SECRET: &str = "correct-horse-battery-staple-42";
    const REQUEST: &str = r#"{ "bucket": "my-bucket", "source-dir": "users/42/", "dest-file": "output/users-42.zip" }"#;
    const EXPIRES: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const CANONICAL_JSON: &str =
        r#"{"bucket":"my-bucket","dest-file":"output/users-42.zip","source-dir":"users/42/"}"#;
    const SIGNATURE: &str = "e6c7794f76666ccd9af54539b359776ac021afdaf673006c22533918addf955d";

    fn keys() -> SigningKeys {
        SigningKeys::parse(&format!("old:{}, {KEY_ID}:{SECRET}", "o".repeat(16))).unwrap()
    }

    fn query() -> String {
        keys()
            .get(KEY_ID)
            .unwrap()
            .sign_query(REQUEST, EXPIRES)
            .unwrap()
    }

    #[test]
    fn worked_example() {
        assert_eq!(canonical_json(REQUEST).unwrap(), CANONICAL_JSON);
        let canonical = canonical_string(KEY_ID, EXPIRES, CANONICAL_JSON.as_bytes());
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            format!("zip-oss-pack-v1\napp1\n1767225600\n{CANONICAL_JSON}")
        );
        assert_eq!(
            query(),
            format!(
                "pack={}&expires=1767225600&key-id=app1&signature={SIGNATURE}",
                URL_SAFE_NO_PAD.encode(CANONICAL_JSON)
            )
        );
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let link = SignedLink::from_query(&query()).unwrap().unwrap();
        assert_eq!(link.request, CANONICAL_JSON.as_bytes());
        assert_eq!(link.verify(&keys(), EXPIRES - 100), Ok(()));
        assert_eq!(link.verify(&keys(), EXPIRES), Ok(()));
        assert_eq!(link.verify(&keys(), EXPIRES + 1), Err(LinkError::Expired));
    }

    #[test]
    fn every_altered_parameter_fails() {
        let keys = keys();
        let q = query();
        let param = |name: &str| {
            q.split('&')
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_string()
        };
        let with = |name: &str, value: &str| {
            q.split('&')
                .map(|p| {
                    if p.starts_with(&format!("{name}=")) {
                        format!("{name}={value}")
                    } else {
                        p.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("&")
        };
        let check = |query: String| {
            SignedLink::from_query(&query)
                .and_then(|l| l.unwrap().verify(&keys, EXPIRES - 10))
                .unwrap_err()
        };
        let other_request = URL_SAFE_NO_PAD.encode(CANONICAL_JSON.replace("users/42/", "users/"));
        assert_eq!(check(with("pack", &other_request)), LinkError::BadSignature);
        assert_eq!(
            check(with("expires", &(EXPIRES + 3600).to_string())),
            LinkError::BadSignature
        );
        assert_eq!(check(with("key-id", "old")), LinkError::BadSignature);
        assert_eq!(check(with("key-id", "gone")), LinkError::UnknownKey);
        let mut sig = param("signature");
        let last = if sig.ends_with('0') { "1" } else { "0" };
        sig.replace_range(63.., last);
        assert_eq!(check(with("signature", &sig)), LinkError::BadSignature);
        assert!(matches!(
            check(with("signature", &sig.to_uppercase())),
            LinkError::Malformed(_)
        ));
        assert!(matches!(
            check(format!("{q}&expires=1")),
            LinkError::Malformed(_)
        ));
        assert!(matches!(
            check(q.replace("&signature=", "&sig=")),
            LinkError::Malformed(_)
        ));
    }

    #[test]
    fn a_query_without_pack_is_not_a_link_and_others_are_ignored() {
        assert_eq!(SignedLink::from_query("").unwrap(), None);
        assert_eq!(SignedLink::from_query("a=b&expires=1").unwrap(), None);
        let link = SignedLink::from_query(&format!("utm=x&{}", query())).unwrap();
        assert!(link.is_some());
        // Padding and percent-encoding do not change what is signed.
        let padded = query().replacen("&expires", "%3D%3D&expires", 1);
        let link = SignedLink::from_query(&padded).unwrap().unwrap();
        assert_eq!(link.verify(&keys(), EXPIRES), Ok(()));
    }

    #[test]
    fn key_lists() {
        assert!(SigningKeys::parse("").unwrap().is_empty());
        let keys =
            SigningKeys::parse("a:0123456789abcdef:with-colon , b:0123456789abcdef").unwrap();
        assert_eq!(
            keys.get("a").unwrap().secret,
            b"0123456789abcdef:with-colon"
        );
        assert!(keys.get("c").is_none());
        for (list, err) in [
            ("a", KeyConfigError::Malformed(1)),
            ("a b:0123456789abcdef", KeyConfigError::BadId("a b".into())),
            ("a:short", KeyConfigError::ShortSecret("a".into())),
            (
                "a:0123456789abcdef,a:0123456789abcdeg",
                KeyConfigError::Duplicate("a".into()),
            ),
        ] {
            let e = SigningKeys::parse(list).unwrap_err();
            assert_eq!(e, err);
            assert!(!e.to_string().contains("0123456789abcde"), "{e}");
        }
        assert!(!format!("{:?}", keys).contains("0123"));
    }

    #[test]
    fn canonical_json_sorts_nested_keys_and_escapes_as_json_requires() {
        assert_eq!(
            canonical_json(
                "{\"b\": [ {\"z\":1, \"a\":true} ], \"a\": \"中\\u0001\\n\\\"/\\u007f\"}"
            )
            .unwrap(),
            "{\"a\":\"中\\u0001\\n\\\"/\u{7f}\",\"b\":[{\"a\":true,\"z\":1}]}"
        );
        assert!(canonical_json("{").is_err());
    }
}
