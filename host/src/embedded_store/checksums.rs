//! S3's additional checksums as the embedded store checks them: the five algorithms, how a
//! request claims one, a body verified as it streams into s3s-fs, and the whole-object
//! checksum of a multipart upload (CRCs combined for `FULL_OBJECT`, checksum of the parts'
//! checksums for `COMPOSITE`).
//!
//! The errors are S3's, as AWS answers them (and LocalStack, parity-tested against AWS,
//! reproduces them): `400 BadDigest` "The CRC64NVME you specified did not match the
//! calculated checksum." for a body, `400 BadDigest` "The Content-MD5 you specified did not
//! match what we received." for Content-MD5, `400 InvalidDigest` for a malformed Content-MD5,
//! `400 InvalidRequest` for a malformed checksum value.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use crc_fast::CrcAlgorithm;
use s3s::crypto::{Checksum as _, Md5, Sha1, Sha256};
use s3s::dto::{Checksum, ChecksumType, StreamingBlob};
use s3s::{S3Error, TrailingHeaders};

/// The checksum algorithms S3 accepts in `x-amz-checksum-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

pub const FULL_OBJECT: &str = ChecksumType::FULL_OBJECT;
pub const COMPOSITE: &str = ChecksumType::COMPOSITE;

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// As S3 names it in `x-amz-checksum-algorithm` (case-insensitive, as S3 reads it).
    pub fn parse(name: &str) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Algorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// Bytes of the raw checksum.
    fn width(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// The type an upload gets when CreateMultipartUpload names the algorithm but no type:
    /// CRC-64/NVME only exists as a full-object checksum, the others default to composite.
    pub fn default_type(self) -> &'static str {
        if self == Algorithm::Crc64Nvme {
            FULL_OBJECT
        } else {
            COMPOSITE
        }
    }

    /// Whether S3 allows this algorithm with this checksum type: full-object checksums need
    /// a CRC (they are combined from the parts'), and CRC-64/NVME is full-object only.
    pub fn allows(self, checksum_type: &str) -> bool {
        match checksum_type {
            FULL_OBJECT => self.crc().is_some(),
            COMPOSITE => self != Algorithm::Crc64Nvme,
            _ => false,
        }
    }

    /// This algorithm's field of an s3s `Checksum`.
    pub fn field(self, c: &mut Checksum) -> &mut Option<String> {
        match self {
            Algorithm::Crc32 => &mut c.checksum_crc32,
            Algorithm::Crc32c => &mut c.checksum_crc32c,
            Algorithm::Crc64Nvme => &mut c.checksum_crc64nvme,
            Algorithm::Sha1 => &mut c.checksum_sha1,
            Algorithm::Sha256 => &mut c.checksum_sha256,
        }
    }

    /// The raw checksum of `data`.
    pub fn of(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// One algorithm's running hash.
pub enum Hasher {
    Crc(crc_fast::Digest, usize),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Hasher {
        match alg.crc() {
            Some(crc) => Hasher::Crc(crc_fast::Digest::new(crc), alg.width()),
            None if alg == Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            None => Hasher::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(d, _) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The raw checksum, big-endian for CRCs (as S3 base64-encodes them).
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Hasher::Sha1(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha256(h) => h.finalize().as_ref().to_vec(),
        }
    }
}

pub fn encode(raw: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(raw)
}

/// A claimed `x-amz-checksum-<alg>` value, raw; `400 InvalidRequest` if it is not base64 of
/// the algorithm's width.
pub fn decode(alg: Algorithm, value: &str) -> Result<Vec<u8>, S3Error> {
    match base64_simd::STANDARD.decode_to_vec(value) {
        Ok(raw) if raw.len() == alg.width() => Ok(raw),
        _ => Err(s3s::s3_error!(
            InvalidRequest,
            "Value for x-amz-checksum-{} header is invalid.",
            alg.name().to_lowercase()
        )),
    }
}

/// The one `x-amz-checksum-<alg>` a request carries, if any; two are `400 InvalidRequest`.
pub fn claimed(c: &Checksum) -> Result<Option<(Algorithm, Vec<u8>)>, S3Error> {
    let mut c = c.clone();
    let mut found = None;
    for alg in Algorithm::ALL {
        if let Some(value) = alg.field(&mut c).take() {
            if found.is_some() {
                return Err(s3s::s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            found = Some((alg, decode(alg, &value)?));
        }
    }
    Ok(found)
}

/// A decoded `Content-MD5`; `400 InvalidDigest` if it is not base64 of 16 bytes.
pub fn content_md5(value: &str) -> Result<Vec<u8>, S3Error> {
    match base64_simd::STANDARD.decode_to_vec(value) {
        Ok(raw) if raw.len() == 16 => Ok(raw),
        _ => Err(s3s::s3_error!(
            InvalidDigest,
            "The Content-MD5 you specified was invalid."
        )),
    }
}

/// S3's answer to a body (or a whole object) whose checksum is not the one claimed.
pub fn bad_digest(alg: Algorithm) -> S3Error {
    s3s::s3_error!(
        BadDigest,
        "The {} you specified did not match the calculated checksum.",
        alg.name()
    )
}

/// The full-object checksum of parts given as `(raw checksum, length)` in order: each CRC is
/// combined onto the running one (crc-fast's `checksum_combine`), so the parts are not read
/// again. `None` for SHA algorithms, which cannot be combined.
pub fn combine(alg: Algorithm, parts: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let crc = alg.crc()?;
    let as_u64 = |raw: &[u8]| raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut iter = parts.iter();
    let first = match iter.next() {
        Some((raw, _)) => as_u64(raw),
        None => as_u64(&Algorithm::of(alg, b"")),
    };
    let whole = iter.fold(first, |acc, (raw, len)| {
        crc_fast::checksum_combine(crc, acc, as_u64(raw), *len)
    });
    Some(whole.to_be_bytes()[8 - alg.width()..].to_vec())
}

/// A composite checksum: the checksum of the parts' raw checksums, then `-<part count>`.
pub fn composite(alg: Algorithm, parts: &[Vec<u8>]) -> String {
    format!("{}-{}", encode(&alg.of(&parts.concat())), parts.len())
}

/// What a request body must hash to: `alg` is always computed (the part's or object's
/// checksum is kept); `claimed` (from a header) or, failing that, the trailer named
/// `x-amz-checksum-<alg>` is compared; `md5` (Content-MD5) likewise.
pub struct BodyCheck {
    pub alg: Algorithm,
    pub claimed: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub trailers: Option<TrailingHeaders>,
}

/// A body that passed: its checksum under the check's algorithm, and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub checksum: Vec<u8>,
    pub len: u64,
}

/// How a verified body ended: set once the body has been read to its end.
pub type Verdict = Arc<Mutex<Option<Result<Checked, S3Error>>>>;

/// Wraps `body` so it is hashed as s3s-fs reads it; at its end the checksums are compared
/// and a mismatch ends the stream with an error *before* s3s-fs moves the file into place,
/// so nothing is stored (s3s-fs answers that error as InternalError; the caller answers
/// the verdict instead). Streaming, not buffering: a part costs no memory.
pub fn verify_body(body: StreamingBlob, check: BodyCheck) -> (StreamingBlob, Verdict) {
    let verdict = Verdict::default();
    let stream = Verifying {
        inner: body,
        hash: Some(Hasher::new(check.alg)),
        md5: check.md5.as_ref().map(|_| Md5::new()),
        len: 0,
        check,
        verdict: verdict.clone(),
    };
    (StreamingBlob::wrap(stream), verdict)
}

struct Verifying {
    inner: StreamingBlob,
    hash: Option<Hasher>,
    md5: Option<Md5>,
    len: u64,
    check: BodyCheck,
    verdict: Verdict,
}

impl Verifying {
    fn judge(&mut self) -> Result<Checked, S3Error> {
        let checksum = self.hash.take().expect("judged once").finish();
        if let (Some(want), Some(md5)) = (&self.check.md5, self.md5.take()) {
            if md5.finalize().as_ref() != want.as_slice() {
                return Err(s3s::s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        let alg = self.check.alg;
        let claimed = match &self.check.claimed {
            Some(c) => Some(c.clone()),
            None => self.trailer(alg).transpose()?,
        };
        if claimed.is_some_and(|c| c != checksum) {
            return Err(bad_digest(alg));
        }
        Ok(Checked {
            checksum,
            len: self.len,
        })
    }

    /// `x-amz-checksum-<alg>` from an aws-chunked body's trailer, once the body is read.
    fn trailer(&self, alg: Algorithm) -> Option<Result<Vec<u8>, S3Error>> {
        let name = format!("x-amz-checksum-{}", alg.name().to_lowercase());
        let trailers = self.check.trailers.as_ref()?;
        let value = trailers.read(|h| {
            h.get(&name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })??;
        Some(decode(alg, &value))
    }
}

impl futures_util::Stream for Verifying {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                if let Some(h) = &mut self.hash {
                    h.update(&bytes);
                }
                if let Some(m) = &mut self.md5 {
                    m.update(&bytes);
                }
                self.len += bytes.len() as u64;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) if self.hash.is_none() => Poll::Ready(None),
            Poll::Ready(None) => {
                let verdict = self.judge();
                let failed = verdict.is_err();
                *self.verdict.lock().unwrap() = Some(verdict);
                if failed {
                    Poll::Ready(Some(Err(std::io::Error::other("checksum mismatch"))))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn hex(raw: &[u8]) -> String {
        raw.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_vectors() {
        let data = b"123456789";
        assert_eq!(hex(&Algorithm::Crc64Nvme.of(data)), "ae8b14860a799888");
        assert_eq!(hex(&Algorithm::Crc32.of(data)), "cbf43926");
        assert_eq!(hex(&Algorithm::Crc32c.of(data)), "e3069283");
        assert_eq!(
            hex(&Algorithm::Sha256.of(data)),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        assert_eq!(
            hex(&Algorithm::Sha1.of(data)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        // The header value: base64 of the 8 big-endian bytes.
        assert_eq!(encode(&Algorithm::Crc64Nvme.of(data)), "rosUhgp5mIg=");
    }

    #[test]
    fn combined_crcs_are_the_whole_objects() {
        let whole: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let cuts = [0, 1, 40_000, 99_999, 100_000];
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let parts: Vec<(Vec<u8>, u64)> = cuts
                .windows(2)
                .map(|w| (alg.of(&whole[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            assert_eq!(combine(alg, &parts), Some(alg.of(&whole)), "{alg:?}");
        }
        assert_eq!(combine(Algorithm::Sha256, &[]), None);
    }

    #[test]
    fn composite_is_the_checksum_of_checksums() {
        let parts = vec![Algorithm::Sha256.of(b"a"), Algorithm::Sha256.of(b"b")];
        let want = encode(&Algorithm::Sha256.of(&parts.concat()));
        assert_eq!(composite(Algorithm::Sha256, &parts), format!("{want}-2"));
    }

    #[test]
    fn claimed_values_are_checked_for_shape() {
        let mut c = Checksum::default();
        assert!(claimed(&c).unwrap().is_none());
        c.checksum_crc64nvme = Some("rosUhgp5mIg=".into());
        let (alg, raw) = claimed(&c).unwrap().unwrap();
        assert_eq!(
            (alg, hex(&raw)),
            (Algorithm::Crc64Nvme, "ae8b14860a799888".into())
        );
        c.checksum_crc32 = Some("yFQ5Jg==".into());
        assert_eq!(claimed(&c).unwrap_err().code().as_str(), "InvalidRequest");
        let short = Checksum {
            checksum_crc64nvme: Some("yFQ5Jg==".into()),
            ..Default::default()
        };
        assert_eq!(
            claimed(&short).unwrap_err().code().as_str(),
            "InvalidRequest"
        );
        assert_eq!(
            content_md5("nope").unwrap_err().code().as_str(),
            "InvalidDigest"
        );
    }

    fn run(body: &'static [u8], check: BodyCheck) -> (Vec<u8>, bool, Result<Checked, S3Error>) {
        let blob = StreamingBlob::wrap(futures_util::stream::iter(
            body.chunks(4)
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        ));
        let (mut blob, verdict) = verify_body(blob, check);
        let (mut got, mut failed) = (Vec::new(), false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            while let Some(chunk) = blob.next().await {
                match chunk {
                    Ok(b) => got.extend_from_slice(&b),
                    Err(_) => failed = true,
                }
            }
        });
        let verdict = verdict.lock().unwrap().take().expect("judged at the end");
        (got, failed, verdict)
    }

    fn check(claimed: Option<Vec<u8>>, md5: Option<Vec<u8>>) -> BodyCheck {
        BodyCheck {
            alg: Algorithm::Crc64Nvme,
            claimed,
            md5,
            trailers: None,
        }
    }

    #[test]
    fn a_right_body_passes_with_its_checksum() {
        let right = Algorithm::Crc64Nvme.of(b"123456789");
        let (got, failed, verdict) = run(b"123456789", check(Some(right.clone()), None));
        assert_eq!((got.as_slice(), failed), (&b"123456789"[..], false));
        assert_eq!(
            verdict.unwrap(),
            Checked {
                checksum: right,
                len: 9
            }
        );
        // Nothing claimed: computed all the same.
        let (_, failed, verdict) = run(b"123456789", check(None, None));
        assert!(!failed);
        assert_eq!(hex(&verdict.unwrap().checksum), "ae8b14860a799888");
    }

    #[test]
    fn a_wrong_checksum_is_bad_digest_and_fails_the_stream() {
        let wrong = Algorithm::Crc64Nvme.of(b"123456780");
        let (_, failed, verdict) = run(b"123456789", check(Some(wrong), None));
        assert!(failed, "the stream must fail so s3s-fs stores nothing");
        let err = verdict.unwrap_err();
        assert_eq!(err.code().as_str(), "BadDigest");
        assert_eq!(err.status_code().map(|s| s.as_u16()), Some(400));
        assert!(err.message().unwrap().contains("CRC64NVME"));
    }

    #[test]
    fn a_wrong_content_md5_is_bad_digest() {
        let wrong = Md5::checksum(b"something else").as_ref().to_vec();
        let (_, failed, verdict) = run(b"123456789", check(None, Some(wrong)));
        assert!(failed);
        assert!(verdict
            .unwrap_err()
            .message()
            .unwrap()
            .contains("Content-MD5"));
        let right = Md5::checksum(b"123456789").as_ref().to_vec();
        assert!(run(b"123456789", check(None, Some(right))).2.is_ok());
    }
}
