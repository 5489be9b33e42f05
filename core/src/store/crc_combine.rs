//! The CRC of `a ‖ b` from CRC(a), CRC(b) and |b|: cheap enough to do for every piece of
//! data, so one pass over the bytes gives both an object's CRC (to verify the read) and
//! each part's (to state on the upload) although their boundaries differ.
//!
//! zlib's method (`crc32_combine`, since 1.2.12): multiply CRC(a) by x^(8·|b|) mod P,
//! that power assembled from a table of x^(2^k) mod P — about 64 shifts per set bit of
//! |b|. Written here because crc-fast's `checksum_combine` squares 64×64 GF(2) matrices
//! about 2·log2(|b|) times on every call (Adler's generic method), which for a 64 KiB
//! piece costs about as much as hashing it in wasm. The CRCs combined are the reflected
//! ones with all-ones init and xorout (CRC-64/NVME, CRC-64/XZ as OSS's ECMA, CRC-32,
//! CRC-32C), for which this formula holds as it is.

/// One reflected polynomial of `WIDTH` bits and its table of x^(2^k) mod P.
pub(crate) struct Combiner {
    poly: u64,
    /// x^0 in the reflected representation: the top bit.
    one: u64,
    x2n: [u64; 64],
}

impl Combiner {
    pub const fn new(width: u32, reflected_poly: u64) -> Combiner {
        let one = 1u64 << (width - 1);
        let mut x2n = [0u64; 64];
        x2n[0] = one >> 1; // x^1
        let mut k = 1;
        while k < 64 {
            x2n[k] = multmodp(x2n[k - 1], x2n[k - 1], reflected_poly, one);
            k += 1;
        }
        Combiner {
            poly: reflected_poly,
            one,
            x2n,
        }
    }

    pub const fn poly(&self) -> u64 {
        self.poly
    }

    pub const fn one(&self) -> u64 {
        self.one
    }

    /// The CRC of `a ‖ b`.
    pub fn combine(&self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        // (0 times anything is 0: an empty `a`, as the first of pieces added up, costs
        // no power of x.)
        if crc_a == 0 {
            return crc_b;
        }
        multmodp(self.x8n(len_b), crc_a, self.poly, self.one) ^ crc_b
    }

    /// A CRC without init and xorout, moved past `n` zero bytes.
    pub fn shift(&self, raw: u64, n: u64) -> u64 {
        multmodp(self.x8n(n), raw, self.poly, self.one)
    }

    /// x^(8·n) mod P.
    fn x8n(&self, mut n: u64) -> u64 {
        let mut p = self.one;
        let mut k = 3;
        while n != 0 {
            if n & 1 == 1 {
                p = multmodp(self.x2n[k & 63], p, self.poly, self.one);
            }
            n >>= 1;
            k += 1;
        }
        p
    }
}

/// a·b mod P, both reflected; `a` is never 0 here (a power of x).
pub(crate) const fn multmodp(a: u64, mut b: u64, poly: u64, one: u64) -> u64 {
    let mut m = one;
    let mut p = 0u64;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 == 1 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

pub(crate) const CRC64_NVME: Combiner = Combiner::new(64, 0x9A6C_9329_AC4B_C9B5);
pub(crate) const CRC64_XZ: Combiner = Combiner::new(64, 0xC96C_5795_D787_0F42);
pub(crate) const CRC32: Combiner = Combiner::new(32, 0xEDB8_8320);
pub(crate) const CRC32C: Combiner = Combiner::new(32, 0x82F6_3B78);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checksum::{crc, Algorithm};

    #[test]
    fn combined_crcs_are_the_crcs_of_the_concatenation() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (algorithm, combiner, generic) in [
            (
                Algorithm::Crc64Nvme,
                &CRC64_NVME,
                crc_fast::CrcAlgorithm::Crc64Nvme,
            ),
            (
                Algorithm::Crc64Ecma,
                &CRC64_XZ,
                crc_fast::CrcAlgorithm::Crc64Xz,
            ),
            (
                Algorithm::Crc32,
                &CRC32,
                crc_fast::CrcAlgorithm::Crc32IsoHdlc,
            ),
            (
                Algorithm::Crc32c,
                &CRC32C,
                crc_fast::CrcAlgorithm::Crc32Iscsi,
            ),
        ] {
            for split in [0, 1, 7, 4096, 65_536, 69_999, 70_000] {
                let (a, b) = data.split_at(split);
                let (ca, cb) = (crc(algorithm, a), crc(algorithm, b));
                let combined = combiner.combine(ca, cb, b.len() as u64);
                assert_eq!(combined, crc(algorithm, &data), "{algorithm:?} at {split}");
                // The crate's own (slow) combine agrees.
                assert_eq!(
                    combined,
                    crc_fast::checksum_combine(generic, ca, cb, b.len() as u64)
                );
            }
        }
    }
}
