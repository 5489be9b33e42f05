//! Request signing, one file per scheme: AWS SigV4 (S3, and OSS's S3-compatible
//! endpoint) and OSS's own V4.

use std::borrow::Cow;
use std::cell::RefCell;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub mod oss_v4;
pub mod sigv4;

thread_local! {
    static LAST_KEY: RefCell<Option<(Vec<String>, [u8; 32])>> = const { RefCell::new(None) };
    static LAST_MAC: RefCell<Option<([u8; 32], Hmac<Sha256>)>> = const { RefCell::new(None) };
}

/// HMAC-SHA256 of `data` under `key` (any length), as both schemes derive their keys.
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// Both schemes' step 4, the signature: the string to sign's HMAC-SHA256 under the
/// signing key, lower-case hex.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex_lower(&keyed_hmac(signing_key, string_to_sign.as_bytes()))
}

/// [`hmac`] under a signing key, with the MAC keyed by the last call's key kept and cloned:
/// keying hashes two blocks of the six a GET's string to sign takes, and a pack signs every
/// request with one key.
fn keyed_hmac(signing_key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    LAST_MAC.with(|last| {
        let mut last = last.borrow_mut();
        let mut mac = match last.as_ref() {
            Some((key, mac)) if key == signing_key => mac.clone(),
            _ => {
                let mac = keyed(signing_key);
                *last = Some((*signing_key, mac.clone()));
                mac
            }
        };
        mac.update(data);
        mac.finalize().into_bytes().into()
    })
}

/// The signing key derived from `inputs` (scheme, secret, date, region, service), from the
/// last call's if its inputs were the same: every request of a pack signs with one key
/// until the date turns, and deriving it (four HMACs) was half the hashing of signing a
/// small object's GET.
fn memoized(inputs: [&str; 5], derive: impl FnOnce() -> [u8; 32]) -> [u8; 32] {
    LAST_KEY.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((seen, key)) = last.as_ref() {
            if seen.iter().map(String::as_str).eq(inputs) {
                return *key;
            }
        }
        let key = derive();
        *last = Some((inputs.map(str::to_string).to_vec(), key));
        key
    })
}

/// A header name as signed: trimmed and lower-cased (borrowed when it already is, as the
/// names core writes are).
fn lower_trimmed(name: &str) -> Cow<'_, str> {
    let name = name.trim();
    match name.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(name.to_ascii_lowercase()),
        false => Cow::Borrowed(name),
    }
}

/// The canonical header block both schemes sign: `name:value\n` per name, names sorted
/// (stably, so repeated names keep their order) and a name's values joined with commas.
/// Sorts `headers` in place, which SigV4 then lists the signed names from.
fn header_block<V: AsRef<str>>(headers: &mut [(Cow<'_, str>, V)]) -> String {
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(256);
    for group in headers.chunk_by(|a, b| a.0 == b.0) {
        out.push_str(&group[0].0);
        out.push(':');
        for (i, (_, value)) in group.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(value.as_ref());
        }
        out.push('\n');
    }
    out
}

/// Lower-case hex of a digest, written straight into its string: `hex::encode` goes a
/// `char` at a time, which showed in signing a small object's GET.
fn hex_lower(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex::encode_to_slice(bytes, &mut out).expect("twice the length");
    String::from_utf8(out).expect("hex digits")
}

/// `parts` joined with newlines, into one allocation and without `format!`'s machinery:
/// the canonical request and the string to sign are built for every request.
fn lines(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_and_whole() {
        assert_eq!(super::hex_lower(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
        assert_eq!(super::hex_lower(&[]), "");
    }

    #[test]
    fn a_kept_mac_is_only_reused_for_the_same_key() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for (key, data) in [(&a, &b"x"[..]), (&a, b"y"), (&b, b"y"), (&a, b"y")] {
            assert_eq!(super::keyed_hmac(key, data), super::hmac(key, data));
        }
    }

    #[test]
    fn a_remembered_key_is_only_reused_for_the_same_inputs() {
        let a = super::sigv4::signing_key("secret", "20240101", "us-east-1", "s3");
        // Each input changes the key; asking again gives the same one.
        for other in [
            super::sigv4::signing_key("secreT", "20240101", "us-east-1", "s3"),
            super::sigv4::signing_key("secret", "20240102", "us-east-1", "s3"),
            super::sigv4::signing_key("secret", "20240101", "us-east-2", "s3"),
            super::oss_v4::signing_key("secret", "20240101", "us-east-1", "s3"),
        ] {
            assert_ne!(a, other);
        }
        assert_eq!(
            a,
            super::sigv4::signing_key("secret", "20240101", "us-east-1", "s3")
        );
    }
}
