//! CRCs of an answer's body computed by the host, natively, so the guest does not hash it
//! in wasm: wasm has no carry-less multiply, and the CRC-32 a ZIP entry needs plus the
//! CRC-64 its parts and check need cost the guest ~0.75 CPU-s per GiB, against ~0.05 for
//! the host.
//!
//! Opt-in on both sides, so a host that knows nothing of it changes nothing. The guest
//! asks with the request header [`ASK`], naming the CRC-64 it wants, only where the host
//! has said it hashes: zip-oss's own host sets [`HOST_ENV`] in the guest's environment to
//! a random token of its process. That host removes [`ASK`] before the request goes out
//! and any [`MARK`] from the store's answer; a successful answer then gets [`MARK`] (the
//! algorithm and the token, [`mark`]) and its body is sent as frames: a [`HEAD`]-byte head
//! (payload length `u32`, CRC-32 `u32`, CRC-64 `u64`, little-endian), then that many
//! payload bytes. Without a [`MARK`] bearing the token (a host given [`HOST_ENV`] by
//! mistake passes the store's answers on as they are) the body is the store's bytes and
//! the guest hashes them as before.
//!
//! The host hashes the bytes as they came from the store, before any copy into the guest,
//! so a byte flipped on the way in still fails the object's check, and one flipped in the
//! guest's own copying fails the store's check of the part.
//!
//! **Heads only.** A guest that wants an object's CRCs and not its bytes (to copy it,
//! `pack/copy.rs`) asks with [`ASK_ONLY`] instead; the answer is marked [`MARK_ONLY`] and its
//! body is the frames' heads alone ([`heads`]), 16 bytes for up to 64 KiB read, which
//! [`Folded`] adds up. The bytes never enter the guest, so it costs the host a read and
//! the guest next to nothing.

use bytes::Bytes;

use super::checksum::{self, Algorithm};

/// Request header: "send this answer's body as hashed frames, with this CRC-64".
pub const ASK: &str = "zip-oss-hash";
/// Answer header: the body is hashed frames, with the CRC-64 named.
pub const MARK: &str = "zip-oss-hashed";
/// Request header: "send me only the heads of this answer's hashed frames, with this CRC-64".
pub const ASK_ONLY: &str = "zip-oss-hash-only";
/// Answer header: the body is the heads of hashed frames, with the CRC-64 named.
pub const MARK_ONLY: &str = "zip-oss-hashed-only";
/// Set to the host's token in the guest's environment by a host that answers [`ASK`].
pub const HOST_ENV: &str = "ZIP_OSS_HOST_HASHES";
/// A frame's head: payload length, CRC-32, CRC-64.
pub const HEAD: usize = 16;
/// The most payload in one frame: the guest's read size, so one read takes a payload whole.
pub const FRAME_MAX: usize = 64 * 1024;

/// A chunk's CRC-32 and its CRC in a CRC-64 `algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashed {
    pub algorithm: Algorithm,
    pub crc: u64,
    pub crc32: u32,
}

impl Hashed {
    /// Hashes `bytes` (natively fast; in wasm, one pass for both).
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Hashed {
        let (crc, crc32) = checksum::crc_and_crc32(algorithm, bytes);
        Hashed {
            algorithm,
            crc,
            crc32,
        }
    }

    /// The CRCs of `self`'s bytes followed by `len` more whose CRCs are `next`.
    pub fn then(self, next: Hashed, len: u64) -> Hashed {
        let crc32 = checksum::combine(Algorithm::Crc32, self.crc32.into(), next.crc32.into(), len);
        Hashed {
            algorithm: self.algorithm,
            crc: checksum::combine(self.algorithm, self.crc, next.crc, len),
            crc32: crc32 as u32,
        }
    }

    /// The CRCs of `bytes[..at]` and `bytes[at..]`, where `self` is of all of `bytes`:
    /// the head is hashed, the tail's follow (CRC(a ‖ b) = CRC(a)·x^(8|b|) ⊕ CRC(b)).
    pub fn split(self, bytes: &[u8], at: usize) -> (Hashed, Hashed) {
        let head = Hashed::of(self.algorithm, &bytes[..at]);
        let n = (bytes.len() - at) as u64;
        let crc = self.crc ^ checksum::combine(self.algorithm, head.crc, 0, n);
        let crc32 =
            self.crc32 ^ checksum::combine(Algorithm::Crc32, head.crc32.into(), 0, n) as u32;
        let tail = Hashed {
            algorithm: self.algorithm,
            crc,
            crc32,
        };
        (head, tail)
    }
}

/// The CRC-64 a request asks for by [`ASK`]'s value.
pub fn asked(value: &str) -> Option<Algorithm> {
    [Algorithm::Crc64Nvme, Algorithm::Crc64Ecma]
        .into_iter()
        .find(|a| a.name() == value)
}

/// [`MARK`]'s value: the algorithm hashed in, and the host's token.
pub fn mark(algorithm: Algorithm, token: &str) -> String {
    format!("{} {token}", algorithm.name())
}

/// The algorithm a [`MARK`] value names, if it bears `token` (never an empty one).
pub fn marked(value: &str, token: &str) -> Option<Algorithm> {
    let (algorithm, bears) = value.split_once(' ')?;
    (!token.is_empty() && bears == token)
        .then(|| asked(algorithm))
        .flatten()
}

/// A chunk and its CRCs cut in two at `at` (within it): the head's CRCs are hashed, the
/// tail's follow from the whole's ([`Hashed::split`]).
pub fn split(
    mut chunk: Bytes,
    hashed: Option<Hashed>,
    at: usize,
) -> ((Bytes, Option<Hashed>), (Bytes, Option<Hashed>)) {
    let halves = hashed.map(|h| h.split(&chunk, at));
    let tail = chunk.split_off(at);
    ((chunk, halves.map(|h| h.0)), (tail, halves.map(|h| h.1)))
}

/// The host's side: `chunk` as frames (head, payload, head, payload, …), hashed in
/// `algorithm`. The payloads are slices of `chunk`, not copies.
pub fn frames(algorithm: Algorithm, mut chunk: Bytes) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(2 * chunk.len().div_ceil(FRAME_MAX));
    while !chunk.is_empty() {
        let payload = chunk.split_to(chunk.len().min(FRAME_MAX));
        let h = Hashed::of(algorithm, &payload);
        let mut head = [0u8; HEAD];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&h.crc32.to_le_bytes());
        head[8..].copy_from_slice(&h.crc.to_le_bytes());
        out.push(Bytes::copy_from_slice(&head));
        out.push(payload);
    }
    out
}

/// The host's side of [`ASK_ONLY`]: the heads [`frames`] would send for `chunk`, in one
/// buffer, without the payloads.
pub fn heads(algorithm: Algorithm, chunk: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(HEAD * chunk.len().div_ceil(FRAME_MAX));
    for payload in chunk.chunks(FRAME_MAX) {
        let h = Hashed::of(algorithm, payload);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&h.crc32.to_le_bytes());
        out.extend_from_slice(&h.crc.to_le_bytes());
    }
    out.into()
}

/// The guest's side of [`ASK_ONLY`]: the heads, in any cuts, added up into the whole
/// body's length and CRCs.
#[derive(Debug)]
pub struct Folded {
    /// A head cut short by the read it came in.
    partial: Vec<u8>,
    pub len: u64,
    sum: Hashed,
}

impl Folded {
    pub fn new(algorithm: Algorithm) -> Folded {
        Folded {
            partial: Vec::new(),
            len: 0,
            sum: Hashed::of(algorithm, b""),
        }
    }

    /// Takes the next bytes of the heads.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            let take = (HEAD - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < HEAD {
                return Ok(());
            }
            let h = std::mem::take(&mut self.partial);
            let n = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as u64;
            if !(1..=FRAME_MAX as u64).contains(&n) {
                return Err(format!("a hashed frame of {n} bytes"));
            }
            let next = Hashed {
                algorithm: self.sum.algorithm,
                crc32: u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")),
                crc: u64::from_le_bytes(h[8..].try_into().expect("8 bytes")),
            };
            self.sum = self.sum.then(next, n);
            self.len += n;
        }
        Ok(())
    }

    /// The body ended: its length and CRCs, if it ended between heads.
    pub fn end(&self) -> Result<Hashed, String> {
        match self.partial.is_empty() {
            true => Ok(self.sum),
            false => Err("the body ended inside a hashed frame's head".into()),
        }
    }
}

/// The guest's side: takes the bytes a hashed body is read as, in any cuts, and gives
/// back each frame's payload with its CRCs.
#[derive(Debug)]
pub struct Deframer {
    algorithm: Algorithm,
    head: [u8; HEAD],
    /// Bytes of the head so far (`HEAD` once it is whole).
    head_got: usize,
    /// The payload so far, when it came in more than one read (rare: the host sends each
    /// payload as one frame, which one read of [`FRAME_MAX`] takes whole).
    partial: Vec<u8>,
}

impl Deframer {
    pub fn new(algorithm: Algorithm) -> Deframer {
        Deframer {
            algorithm,
            head: [0; HEAD],
            head_got: 0,
            partial: Vec::new(),
        }
    }

    /// The most the next read may take: the rest of the head, or of the payload.
    pub fn want(&self) -> usize {
        match self.head_got < HEAD {
            true => HEAD - self.head_got,
            false => self.payload_len() - self.partial.len(),
        }
    }

    /// Takes bytes read (at most [`Deframer::want`]); a payload once it is whole.
    pub fn push(&mut self, bytes: Bytes) -> Result<Option<(Bytes, Hashed)>, String> {
        if bytes.len() > self.want() {
            return Err("read past a hashed frame".into());
        }
        if self.head_got < HEAD {
            self.head[self.head_got..self.head_got + bytes.len()].copy_from_slice(&bytes);
            self.head_got += bytes.len();
            let len = self.payload_len();
            if self.head_got == HEAD && !(1..=FRAME_MAX).contains(&len) {
                return Err(format!("a hashed frame of {len} bytes"));
            }
            return Ok(None);
        }
        let payload = if self.partial.is_empty() && bytes.len() == self.payload_len() {
            bytes
        } else {
            self.partial.extend_from_slice(&bytes);
            if self.partial.len() < self.payload_len() {
                return Ok(None);
            }
            Bytes::from(std::mem::take(&mut self.partial))
        };
        let h = &self.head;
        let hashed = Hashed {
            algorithm: self.algorithm,
            crc32: u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")),
            crc: u64::from_le_bytes(h[8..].try_into().expect("8 bytes")),
        };
        self.head_got = 0;
        Ok(Some((payload, hashed)))
    }

    /// The body ended: fine only between frames.
    pub fn end(&self) -> Result<(), String> {
        match self.head_got == 0 {
            true => Ok(()),
            false => Err("the body ended inside a hashed frame".into()),
        }
    }

    fn payload_len(&self) -> usize {
        u32::from_le_bytes(self.head[..4].try_into().expect("4 bytes")) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Bytes {
        (0..n)
            .map(|i| (i * 131 % 251) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn frames_read_in_any_cuts_give_back_the_bytes_and_their_crcs() {
        let body = data(3 * FRAME_MAX + 1234);
        let wire: Vec<u8> = frames(Algorithm::Crc64Nvme, body.clone()).concat();
        for cut in [1, 7, 16, 1000, FRAME_MAX, FRAME_MAX + HEAD] {
            let mut d = Deframer::new(Algorithm::Crc64Nvme);
            let (mut at, mut out) = (0, Vec::new());
            while at < wire.len() {
                let n = d.want().min(cut).min(wire.len() - at);
                if let Some((payload, h)) =
                    d.push(Bytes::copy_from_slice(&wire[at..at + n])).unwrap()
                {
                    assert_eq!(h, Hashed::of(Algorithm::Crc64Nvme, &payload));
                    out.extend_from_slice(&payload);
                }
                at += n;
            }
            d.end().unwrap();
            assert_eq!(out, body);
        }
    }

    #[test]
    fn heads_only_add_up_to_the_whole_bodys_crcs_in_any_cuts() {
        for algorithm in [Algorithm::Crc64Nvme, Algorithm::Crc64Ecma] {
            let body = data(3 * FRAME_MAX + 1234);
            // The host hashes the body as it comes, in pieces of any size.
            let wire: Vec<u8> = body
                .chunks(FRAME_MAX / 3 + 5)
                .flat_map(|c| heads(algorithm, c).to_vec())
                .collect();
            for cut in [1, 7, 16, 33, wire.len()] {
                let mut f = Folded::new(algorithm);
                for piece in wire.chunks(cut) {
                    f.push(piece).unwrap();
                }
                assert_eq!(f.len, body.len() as u64);
                assert_eq!(f.end().unwrap(), Hashed::of(algorithm, &body));
            }
            // An empty body: no heads, the CRCs of nothing.
            let f = Folded::new(algorithm);
            assert_eq!(f.end().unwrap(), Hashed::of(algorithm, b""));
            // Cut inside a head, or a head of no bytes.
            let mut f = Folded::new(algorithm);
            f.push(&wire[..HEAD + 3]).unwrap();
            assert!(f.end().is_err());
            assert!(Folded::new(algorithm).push(&[0; HEAD]).is_err());
        }
    }

    #[test]
    fn a_body_cut_inside_a_frame_or_a_bad_head_is_an_error() {
        let wire: Vec<u8> = frames(Algorithm::Crc64Ecma, data(100)).concat();
        let mut d = Deframer::new(Algorithm::Crc64Ecma);
        d.push(Bytes::copy_from_slice(&wire[..HEAD])).unwrap();
        d.push(Bytes::copy_from_slice(&wire[HEAD..HEAD + 50]))
            .unwrap();
        assert!(d.end().is_err());
        let mut d = Deframer::new(Algorithm::Crc64Ecma);
        assert!(d.push(Bytes::from_static(&[0; HEAD])).is_err());
        let mut d = Deframer::new(Algorithm::Crc64Ecma);
        assert!(d.push(Bytes::from_static(&[0; HEAD + 1])).is_err());
    }

    #[test]
    fn a_split_gives_each_side_its_own_crcs() {
        let body = data(5000);
        for algorithm in [Algorithm::Crc64Nvme, Algorithm::Crc64Ecma] {
            let whole = Hashed::of(algorithm, &body);
            for at in [0, 1, 2500, 4999, 5000] {
                let (head, tail) = whole.split(&body, at);
                assert_eq!(head, Hashed::of(algorithm, &body[..at]));
                assert_eq!(tail, Hashed::of(algorithm, &body[at..]));
            }
        }
    }

    #[test]
    fn a_chunk_cut_in_two_keeps_each_half_with_its_own_crcs() {
        let chunk = data(3000);
        let whole = Some(Hashed::of(Algorithm::Crc64Ecma, &chunk));
        let ((head, head_h), (tail, tail_h)) = split(chunk.clone(), whole, 1000);
        assert_eq!((&head[..], &tail[..]), (&chunk[..1000], &chunk[1000..]));
        assert_eq!(head_h, Some(Hashed::of(Algorithm::Crc64Ecma, &head)));
        assert_eq!(tail_h, Some(Hashed::of(Algorithm::Crc64Ecma, &tail)));
        assert_eq!(split(chunk, None, 1).1 .1, None);
    }

    #[test]
    fn a_mark_counts_only_with_the_hosts_token() {
        let value = mark(Algorithm::Crc64Nvme, "t0k3n");
        assert_eq!(marked(&value, "t0k3n"), Some(Algorithm::Crc64Nvme));
        assert_eq!(marked(&value, "other"), None);
        assert_eq!(marked("crc64nvme", "t0k3n"), None);
        assert_eq!(marked("crc64nvme ", ""), None);
        assert_eq!(marked("crc32 t0k3n", "t0k3n"), None);
    }

    #[test]
    fn only_the_crc64s_are_asked_for() {
        assert_eq!(asked("crc64nvme"), Some(Algorithm::Crc64Nvme));
        assert_eq!(asked("crc64ecma"), Some(Algorithm::Crc64Ecma));
        assert_eq!(asked("crc32"), None);
    }
}
