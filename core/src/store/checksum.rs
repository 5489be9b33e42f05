//! The checksums stores keep of objects, in the forms their headers carry them.
//!
//! S3 keeps a full-object CRC-64/NVME of every object written since 2025 (or the CRC-32,
//! CRC-32C, SHA-1 or SHA-256 a client asked for) and shows it, base64 of the big-endian
//! bytes, in `x-amz-checksum-<algorithm>` when asked with `x-amz-checksum-mode: ENABLED`,
//! and only on answers holding the whole object. A multipart object's may be composite
//! (`…-N`): a checksum of the parts' checksums, which checks nothing we can recompute.
//! OSS keeps a CRC-64 of every object (the ECMA-182 polynomial with the CRC-64/XZ
//! parameters) and shows it in decimal in `x-oss-hash-crc64ecma`, on ranged answers too.
//!
//! CRCs combine: the CRC of `a ‖ b` follows from CRC(a), CRC(b) and |b|, so a multipart
//! archive's whole checksum comes from its parts' without a second pass over the bytes.

use base64::Engine as _;
use crc_fast::CrcAlgorithm;
use sha1::Digest as _;

use super::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// S3's default (CRC-64/NVME).
    Crc64Nvme,
    /// OSS's `x-oss-hash-crc64ecma` (CRC-64/XZ parameters).
    Crc64Ecma,
    Crc32c,
    Crc32,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// S3's checksums, cheapest to verify first.
    const S3: [Algorithm; 5] = [
        Algorithm::Crc64Nvme,
        Algorithm::Crc32c,
        Algorithm::Crc32,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// How the summary and logs name it (S3's header suffix; OSS's header's).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc64Nvme => "crc64nvme",
            Algorithm::Crc64Ecma => "crc64ecma",
            Algorithm::Crc32c => "crc32c",
            Algorithm::Crc32 => "crc32",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// The header a store shows it in.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Crc64Ecma => "x-oss-hash-crc64ecma",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// What a multipart archive on `provider` is checked with: one CRC-64, which
    /// combines across parts and is what each store computes itself.
    pub fn for_archive(provider: Provider) -> Algorithm {
        match provider {
            Provider::Oss => Algorithm::Crc64Ecma,
            _ => Algorithm::Crc64Nvme,
        }
    }

    /// Whether it is a CRC (they combine; the others do not).
    pub fn is_crc(self) -> bool {
        self.crc().is_some()
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Algorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Algorithm::Crc64Ecma => Some(CrcAlgorithm::Crc64Xz),
            Algorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    fn width(self) -> usize {
        match self {
            Algorithm::Crc64Nvme | Algorithm::Crc64Ecma => 8,
            Algorithm::Crc32c | Algorithm::Crc32 => 4,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

/// A checksum: the algorithm and its value's big-endian bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub value: Vec<u8>,
}

impl Checksum {
    /// A CRC's value as a checksum.
    pub fn crc(algorithm: Algorithm, crc: u64) -> Checksum {
        let bytes = crc.to_be_bytes();
        Checksum {
            algorithm,
            value: bytes[8 - algorithm.width()..].to_vec(),
        }
    }

    /// The CRC, for CRC algorithms.
    pub fn as_crc(&self) -> Option<u64> {
        self.algorithm.crc()?;
        Some(
            self.value
                .iter()
                .fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
        )
    }

    /// As the store's header writes it: decimal for OSS, base64 for S3.
    pub fn header_value(&self) -> String {
        match self.algorithm {
            Algorithm::Crc64Ecma => self.as_crc().unwrap_or_default().to_string(),
            _ => base64::engine::general_purpose::STANDARD.encode(&self.value),
        }
    }

    /// Reads a header's value; `None` if it is not one of `algorithm`'s.
    pub fn parse(algorithm: Algorithm, value: &str) -> Option<Checksum> {
        let value = value.trim();
        let bytes = match algorithm {
            Algorithm::Crc64Ecma => value.parse::<u64>().ok()?.to_be_bytes().to_vec(),
            _ => base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()?,
        };
        (bytes.len() == algorithm.width()).then_some(Checksum {
            algorithm,
            value: bytes,
        })
    }
}

/// What an answer says an object's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// A checksum of the whole object's bytes.
    Full(Checksum),
    /// Only a checksum of parts' checksums (S3 `…-N`): nothing to recompute.
    Composite,
    /// No checksum (objects written before stores kept one, or a store that keeps none).
    Nothing,
}

impl Claimed {
    /// Reads an object answer's headers, looked up by case-insensitive name.
    pub fn from_headers<'h>(
        provider: Provider,
        header: impl Fn(&str) -> Option<&'h str>,
    ) -> Claimed {
        if provider == Provider::Oss {
            let a = Algorithm::Crc64Ecma;
            return match header(a.header()).and_then(|v| Checksum::parse(a, v)) {
                Some(c) => Claimed::Full(c),
                None => Claimed::Nothing,
            };
        }
        let composite = header("x-amz-checksum-type")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("COMPOSITE"));
        let mut seen = false;
        for a in Algorithm::S3 {
            let Some(v) = header(a.header()) else {
                continue;
            };
            seen = true;
            if composite || v.contains('-') {
                continue;
            }
            if let Some(c) = Checksum::parse(a, v) {
                return Claimed::Full(c);
            }
        }
        if seen {
            Claimed::Composite
        } else {
            Claimed::Nothing
        }
    }
}

/// Computes a checksum over bytes given in order.
pub struct Hasher {
    algorithm: Algorithm,
    state: State,
}

enum State {
    Crc(crc_fast::Digest),
    Crc32(crc32fast::Hasher),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.algorithm.name())
    }
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        let state = match algorithm {
            // crc32fast is the fastest CRC-32 we have in wasm (and SIMD natively).
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            crc => State::Crc(crc_fast::Digest::new(crc.crc().expect("a CRC"))),
        };
        Hasher { algorithm, state }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Crc(d) => d.update(bytes),
            State::Crc32(h) => h.update(bytes),
            State::Sha1(h) => h.update(bytes),
            State::Sha256(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Checksum {
        let a = self.algorithm;
        match self.state {
            State::Crc(d) => Checksum::crc(a, d.finalize()),
            State::Crc32(h) => Checksum::crc(a, u64::from(h.finalize())),
            State::Sha1(h) => Checksum {
                algorithm: a,
                value: h.finalize().to_vec(),
            },
            State::Sha256(h) => Checksum {
                algorithm: a,
                value: h.finalize().to_vec(),
            },
        }
    }
}

/// The CRC of `bytes` (`algorithm` must be a CRC).
pub fn crc(algorithm: Algorithm, bytes: &[u8]) -> u64 {
    let mut h = Hasher::new(algorithm);
    h.update(bytes);
    h.finish().as_crc().expect("a CRC")
}

/// The CRC-32 a ZIP entry needs and the CRC in `algorithm` of the same bytes, in one pass
/// where that is cheaper (`crc_pair.rs`: a CRC-64 in wasm).
pub fn crc_and_crc32(algorithm: Algorithm, bytes: &[u8]) -> (u64, u32) {
    #[cfg(target_arch = "wasm32")]
    {
        use super::crc_pair::{NVME, XZ};
        let pair = match algorithm {
            Algorithm::Crc64Nvme => Some(&NVME),
            Algorithm::Crc64Ecma => Some(&XZ),
            _ => None,
        };
        if let Some(pair) = pair {
            let (crc32, crc) = pair.crcs(bytes);
            return (crc, crc32);
        }
    }
    (crc(algorithm, bytes), crc32fast::hash(bytes))
}

/// The CRC of `a ‖ b` from `crc(a)`, `crc(b)` and `b`'s length (`algorithm` must be a CRC).
pub fn combine(algorithm: Algorithm, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    combiner(algorithm).combine(crc_a, crc_b, len_b)
}

/// The CRC of a message whose bytes were zeros where `new` now is, followed by `after`
/// more bytes, from its CRC before: CRCs are affine, so the change is the CRC (without
/// init and xorout) of `new` moved past `after` zero bytes. For patching a part's CRC when
/// a header in it is filled in, without hashing the part again.
pub fn patch_zeros(algorithm: Algorithm, crc_before: u64, new: &[u8], after: u64) -> u64 {
    let raw = crc(algorithm, new) ^ crc(algorithm, &vec![0; new.len()]);
    crc_before ^ combiner(algorithm).shift(raw, after)
}

fn combiner(algorithm: Algorithm) -> &'static super::crc_combine::Combiner {
    use super::crc_combine::{CRC32, CRC32C, CRC64_NVME, CRC64_XZ};
    match algorithm {
        Algorithm::Crc64Nvme => &CRC64_NVME,
        Algorithm::Crc64Ecma => &CRC64_XZ,
        Algorithm::Crc32 => &CRC32,
        Algorithm::Crc32c => &CRC32C,
        Algorithm::Sha1 | Algorithm::Sha256 => panic!("{} does not combine", algorithm.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &[u8] = b"123456789";

    #[test]
    fn patching_zeros_moves_the_crc_as_hashing_again_would() {
        for algorithm in [Algorithm::Crc64Nvme, Algorithm::Crc64Ecma, Algorithm::Crc32] {
            let mut msg = vec![7u8; 1000];
            msg[100..112].fill(0);
            let before = crc(algorithm, &msg);
            let new = b"\x01\x02\x03\x04abcdefgh";
            msg[100..112].copy_from_slice(new);
            assert_eq!(
                patch_zeros(algorithm, before, new, 888),
                crc(algorithm, &msg)
            );
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(crc(Algorithm::Crc64Nvme, CHECK), 0xae8b14860a799888);
        assert_eq!(crc(Algorithm::Crc64Ecma, CHECK), 0x995dc9bbdf1939fa);
        assert_eq!(crc(Algorithm::Crc32, CHECK), 0xcbf43926);
        assert_eq!(crc(Algorithm::Crc32c, CHECK), 0xe3069283);
        let mut sha = Hasher::new(Algorithm::Sha256);
        sha.update(CHECK);
        assert_eq!(
            hex::encode(sha.finish().value),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
    }

    #[test]
    fn crcs_combine_across_a_split() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for a in [
            Algorithm::Crc64Nvme,
            Algorithm::Crc64Ecma,
            Algorithm::Crc32c,
        ] {
            let whole = crc(a, &data);
            for cut in [0, 1, 4096, 99_999, 100_000] {
                let (x, y) = data.split_at(cut);
                assert_eq!(combine(a, crc(a, x), crc(a, y), y.len() as u64), whole);
            }
        }
    }

    #[test]
    fn header_forms_round_trip() {
        let nvme = Checksum::crc(Algorithm::Crc64Nvme, 0xae8b14860a799888);
        assert_eq!(nvme.header_value(), "rosUhgp5mIg=");
        assert_eq!(
            Checksum::parse(Algorithm::Crc64Nvme, "rosUhgp5mIg="),
            Some(nvme)
        );
        let oss = Checksum::crc(Algorithm::Crc64Ecma, 0x995dc9bbdf1939fa);
        assert_eq!(oss.header_value(), "11051210869376104954");
        assert_eq!(
            Checksum::parse(Algorithm::Crc64Ecma, "11051210869376104954"),
            Some(oss)
        );
        assert_eq!(
            Checksum::parse(Algorithm::Crc32, "rosUhgp5mIg="),
            None,
            "wrong width"
        );
    }

    #[test]
    fn claims_read_from_headers() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
        };
        let s3 = |pairs| Claimed::from_headers(Provider::S3, h(pairs));
        assert_eq!(s3(&[]), Claimed::Nothing);
        assert_eq!(
            s3(&[
                ("x-amz-checksum-crc32", "y/Q5Jg=="),
                ("x-amz-checksum-type", "FULL_OBJECT")
            ]),
            Claimed::Full(Checksum::crc(Algorithm::Crc32, 0xcbf43926))
        );
        assert_eq!(
            s3(&[("x-amz-checksum-crc32", "y/Q5Jg==-3")]),
            Claimed::Composite
        );
        assert_eq!(
            s3(&[
                ("x-amz-checksum-sha256", "abc="),
                ("x-amz-checksum-type", "COMPOSITE")
            ]),
            Claimed::Composite
        );
        let oss = Claimed::from_headers(
            Provider::Oss,
            h(&[("x-oss-hash-crc64ecma", "11051210869376104954")]),
        );
        assert_eq!(
            oss,
            Claimed::Full(Checksum::crc(Algorithm::Crc64Ecma, 0x995dc9bbdf1939fa))
        );
    }
}
