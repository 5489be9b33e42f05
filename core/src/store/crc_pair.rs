//! A ZIP entry's CRC-32 and the store's CRC-64 of the same bytes in one pass.
//!
//! Wasm has no carry-less multiply, so in the component each CRC is a table lookup per
//! byte, and the two every stored byte needs (the archive's CRC-32, the part's and the
//! object's CRC-64) were two passes, about half the packer's CPU. Both are remainders of
//! one: the bytes modulo P32·P64, a polynomial of degree 96, reduced once more modulo P32
//! and modulo P64 at the end. So one slice-by-16 pass over 128-bit table entries (one SIMD
//! load and XOR per byte) gives both, and two interleaved lanes hide each other's load
//! latency: ~1.4 GiB/s in wasmtime against ~0.55 for the two passes (BENCHMARKS.md).
//! Natively crc32fast and crc-fast use carry-less multiply and are faster, so `checksum`
//! uses this only in wasm; it is tested natively, with the same code but for the XOR.
//!
//! The state is a reflected CRC of width 96 with init 0: S = M·x^96 mod Q. Then
//! M·x^32 mod P32 = (S mod P32)·x^-64 and M·x^64 mod P64 = (S mod P64)·x^-32 (P32 and P64
//! have a constant term, so x is invertible), and the init and xorout of the CRCs asked
//! for are added as for any CRC: init·x^(8n) and a final XOR.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use super::crc_combine::{multmodp, Combiner, CRC32, CRC64_NVME, CRC64_XZ};

/// CRC-32 (ISO-HDLC, as ZIP) paired with one CRC-64, both reflected, init and xorout all ones.
pub(crate) struct Pair {
    tables: [[u128; 256]; 16],
    /// What each nibble of a state contributes to the raw CRC-32 and CRC-64 it stands for
    /// ([`reduce_slowly`] is linear, so a state's is the XOR of its nibbles'): 24 lookups
    /// instead of ~160 steps of 128-bit arithmetic, which cost more than hashing a small
    /// object.
    reduce32: [[u32; 16]; 24],
    reduce64: [[u64; 16]; 24],
    combiner64: &'static Combiner,
}

const P32: u128 = (1 << 32) | 0x04C1_1DB7;

/// With S3's CRC-64/NVME.
pub(crate) static NVME: Pair = Pair::new(0xAD93_D235_94C9_3659, &CRC64_NVME);
/// With OSS's CRC-64/ECMA-182 (CRC-64/XZ).
pub(crate) static XZ: Pair = Pair::new(0x42F0_E1EB_A9EA_3693, &CRC64_XZ);

impl Pair {
    const fn new(p64_normal: u64, combiner64: &'static Combiner) -> Pair {
        let p64 = (1u128 << 64) | p64_normal as u128;
        let q = clmul(P32, p64);
        // Q's 96 low coefficients, reflected.
        let q_reflected = (q << 32).reverse_bits();
        let mut tables = [[0u128; 256]; 16];
        let mut b = 0;
        while b < 256 {
            let mut s = b as u128;
            let mut k = 0;
            while k < 8 {
                s = if s & 1 == 1 {
                    (s >> 1) ^ q_reflected
                } else {
                    s >> 1
                };
                k += 1;
            }
            tables[0][b] = s;
            b += 1;
        }
        let mut k = 1;
        while k < 16 {
            let mut b = 0;
            while b < 256 {
                let p = tables[k - 1][b];
                tables[k][b] = (p >> 8) ^ tables[0][(p & 0xff) as usize];
                b += 1;
            }
            k += 1;
        }
        let inv32 = inverse_power(&CRC32, P32, 32, 64);
        let inv64 = inverse_power(combiner64, p64, 64, 32);
        let mut reduce32 = [[0u32; 16]; 24];
        let mut reduce64 = [[0u64; 16]; 24];
        let mut k = 0;
        while k < 24 {
            let mut v = 0;
            while v < 16 {
                let (r32, r64) =
                    reduce_slowly((v as u128) << (4 * k), p64, inv32, inv64, combiner64);
                reduce32[k][v] = r32 as u32;
                reduce64[k][v] = r64;
                v += 1;
            }
            k += 1;
        }
        Pair {
            tables,
            reduce32,
            reduce64,
            combiner64,
        }
    }

    /// (CRC-32, CRC-64) of `bytes`.
    pub fn crcs(&self, bytes: &[u8]) -> (u32, u64) {
        // Two lanes of equal whole blocks; the second also takes the tail.
        let half = bytes.len() / 32 * 16;
        let (a, rest) = bytes.split_at(half);
        let (b, tail) = rest.split_at(half);
        let (sa, sb) = self.lanes(a, b);
        let sb = self.bytewise(sb, tail);
        let (a32, a64) = self.reduce(sa);
        let (b32, b64) = self.reduce(sb);
        let after_a = rest.len() as u64;
        let n = bytes.len() as u64;
        let raw32 = CRC32.shift(a32, after_a) ^ b32;
        let raw64 = self.combiner64.shift(a64, after_a) ^ b64;
        let crc32 = raw32 ^ CRC32.shift(0xFFFF_FFFF, n) ^ 0xFFFF_FFFF;
        let crc64 = raw64 ^ self.combiner64.shift(u64::MAX, n) ^ u64::MAX;
        (crc32 as u32, crc64)
    }

    /// Both lanes' states (init 0) after their blocks of 16 bytes.
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    fn lanes(&self, a: &[u8], b: &[u8]) -> (u128, u128) {
        let (mut sa, mut sb) = ((0u64, 0u64), (0u64, 0u64));
        for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
            sa = self.block(ca, sa);
            sb = self.block(cb, sb);
        }
        let join = |(lo, hi): (u64, u64)| lo as u128 | (hi as u128) << 64;
        (join(sa), join(sb))
    }

    /// Slice-by-16: the state XORed into the block, one table per byte position.
    #[inline(always)]
    fn block(&self, block: &[u8], (lo, hi): (u64, u64)) -> (u64, u64) {
        let lo = u64::from_le_bytes(block[..8].try_into().expect("16 bytes")) ^ lo;
        let hi = u64::from_le_bytes(block[8..16].try_into().expect("16 bytes")) ^ hi;
        // Byte i of the block (little-endian) looks up table 15 - i.
        let t = &self.tables;
        let eight = |word: u64, last: usize| {
            xor8(std::array::from_fn(|i| {
                &t[last - i][((word >> (8 * i)) & 0xff) as usize]
            }))
        };
        split(eight(lo, 15), eight(hi, 7))
    }

    fn bytewise(&self, mut s: u128, bytes: &[u8]) -> u128 {
        for &b in bytes {
            s = (s >> 8) ^ self.tables[0][((s ^ b as u128) & 0xff) as usize];
        }
        s
    }

    /// A 96-bit state to the raw (init 0) reflected CRC-32 and CRC-64 it stands for.
    fn reduce(&self, s: u128) -> (u64, u64) {
        let (mut r32, mut r64) = (0u32, 0u64);
        // In 64-bit halves: wasm has no 128-bit shift.
        for (k, half) in [(0, s as u64), (16, (s >> 64) as u64)] {
            for n in 0..16 {
                let v = ((half >> (4 * n)) & 15) as usize;
                if let (Some(t32), Some(t64)) = (self.reduce32.get(k + n), self.reduce64.get(k + n))
                {
                    r32 ^= t32[v];
                    r64 ^= t64[v];
                }
            }
        }
        (u64::from(r32), r64)
    }
}

/// [`Pair::reduce`] the long way: S mod P32 and S mod P64 in normal form, moved by x^-64
/// and x^-32.
const fn reduce_slowly(
    s: u128,
    p64: u128,
    inv32: u64,
    inv64: u64,
    combiner64: &Combiner,
) -> (u64, u64) {
    let normal = s.reverse_bits() >> 32;
    let r32 = (modulo(normal, P32, 32) as u32).reverse_bits() as u64;
    let r64 = (modulo(normal, p64, 64) as u64).reverse_bits();
    (
        multmodp(inv32, r32, CRC32.poly(), CRC32.one()),
        multmodp(inv64, r64, combiner64.poly(), combiner64.one()),
    )
}

/// XOR of eight table entries: with SIMD, one 128-bit load and XOR each.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn xor8(e: [&u128; 8]) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::{v128, v128_load, v128_xor};
    // SAFETY: each pointer is to a table entry of 16 bytes; wasm loads need no alignment.
    let l = |r: &u128| unsafe { v128_load(r as *const u128 as *const v128) };
    v128_xor(
        v128_xor(v128_xor(l(e[0]), l(e[1])), v128_xor(l(e[2]), l(e[3]))),
        v128_xor(v128_xor(l(e[4]), l(e[5])), v128_xor(l(e[6]), l(e[7]))),
    )
}

#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn split(x: core::arch::wasm32::v128, y: core::arch::wasm32::v128) -> (u64, u64) {
    use core::arch::wasm32::{u64x2_extract_lane, v128_xor};
    let r = v128_xor(x, y);
    (u64x2_extract_lane::<0>(r), u64x2_extract_lane::<1>(r))
}

#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn xor8(e: [&u128; 8]) -> u128 {
    e.iter().fold(0, |acc, v| acc ^ **v)
}

#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn split(x: u128, y: u128) -> (u64, u64) {
    let r = x ^ y;
    (r as u64, (r >> 64) as u64)
}

/// Carry-less product of two polynomials in normal form (degrees summing under 128).
const fn clmul(a: u128, b: u128) -> u128 {
    let mut r = 0;
    let mut i = 0;
    while i < 128 {
        if (b >> i) & 1 == 1 {
            r ^= a << i;
        }
        i += 1;
    }
    r
}

/// `a` mod `p` in normal form, `p` of degree `degree`.
const fn modulo(mut a: u128, p: u128, degree: u32) -> u128 {
    let mut i = 127;
    while i >= degree {
        if (a >> i) & 1 == 1 {
            a ^= p << (i - degree);
        }
        i -= 1;
    }
    a
}

/// x^-k mod `p` (normal form, degree `width`), reflected as `combiner` keeps it.
const fn inverse_power(combiner: &Combiner, p: u128, width: u32, k: u32) -> u64 {
    // x·((P - 1)/x) = P - 1 ≡ 1, so x^-1 is P without its constant term, divided by x.
    let x_inverse = ((p ^ 1) >> 1) as u64;
    let reflected = x_inverse.reverse_bits() >> (64 - width);
    let mut r = reflected;
    let mut i = 1;
    while i < k {
        r = multmodp(reflected, r, combiner.poly(), combiner.one());
        i += 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(generic: crc_fast::CrcAlgorithm, bytes: &[u8]) -> (u32, u64) {
        let mut d = crc_fast::Digest::new(generic);
        d.update(bytes);
        (crc32fast::hash(bytes), d.finalize())
    }

    #[test]
    fn one_pass_gives_the_crc32_and_the_crc64_of_every_length() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761)) >> 13) as u8)
            .collect();
        for (pair, generic) in [
            (&NVME, crc_fast::CrcAlgorithm::Crc64Nvme),
            (&XZ, crc_fast::CrcAlgorithm::Crc64Xz),
        ] {
            for len in (0..100).chain([255, 256, 4095, 4096, 65_536, 65_537, 70_000]) {
                let bytes = &data[..len];
                assert_eq!(pair.crcs(bytes), both(generic, bytes), "length {len}");
            }
            assert_eq!(pair.crcs(b"123456789").0, 0xCBF4_3926);
        }
    }
}
