//! AWS Signature Version 4 for S3, step by step as the
//! [reference](https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)
//! lays it out: canonical request → string to sign → signing key → signature.
//! Each step is tested against the published AWS example vectors.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::hmac;
use crate::store::credentials::Credentials;
use crate::store::uri::canonical_query;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload hash for bodies we stream without hashing first.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string, the payload hash of a bodiless request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SERVICE: &str = "s3";

/// What is signed, apart from who signs and when.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `host[:port]`, signed as `host`; it must equal the URL's authority.
    pub authority: &'a str,
    /// The already-encoded path, sent as is.
    pub canonical_uri: &'a str,
    /// Unencoded query parameters.
    pub query: &'a [(String, String)],
    /// Headers to sign besides `host` (which is always signed and never listed).
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body, or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// The two clock strings SigV4 needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// `YYYYMMDD`
    pub date: String,
    /// `YYYYMMDDTHHMMSSZ`
    pub datetime: String,
}

impl Timestamp {
    /// Times past year 9999 are clamped to its last second; they could only
    /// come from a broken clock, and the server will reject them anyway.
    pub fn from_unix(unix: u64) -> Self {
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let secs = i64::try_from(unix).unwrap_or(MAX).min(MAX);
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        // Digits written directly: every request is signed, and `format!` showed there.
        let mut datetime = String::with_capacity(16);
        let digits = |out: &mut String, n: u32, width: u32| {
            for place in (0..width).rev() {
                out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
            }
        };
        digits(&mut datetime, t.year().max(0) as u32, 4);
        digits(&mut datetime, u32::from(u8::from(t.month())), 2);
        digits(&mut datetime, u32::from(t.day()), 2);
        datetime.push('T');
        digits(&mut datetime, u32::from(t.hour()), 2);
        digits(&mut datetime, u32::from(t.minute()), 2);
        digits(&mut datetime, u32::from(t.second()), 2);
        datetime.push('Z');
        let date = datetime[..8].to_string();
        Self { date, datetime }
    }
}

/// `YYYYMMDDTHHMMSSZ` for unix seconds, the `x-amz-date` format.
pub fn amz_date(unix: u64) -> String {
    Timestamp::from_unix(unix).datetime
}

/// Step 1a: the canonical header block and the signed-header list. Names are
/// lower-cased and sorted, values trimmed with inner whitespace runs collapsed,
/// repeated names joined with commas; `host` is added from `authority`.
pub fn canonical_headers(authority: &str, headers: &[(String, String)]) -> (String, String) {
    let mut all: Vec<(Cow<'_, str>, Cow<'_, str>)> = headers
        .iter()
        .map(|(n, v)| (super::lower_trimmed(n), collapsed(v)))
        .filter(|(n, _)| n != "host")
        .collect();
    all.push((Cow::Borrowed("host"), Cow::Borrowed(authority)));
    let canonical = super::header_block(&mut all);
    let signed: Vec<&str> = all.chunk_by(|a, b| a.0 == b.0).map(|g| &*g[0].0).collect();
    (canonical, signed.join(";"))
}

/// A value as SigV4 signs it: trimmed, each inner run of whitespace one space (borrowed
/// when it already is, as nearly every value is).
fn collapsed(value: &str) -> Cow<'_, str> {
    let trimmed = value.trim();
    let mut after_space = false;
    // By bytes: a value of ASCII other than whitespace runs is what every request has.
    // Any other byte (non-ASCII may be Unicode whitespace) takes the general way.
    let plain = trimmed.bytes().all(|b| {
        let space = b == b' ';
        let ok = (b.is_ascii() && !(b as char).is_whitespace()) || (space && !after_space);
        after_space = space;
        ok
    });
    match plain {
        true => Cow::Borrowed(trimmed),
        false => Cow::Owned(trimmed.split_whitespace().collect::<Vec<_>>().join(" ")),
    }
}

/// Step 1: the canonical request.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    super::lines(&[
        method,
        canonical_uri,
        canonical_query,
        canonical_headers,
        signed_headers,
        payload_hash,
    ])
}

/// The credential scope, `date/region/s3/aws4_request`.
pub fn scope(date: &str, region: &str) -> String {
    [date, "/", region, "/", SERVICE, "/aws4_request"].concat()
}

/// Step 2: the string to sign.
pub fn string_to_sign(datetime: &str, scope: &str, canonical_request: &str) -> String {
    let hash = super::hex_lower(&Sha256::digest(canonical_request.as_bytes()));
    super::lines(&[ALGORITHM, datetime, scope, &hash])
}

/// Step 3: the signing key, an HMAC chain over date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    super::memoized(["aws4", secret, date, region, service], || {
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        hmac(&k_service, b"aws4_request")
    })
}

/// Step 4: the signature, lower-case hex (the same in both schemes).
pub use super::signature;

/// Signs with an `Authorization` header. Returns every header to send (the
/// request's own, then `x-amz-content-sha256`, `x-amz-date`, the token if any,
/// and `authorization`); `host` is left to the HTTP client.
pub fn sign_headers(
    creds: &Credentials,
    region: &str,
    req: &Request<'_>,
    now_unix: u64,
) -> Vec<(String, String)> {
    let ts = Timestamp::from_unix(now_unix);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
        .cloned()
        .collect();
    headers.push(("x-amz-content-sha256".into(), req.payload_hash.into()));
    headers.push(("x-amz-date".into(), ts.datetime.clone()));
    if let Some(token) = creds.token() {
        headers.push(("x-amz-security-token".into(), token.into()));
    }
    let (canonical, signed) = canonical_headers(req.authority, &headers);
    let creq = canonical_request(
        req.method,
        req.canonical_uri,
        &canonical_query(req.query),
        &canonical,
        &signed,
        req.payload_hash,
    );
    let scope = scope(&ts.date, region);
    let sts = string_to_sign(&ts.datetime, &scope, &creq);
    let sig = signature(
        &signing_key(&creds.access_key_secret, &ts.date, region, SERVICE),
        &sts,
    );
    let authorization = [
        ALGORITHM,
        " Credential=",
        &creds.access_key_id,
        "/",
        &scope,
        ", SignedHeaders=",
        &signed,
        ", Signature=",
        &sig,
    ]
    .concat();
    headers.push(("authorization".into(), authorization));
    headers
}

/// Signs with query parameters (a presigned URL valid for `expires_secs`).
/// Returns the complete encoded query string, `X-Amz-Signature` included.
pub fn presign(
    creds: &Credentials,
    region: &str,
    req: &Request<'_>,
    expires_secs: u64,
    now_unix: u64,
) -> String {
    let ts = Timestamp::from_unix(now_unix);
    let scope = scope(&ts.date, region);
    let (canonical, signed) = canonical_headers(req.authority, req.headers);
    let mut query = req.query.to_vec();
    let mut add = |n: &str, v: String| query.push((n.to_string(), v));
    add("X-Amz-Algorithm", ALGORITHM.into());
    add(
        "X-Amz-Credential",
        format!("{}/{scope}", creds.access_key_id),
    );
    add("X-Amz-Date", ts.datetime.clone());
    add("X-Amz-Expires", expires_secs.to_string());
    add("X-Amz-SignedHeaders", signed.clone());
    if let Some(token) = creds.token() {
        add("X-Amz-Security-Token", token.into());
    }
    let creq = canonical_request(
        req.method,
        req.canonical_uri,
        &canonical_query(&query),
        &canonical,
        &signed,
        req.payload_hash,
    );
    let sts = string_to_sign(&ts.datetime, &scope, &creq);
    let sig = signature(
        &signing_key(&creds.access_key_secret, &ts.date, region, SERVICE),
        &sts,
    );
    query.push(("X-Amz-Signature".into(), sig));
    canonical_query(&query)
}

#[cfg(test)]
mod tests {
    //! Vectors from the S3 SigV4 examples
    //! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>,
    //! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>) and the
    //! signing-key example (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>).
    use super::*;

    const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    /// 2013-05-24T00:00:00Z
    const NOW: u64 = 1_369_353_600;

    fn creds() -> Credentials {
        Credentials::new(KEY_ID, SECRET)
    }

    fn range() -> Vec<(String, String)> {
        vec![("Range".to_string(), "bytes=0-9".to_string())]
    }

    const GET_CANONICAL: &str = "GET
/test.txt

host:examplebucket.s3.amazonaws.com
range:bytes=0-9
x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-amz-date:20130524T000000Z

host;range;x-amz-content-sha256;x-amz-date
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    const GET_STRING_TO_SIGN: &str = "AWS4-HMAC-SHA256
20130524T000000Z
20130524/us-east-1/s3/aws4_request
7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";

    const GET_SIGNATURE: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn timestamps() {
        assert_eq!(amz_date(NOW), "20130524T000000Z");
        assert_eq!(Timestamp::from_unix(NOW).date, "20130524");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_702_743_657), "20231216T162057Z");
        assert_eq!(amz_date(u64::MAX), "99991231T235959Z");
    }

    #[test]
    fn step1_canonical_request() {
        let headers = vec![
            ("Range".to_string(), "  bytes=0-9 ".to_string()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
            ("X-Amz-Content-Sha256".to_string(), EMPTY_SHA256.to_string()),
        ];
        let (canonical, signed) = canonical_headers(HOST, &headers);
        assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
        let creq = canonical_request("GET", "/test.txt", "", &canonical, &signed, EMPTY_SHA256);
        assert_eq!(creq, GET_CANONICAL);
    }

    #[test]
    fn canonical_headers_collapse_and_merge() {
        let h = vec![
            ("X-Amz-Meta-A".to_string(), " a   b\tc ".to_string()),
            ("x-amz-meta-a".to_string(), "d".to_string()),
            ("Host".to_string(), "ignored".to_string()),
        ];
        let (c, s) = canonical_headers("h:9000", &h);
        assert_eq!(c, "host:h:9000\nx-amz-meta-a:a b c,d\n");
        assert_eq!(s, "host;x-amz-meta-a");
    }

    #[test]
    fn values_collapse_by_unicode_whitespace() {
        for (value, signed) in [
            ("a b", "a b"),
            ("a  b", "a b"),
            (" a\x0Bb ", "a b"),
            ("中 文", "中 文"),
            ("中\u{00A0}\u{3000}文", "中 文"),
            ("", ""),
        ] {
            assert_eq!(collapsed(value), signed, "{value:?}");
        }
        assert!(matches!(collapsed(" a b "), Cow::Borrowed("a b")));
    }

    #[test]
    fn step2_string_to_sign() {
        let sts = string_to_sign(
            "20130524T000000Z",
            &scope("20130524", "us-east-1"),
            GET_CANONICAL,
        );
        assert_eq!(sts, GET_STRING_TO_SIGN);
    }

    #[test]
    fn step3_signing_key() {
        // The IAM guide's example: secret with `+`, IAM service, 2012-02-15.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn step4_signature() {
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(signature(&key, GET_STRING_TO_SIGN), GET_SIGNATURE);
    }

    #[test]
    fn header_signed_get_vector() {
        let headers = range();
        let req = Request {
            method: "GET",
            authority: HOST,
            canonical_uri: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let signed = sign_headers(&creds(), "us-east-1", &req, NOW);
        let get = |n: &str| signed.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-date"), Some("20130524T000000Z"));
        assert_eq!(get("x-amz-content-sha256"), Some(EMPTY_SHA256));
        assert_eq!(get("Range"), Some("bytes=0-9"));
        assert_eq!(get("host"), None);
        assert_eq!(
            get("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        );
    }

    #[test]
    fn security_token_is_signed_as_a_header() {
        let req = Request {
            method: "GET",
            authority: HOST,
            canonical_uri: "/test.txt",
            query: &[],
            headers: &[],
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let c = creds().with_security_token("TOKEN");
        let signed = sign_headers(&c, "us-east-1", &req, NOW);
        assert!(signed.contains(&("x-amz-security-token".into(), "TOKEN".into())));
        let auth = &signed.last().unwrap().1;
        assert!(auth
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    }

    const PRESIGN_CANONICAL: &str = "GET
/test.txt
X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host
host:examplebucket.s3.amazonaws.com

host
UNSIGNED-PAYLOAD";

    #[test]
    fn presign_steps() {
        let q: Vec<(String, String)> = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            ),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"),
            ("X-Amz-SignedHeaders", "host"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let (c, s) = canonical_headers(HOST, &[]);
        let creq = canonical_request(
            "GET",
            "/test.txt",
            &canonical_query(&q),
            &c,
            &s,
            UNSIGNED_PAYLOAD,
        );
        assert_eq!(creq, PRESIGN_CANONICAL);
        let sts = string_to_sign("20130524T000000Z", &scope("20130524", "us-east-1"), &creq);
        assert_eq!(
            sts.lines().last(),
            Some("3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04")
        );
    }

    #[test]
    fn presigned_get_vector() {
        let req = Request {
            method: "GET",
            authority: HOST,
            canonical_uri: "/test.txt",
            query: &[],
            headers: &[],
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let query = presign(&creds(), "us-east-1", &req, 86_400, NOW);
        assert_eq!(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404\
             &X-Amz-SignedHeaders=host"
        );
    }

    #[test]
    fn presign_signs_the_token() {
        let req = Request {
            method: "GET",
            authority: HOST,
            canonical_uri: "/test.txt",
            query: &[],
            headers: &[],
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let plain = presign(&creds(), "us-east-1", &req, 60, NOW);
        let with = presign(
            &creds().with_security_token("T/+="),
            "us-east-1",
            &req,
            60,
            NOW,
        );
        assert!(with.contains("X-Amz-Security-Token=T%2F%2B%3D"));
        let sig = |q: &str| {
            q.split('&')
                .find(|p| p.starts_with("X-Amz-Signature="))
                .map(str::to_owned)
        };
        assert_ne!(sig(&plain), sig(&with));
    }
}
