//! The callback: when a pack that named one ends, zip-oss `POST`s its outcome there as JSON,
//! signed so the receiver knows it came from this service and was not replayed later.
//!
//! Signature (the scheme webhook senders commonly use, e.g. Stripe's and Slack's):
//! ```text
//! X-Zip-Oss-Timestamp: <unix seconds when this attempt was signed>
//! X-Zip-Oss-Signature: sha256=<lower-case hex of HMAC-SHA256(key, "<timestamp>.<body>")>
//! ```
//! over the exact body bytes. A receiver recomputes it with the shared key (`callback_key`),
//! compares in constant time, and refuses timestamps further than a few minutes from its
//! clock ([`verify`]; the README has the same in Python). Each attempt is signed anew.
//!
//! Retries ([`Retry`]): on no answer, a `5xx`, `408` or `429`, up to 5 attempts, waiting
//! 1, 2, 4 and 8 s between them (15 s in all); any other answer is final. Redirects are not
//! followed (the allow-list was checked against this URL only).

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::status::{ErrorDoc, State};
use crate::pack::{PackError, Summary};

pub const TIMESTAMP_HEADER: &str = "x-zip-oss-timestamp";
pub const SIGNATURE_HEADER: &str = "x-zip-oss-signature";

/// The shortest key accepted: a guessable key signs nothing.
pub const MIN_KEY_LEN: usize = 16;

/// A key that cannot be used. Never shows the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackKeyError {
    #[error("the callback key is shorter than 16 characters")]
    TooShort,
}

/// The key callbacks are signed with. `Debug` does not show it.
#[derive(Clone)]
pub struct CallbackKey(Vec<u8>);

impl std::fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackKey(<redacted>)")
    }
}

impl CallbackKey {
    /// The key's bytes are the configured string's UTF-8 bytes, as written.
    pub fn new(key: &str) -> Result<CallbackKey, CallbackKeyError> {
        if key.len() < MIN_KEY_LEN {
            return Err(CallbackKeyError::TooShort);
        }
        Ok(CallbackKey(key.as_bytes().to_vec()))
    }

    fn mac(&self, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The value of `X-Zip-Oss-Signature` for `body` sent at `timestamp`.
pub fn sign(key: &CallbackKey, timestamp: u64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(key.mac(timestamp, body).finalize().into_bytes())
    )
}

/// Why a callback was not accepted by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is more than the tolerance away from now")]
    Stale,
    #[error("the signature is not `sha256=<hex>`")]
    BadSignature,
    #[error("the signature does not match")]
    Mismatch,
}

/// What a receiver does: checks the headers' timestamp is within `tolerance_secs` of
/// `now_unix` and the signature is the body's.
pub fn verify(
    key: &CallbackKey,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: u64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if ts.abs_diff(now_unix) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::BadSignature)?;
    key.mac(ts, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// The JSON a callback carries: `summary` when `state` is `done`, `error` when `failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackBody {
    pub request_id: String,
    pub state: State,
    /// The archive's key.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
    /// The status object's presigned link, for an asynchronous pack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

impl CallbackBody {
    pub fn new(
        request_id: &str,
        key: &str,
        outcome: &Result<Summary, PackError>,
        status_url: Option<&str>,
    ) -> CallbackBody {
        let (state, summary, error) = match outcome {
            Ok(s) => (State::Done, Some(s.clone()), None),
            Err(e) => (State::Failed, None, Some(e.into())),
        };
        CallbackBody {
            request_id: request_id.to_string(),
            state,
            key: key.to_string(),
            summary,
            error,
            status_url: status_url.map(str::to_string),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// When to try a callback again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub first_delay_ms: u64,
}

impl Default for Retry {
    /// 5 attempts, 1 + 2 + 4 + 8 s apart.
    fn default() -> Self {
        Retry {
            attempts: 5,
            first_delay_ms: 1000,
        }
    }
}

impl Retry {
    /// Whether an attempt's outcome (`None`: no answer) calls for another.
    pub fn retryable(status: Option<u16>) -> bool {
        match status {
            None => true,
            Some(s) => s >= 500 || s == 408 || s == 429,
        }
    }

    /// Whether an answer means delivered.
    pub fn delivered(status: u16) -> bool {
        (200..300).contains(&status)
    }

    /// The wait after failed attempt `attempt` (1-based), or `None` when it was the last.
    pub fn delay_after(&self, attempt: u32) -> Option<u64> {
        (attempt < self.attempts).then(|| {
            self.first_delay_ms
                .saturating_mul(1u64 << (attempt - 1).min(20))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CallbackKey {
        CallbackKey::new("0123456789abcdef-callback").unwrap()
    }

    #[test]
    fn keys_are_long_and_never_shown() {
        assert_eq!(
            CallbackKey::new("short").unwrap_err(),
            CallbackKeyError::TooShort
        );
        let shown = format!("{:?}", key());
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python3 -c 'import hmac,hashlib;
        //   print(hmac.new(b"0123456789abcdef-callback", b"1767225600.{\"a\":1}", hashlib.sha256).hexdigest())'
        let sig = sign(&key(), 1_767_225_600, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=dfcc80b9e4d7ec2a24e717287eda0940a392a1bc635035fab16d17e0a8cb211d"
        );
        // The README's worked example.
        let body = br#"{"request_id":"r1","state":"done","key":"output/a.zip"}"#;
        assert_eq!(
            sign(&key(), 1_767_225_600, body),
            "sha256=2b95421d040ea7b1f32c098f00fcaa6751019b0b2f380b53b2f727d43d389b53"
        );
    }

    #[test]
    fn receivers_verify_signature_and_age() {
        let body = br#"{"request_id":"r","state":"done"}"#;
        let sig = sign(&key(), 1000, body);
        assert_eq!(verify(&key(), "1000", &sig, body, 1100, 300), Ok(()));
        assert_eq!(
            verify(&key(), "1000", &sig, body, 1301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&key(), "1001", &sig, body, 1001, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key(), "1000", &sig, b"{}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        let other = CallbackKey::new("another-key-of-16+").unwrap();
        assert_eq!(
            verify(&other, "1000", &sig, body, 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key(), "x", &sig, body, 1000, 300),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(&key(), "1000", "md5=00", body, 1000, 300),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn bodies_carry_the_summary_or_the_error() {
        let failed = CallbackBody::new("r1", "output/a.zip", &Err(PackError::NoObjects), None);
        let json: serde_json::Value = serde_json::from_str(&failed.to_json()).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["error"]["code"], "NoObjects");
        assert!(json.get("summary").is_none() && json.get("status_url").is_none());
    }

    #[test]
    fn retries_back_off_and_stop() {
        let r = Retry::default();
        let delays: Vec<_> = (1..=5).map(|a| r.delay_after(a)).collect();
        assert_eq!(
            delays,
            [Some(1000), Some(2000), Some(4000), Some(8000), None]
        );
        for (status, again) in [
            (None, true),
            (Some(500), true),
            (Some(503), true),
            (Some(429), true),
            (Some(408), true),
            (Some(400), false),
            (Some(401), false),
            (Some(404), false),
            (Some(302), false),
        ] {
            assert_eq!(Retry::retryable(status), again, "{status:?}");
        }
        assert!(Retry::delivered(204) && !Retry::delivered(302));
    }
}
