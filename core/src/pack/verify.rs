//! Every object's bytes checked against the checksum the store keeps of it.
//!
//! Small objects (read whole, in one answer) are checked once all their bytes are here and
//! before the encoder sees any, so a mismatch can be read once more. Larger ones are hashed
//! as the encoder takes their bytes, in order, and checked when the last is taken: earlier
//! bytes may already be in uploaded parts, so there a mismatch fails the pack (the upload is
//! aborted and no archive appears) and the caller's retry reads it again.
//!
//! When an object's checksum is a CRC-64 (S3's default CRC-64/NVME, OSS's CRC-64/ECMA),
//! each piece is hashed once, with its CRC-32 in the same pass, and both are handed on:
//! the encoder combines the entry's CRC-32 from the pieces', and the parts' CRCs, when
//! the object's algorithm is the archive's, are combined from the same pieces'
//! (`part_splitter.rs`): no byte is hashed twice. An object S3 keeps a CRC-32 of is
//! checked with the entry's CRC-32 from the same one pass, which gives the parts' CRC-64.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::checksum::{self, Algorithm, Checksum, Claimed, Hasher};
use crate::store::host_hashes::Hashed;

/// A piece's CRCs that hashing it for its check gave: in the archive's algorithm (for
/// the parts) and CRC-32 (for the entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PieceCrcs {
    pub crc: Option<u64>,
    pub crc32: Option<u32>,
}

impl PieceCrcs {
    /// Fills in what the host hashed: the CRC-32, and the CRC when it is the parts'.
    pub fn or_hashed(self, hashed: Option<Hashed>, shared: Option<Algorithm>) -> PieceCrcs {
        let Some(h) = hashed else { return self };
        PieceCrcs {
            crc: self.crc.or((shared == Some(h.algorithm)).then_some(h.crc)),
            crc32: self.crc32.or(Some(h.crc32)),
        }
    }
}

/// What checking one object's bytes found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Match,
    Mismatch(Algorithm),
    /// The store keeps no checksum we can recompute (none, or a composite one).
    Unverifiable,
}

#[derive(Debug, Default)]
pub(crate) struct Verify {
    /// Per entry, what the store says its bytes are (the first word on it wins).
    claims: BTreeMap<usize, Claimed>,
    hashers: BTreeMap<usize, Hasher>,
    /// Per entry, the CRC of its bytes so far, for claims in the shared algorithm.
    combined: BTreeMap<usize, u64>,
    /// Entries read once more after a mismatch.
    reread: BTreeSet<usize>,
    pub verified: u64,
    pub unverified: u64,
    /// Entries whose bytes matched their checksum, when [`Verify::keep_matched`].
    pub matched: BTreeSet<usize>,
    /// Whether to keep `matched` (the records need it; otherwise it would cost a set entry
    /// per object for the whole pack).
    pub keep_matched: bool,
}

impl Verify {
    /// Records what an answer says about entry `entry`'s bytes.
    pub fn claim(&mut self, entry: usize, claimed: Claimed) {
        self.claims.entry(entry).or_insert(claimed);
    }

    /// What the store said entry `entry`'s bytes are.
    pub fn claimed(&self, entry: usize) -> Option<&Claimed> {
        self.claims.get(&entry)
    }

    /// Entry `entry` is in the archive: what the store said of it is needed no more.
    pub fn forget(&mut self, entry: usize) {
        self.claims.remove(&entry);
    }

    /// Whether the store has said what entry `entry`'s bytes are.
    pub fn known(&self, entry: usize) -> bool {
        self.claims.contains_key(&entry)
    }

    /// Checks a whole object at once. Also returns each chunk's CRCs, as [`Verify::hash`].
    pub fn check_whole<'a>(
        &mut self,
        entry: usize,
        chunks: impl Iterator<Item = (&'a [u8], Option<Hashed>)>,
        shared: Option<Algorithm>,
    ) -> (Verdict, Vec<PieceCrcs>) {
        let Some(Claimed::Full(c)) = self.claims.get(&entry) else {
            return (self.count(entry, Verdict::Unverifiable), Vec::new());
        };
        let c = c.clone();
        let (got, crcs) = if by_pieces(c.algorithm) {
            let mut whole = 0;
            let crcs: Vec<PieceCrcs> = chunks
                .map(|(b, hashed)| {
                    let (crc, piece) = piece_crcs(c.algorithm, shared, b, hashed);
                    whole = checksum::combine(c.algorithm, whole, crc, b.len() as u64);
                    piece
                })
                .collect();
            (Checksum::crc(c.algorithm, whole), crcs)
        } else {
            let mut h = Hasher::new(c.algorithm);
            chunks.for_each(|(b, _)| h.update(b));
            (h.finish(), Vec::new())
        };
        let verdict = if got == c {
            Verdict::Match
        } else {
            Verdict::Mismatch(c.algorithm)
        };
        (self.count(entry, verdict), crcs)
    }

    /// The next bytes of entry `entry`, in order (once [`Verify::known`]). Returns their
    /// CRC-32 when the claim is a CRC-64, and their CRC when it is in the `shared` one.
    pub fn hash(
        &mut self,
        entry: usize,
        bytes: &[u8],
        shared: Option<Algorithm>,
        hashed: Option<Hashed>,
    ) -> PieceCrcs {
        let Some(Claimed::Full(c)) = self.claims.get(&entry) else {
            return PieceCrcs::default();
        };
        let algorithm = c.algorithm;
        if by_pieces(algorithm) {
            let (crc, piece) = piece_crcs(algorithm, shared, bytes, hashed);
            let so_far = self.combined.entry(entry).or_insert(0);
            *so_far = checksum::combine(algorithm, *so_far, crc, bytes.len() as u64);
            return piece;
        }
        self.hashers
            .entry(entry)
            .or_insert_with(|| Hasher::new(algorithm))
            .update(bytes);
        PieceCrcs::default()
    }

    /// Entry `entry`'s last byte was hashed.
    pub fn finish(&mut self, entry: usize) -> Verdict {
        let claim = self.claims.get(&entry);
        let got = match (self.combined.remove(&entry), claim) {
            (Some(crc), Some(Claimed::Full(c))) => Some(Checksum::crc(c.algorithm, crc)),
            _ => self.hashers.remove(&entry).map(Hasher::finish),
        };
        let verdict = match claim {
            Some(Claimed::Full(c)) if got.as_ref() == Some(c) => Verdict::Match,
            Some(Claimed::Full(c)) => Verdict::Mismatch(c.algorithm),
            _ => Verdict::Unverifiable,
        };
        self.count(entry, verdict)
    }

    /// Whether a mismatch of `entry` may be read once more (the first one may).
    pub fn may_reread(&mut self, entry: usize) -> bool {
        self.reread.insert(entry)
    }

    /// Objects read again after a mismatch.
    pub fn rereads(&self) -> u64 {
        self.reread.len() as u64
    }

    fn count(&mut self, entry: usize, verdict: Verdict) -> Verdict {
        match verdict {
            Verdict::Match => {
                self.verified += 1;
                if self.keep_matched {
                    self.matched.insert(entry);
                }
            }
            Verdict::Unverifiable => self.unverified += 1,
            Verdict::Mismatch(_) => {}
        }
        verdict
    }
}

/// Whether an object checked in `algorithm` is hashed piece by piece and combined: when
/// it is a CRC, so that a piece's CRCs serve beyond the check, and what the host hashed
/// serves the check.
fn by_pieces(algorithm: Algorithm) -> bool {
    algorithm.is_crc()
}

/// An object S3 keeps a CRC-32 of (what AWS SDKs upload with by default) is checked with
/// the CRC-32 its entry needs anyway, from the pass that also gives the parts' CRC-64.
fn crc32_with_parts(algorithm: Algorithm, shared: Option<Algorithm>) -> bool {
    algorithm == Algorithm::Crc32 && shared.is_some_and(pairs_with_crc32)
}

fn pairs_with_crc32(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::Crc64Nvme | Algorithm::Crc64Ecma)
}

/// A piece's CRC in `algorithm` (for the check) and what of it is handed on.
fn piece_crcs(
    algorithm: Algorithm,
    shared: Option<Algorithm>,
    bytes: &[u8],
    hashed: Option<Hashed>,
) -> (u64, PieceCrcs) {
    // What the host hashed, when the check is in one of its CRCs.
    if let Some(h) = hashed {
        let checked = match algorithm {
            Algorithm::Crc32 => Some(u64::from(h.crc32)),
            a if a == h.algorithm => Some(h.crc),
            _ => None,
        };
        if let Some(checked) = checked {
            return (checked, PieceCrcs::default().or_hashed(hashed, shared));
        }
    }
    // The one pass is in a CRC-64: the object's own, or the parts' for a CRC-32 object.
    let wide = match pairs_with_crc32(algorithm) {
        true => Some(algorithm),
        false => shared.filter(|_| crc32_with_parts(algorithm, shared)),
    };
    let Some(wide) = wide else {
        let crc = checksum::crc(algorithm, bytes);
        let handed = PieceCrcs {
            crc: (shared == Some(algorithm)).then_some(crc),
            crc32: (algorithm == Algorithm::Crc32).then_some(crc as u32),
        };
        return (crc, handed);
    };
    let (crc64, crc32) = checksum::crc_and_crc32(wide, bytes);
    let checked = match algorithm {
        Algorithm::Crc32 => u64::from(crc32),
        _ => crc64,
    };
    let handed = PieceCrcs {
        crc: (shared == Some(wide)).then_some(crc64),
        crc32: Some(crc32),
    };
    (checked, handed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checksum::{crc, Checksum};

    fn claim_of(data: &[u8]) -> Claimed {
        Claimed::Full(Checksum::crc(
            Algorithm::Crc64Nvme,
            crc(Algorithm::Crc64Nvme, data),
        ))
    }

    #[test]
    fn whole_and_streamed_checks_agree_with_the_claim() {
        let mut v = Verify::default();
        v.claim(0, claim_of(b"hello world"));
        assert_eq!(
            v.check_whole(
                0,
                [&b"hello "[..], b"world"].into_iter().map(|b| (b, None)),
                None
            ),
            (
                Verdict::Match,
                vec![pieces(None, b"hello "), pieces(None, b"world")]
            )
        );
        v.claim(1, claim_of(b"hello world"));
        v.hash(1, b"hello", None, None);
        v.hash(1, b" World", None, None);
        assert_eq!(v.finish(1), Verdict::Mismatch(Algorithm::Crc64Nvme));
        v.claim(2, Claimed::Composite);
        v.hash(2, b"x", None, None);
        assert_eq!(v.finish(2), Verdict::Unverifiable);
        assert_eq!((v.verified, v.unverified), (1, 1));
        assert!(v.may_reread(1) && !v.may_reread(1));
    }

    #[test]
    fn the_first_claim_wins() {
        let mut v = Verify::default();
        v.claim(0, claim_of(b"a"));
        v.claim(0, Claimed::Nothing);
        v.hash(0, b"a", None, None);
        assert_eq!(v.finish(0), Verdict::Match);
    }

    #[test]
    fn in_the_shared_algorithm_each_piece_is_hashed_once_and_its_crc_handed_on() {
        let nvme = Some(Algorithm::Crc64Nvme);
        let mut v = Verify::default();
        v.claim(0, claim_of(b"hello world"));
        hash_hello_world_for_nvme_parts(&mut v, 0);
        assert_eq!(v.finish(0), Verdict::Match);
        // Not yet claimed: nothing is known.
        assert_eq!(
            v.hash(1, b"x", Some(Algorithm::Crc64Ecma), None),
            PieceCrcs::default()
        );
        // Another CRC-64 than the parts': only the CRC-32 is handed on.
        v.claim(1, claim_of(b"hello world"));
        let got = v.hash(1, b"hello world", Some(Algorithm::Crc64Ecma), None);
        assert_eq!(got, pieces(None, b"hello world"));
        assert_eq!(v.finish(1), Verdict::Match);
        // A checksum that is no CRC-64: hashed for the check only.
        let sha = Checksum {
            algorithm: Algorithm::Sha256,
            value: sha256(b"abc"),
        };
        v.claim(3, Claimed::Full(sha));
        assert_eq!(v.hash(3, b"abc", nvme, None), PieceCrcs::default());
        assert_eq!(v.finish(3), Verdict::Match);
        v.claim(2, claim_of(b"hello world"));
        let (verdict, crcs) = v.check_whole(
            2,
            [&b"hello"[..], b" World"].into_iter().map(|b| (b, None)),
            nvme,
        );
        assert_eq!(verdict, Verdict::Mismatch(Algorithm::Crc64Nvme));
        assert_eq!(
            crcs,
            vec![
                pieces(Some(crc(Algorithm::Crc64Nvme, b"hello")), b"hello"),
                pieces(Some(crc(Algorithm::Crc64Nvme, b" World")), b" World")
            ]
        );
    }

    #[test]
    fn an_object_with_a_crc32_is_checked_by_the_pass_that_hashes_it_for_the_parts() {
        let nvme = Some(Algorithm::Crc64Nvme);
        let crc32 = |b: &[u8]| Checksum::crc(Algorithm::Crc32, u64::from(crc32fast::hash(b)));
        let mut v = Verify::default();
        v.claim(0, Claimed::Full(crc32(b"hello world")));
        hash_hello_world_for_nvme_parts(&mut v, 0);
        assert_eq!(v.finish(0), Verdict::Match);
        v.claim(1, Claimed::Full(crc32(b"hello world")));
        let (verdict, crcs) = v.check_whole(
            1,
            [&b"hello"[..], b" World"].into_iter().map(|b| (b, None)),
            nvme,
        );
        assert_eq!(verdict, Verdict::Mismatch(Algorithm::Crc32));
        assert_eq!(crcs.len(), 2);
        // Streamed (no parts' algorithm): its CRC-32 is the entry's, handed on.
        v.claim(2, Claimed::Full(crc32(b"abc")));
        assert_eq!(v.hash(2, b"abc", None, None), pieces(None, b"abc"));
        assert_eq!(v.finish(2), Verdict::Match);
    }

    #[test]
    fn what_the_host_hashed_is_checked_and_handed_on_without_hashing_again() {
        let nvme = Some(Algorithm::Crc64Nvme);
        let host = |b: &[u8]| Some(Hashed::of(Algorithm::Crc64Nvme, b));
        let mut v = Verify::default();
        v.claim(0, claim_of(b"hello world"));
        for piece in [&b"hello"[..], b" world"] {
            let got = v.hash(0, piece, nvme, host(piece));
            assert_eq!(got, pieces(Some(crc(Algorithm::Crc64Nvme, piece)), piece));
        }
        assert_eq!(v.finish(0), Verdict::Match);
        // The host's word is what is checked: CRCs of other bytes fail the check.
        v.claim(1, claim_of(b"hello world"));
        v.hash(1, b"hello world", nvme, host(b"hello World"));
        assert_eq!(v.finish(1), Verdict::Mismatch(Algorithm::Crc64Nvme));
        // A CRC-32 claim is checked with the host's CRC-32, streamed or whole.
        let crc32 = Checksum::crc(Algorithm::Crc32, u64::from(crc32fast::hash(b"abc")));
        v.claim(2, Claimed::Full(crc32));
        let (verdict, crcs) = v.check_whole(2, [(&b"abc"[..], host(b"abd"))].into_iter(), None);
        assert_eq!(verdict, Verdict::Mismatch(Algorithm::Crc32));
        assert_eq!(crcs, vec![pieces(None, b"abd")]);
        // Unclaimed: nothing checked, the host's CRCs still handed on.
        let none = PieceCrcs::default().or_hashed(host(b"xyz"), nvme);
        assert_eq!(
            none,
            pieces(Some(crc(Algorithm::Crc64Nvme, b"xyz")), b"xyz")
        );
    }

    /// Hashes "hello world" as entry `entry`'s bytes in two pieces, for parts in CRC-64/NVME:
    /// each piece's CRC-64 and CRC-32 must be handed on.
    fn hash_hello_world_for_nvme_parts(v: &mut Verify, entry: usize) {
        for piece in [&b"hello"[..], b" world"] {
            let got = v.hash(entry, piece, Some(Algorithm::Crc64Nvme), None);
            let want = pieces(Some(crc(Algorithm::Crc64Nvme, piece)), piece);
            assert_eq!(got, want);
        }
    }

    fn pieces(crc: Option<u64>, bytes: &[u8]) -> PieceCrcs {
        PieceCrcs {
            crc,
            crc32: Some(crc32fast::hash(bytes)),
        }
    }

    fn sha256(bytes: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish().value
    }
}
