//! A part's bytes as the pieces they came in (read chunks, deflated output), not copied
//! into one buffer: copying every carried byte into part buffers was about a tenth of a
//! stored pack's CPU (BENCHMARKS.md, 2026-12-05). Small pieces (headers, small objects)
//! are gathered into one buffer instead, so a part is written in few host calls and the
//! pieces' count stays small.

use bytes::{Bytes, BytesMut};

use crate::zip::Patch;

/// Pieces under this are copied into the gathering buffer rather than kept.
const GATHER_BELOW: usize = 16 << 10;
/// The gathering buffer's room: a piece of its own once full.
const GATHER_ROOM: usize = 64 << 10;

/// Bytes in order, as shared pieces.
#[derive(Clone, Debug, Default)]
pub struct Rope {
    pieces: Vec<Bytes>,
    /// Small pieces gathered, after `pieces`.
    gathering: Vec<u8>,
    len: usize,
}

impl Rope {
    pub fn new() -> Rope {
        Rope::default()
    }

    /// Appends `bytes`: kept as they are, or copied into the gathering buffer if small.
    pub fn push(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if bytes.len() < GATHER_BELOW {
            if self.gathering.len() + bytes.len() > self.gathering.capacity() {
                self.seal();
                self.gathering.reserve_exact(GATHER_ROOM);
            }
            self.gathering.extend_from_slice(&bytes);
            return;
        }
        self.seal();
        self.pieces.push(bytes);
    }

    /// Ends the gathering buffer as a piece, with no more room than it holds.
    fn seal(&mut self) {
        if !self.gathering.is_empty() {
            let mut sealed = std::mem::take(&mut self.gathering);
            sealed.shrink_to_fit();
            self.pieces.push(Bytes::from(sealed));
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces, in order, as they are to be written.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.pieces
            .iter()
            .map(|b| &b[..])
            .chain(std::iter::once(&self.gathering[..]).filter(|g| !g.is_empty()))
    }

    /// The bytes in one buffer (tests, and the rare copy that needs them whole).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for piece in self.pieces() {
            all.extend_from_slice(piece);
        }
        all
    }

    /// Writes `patch` over the bytes it covers, `self` holding the archive's bytes from
    /// `start` on. A piece shared with another rope is copied first (a patch only ever
    /// falls on a header, which is not shared).
    pub fn patch(&mut self, patch: &Patch, start: u64) {
        let (a, b) = (patch.offset, patch.offset + patch.bytes.len() as u64);
        let mut at = start;
        for piece in &mut self.pieces {
            let len = piece.len() as u64;
            if a < at + len && at < b {
                let mut bytes = BytesMut::from(std::mem::take(piece));
                patch.apply(&mut bytes, at);
                *piece = bytes.freeze();
            }
            at += len;
        }
        patch.apply(&mut self.gathering, at);
    }
}

impl From<Bytes> for Rope {
    fn from(bytes: Bytes) -> Rope {
        let len = bytes.len();
        let pieces = match len {
            0 => Vec::new(),
            _ => vec![bytes],
        };
        Rope {
            pieces,
            gathering: Vec::new(),
            len,
        }
    }
}

impl From<Vec<u8>> for Rope {
    fn from(bytes: Vec<u8>) -> Rope {
        Rope::from(Bytes::from(bytes))
    }
}

impl From<String> for Rope {
    fn from(text: String) -> Rope {
        Rope::from(text.into_bytes())
    }
}

impl PartialEq for Rope {
    fn eq(&self, other: &Rope) -> bool {
        self.len == other.len && self.to_vec() == other.to_vec()
    }
}

impl Eq for Rope {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_pieces_are_kept_and_small_ones_gathered() {
        let big = Bytes::from(vec![7u8; GATHER_BELOW]);
        let mut rope = Rope::new();
        rope.push(Bytes::from_static(b"head"));
        rope.push(big.clone());
        rope.push(Bytes::from_static(b"mid"));
        rope.push(Bytes::from_static(b"dle"));
        let pieces: Vec<&[u8]> = rope.pieces().collect();
        assert_eq!(pieces, [&b"head"[..], &big[..], b"middle"]);
        // The large piece is the very bytes pushed, not a copy.
        assert_eq!(rope.pieces().nth(1).unwrap().as_ptr(), big.as_ptr());
        assert_eq!(rope.len(), 4 + GATHER_BELOW + 6);
    }

    #[test]
    fn a_full_gathering_becomes_a_piece() {
        let mut rope = Rope::new();
        rope.push(Bytes::from_static(b"h"));
        rope.push(Bytes::from(vec![1u8; GATHER_BELOW]));
        assert_eq!(rope.pieces[0].len(), 1);
        // A full gathering buffer becomes a piece, and a new one starts.
        let mut rope = Rope::new();
        for _ in 0..GATHER_ROOM / 1000 + 1 {
            rope.push(Bytes::from(vec![2u8; 1000]));
        }
        assert_eq!(rope.pieces.len(), 1);
        assert!(rope.pieces[0].len() <= GATHER_ROOM);
        assert_eq!(rope.to_vec(), vec![2u8; (GATHER_ROOM / 1000 + 1) * 1000]);
    }

    #[test]
    fn a_patch_lands_across_pieces() {
        let mut rope = Rope::new();
        rope.push(Bytes::from(vec![0u8; GATHER_BELOW]));
        rope.push(Bytes::from_static(b"\0\0\0\0"));
        let patch = Patch {
            offset: 100 + GATHER_BELOW as u64 - 2,
            bytes: b"WXYZ".to_vec(),
        };
        rope.patch(&patch, 100);
        let all = rope.to_vec();
        assert_eq!(&all[GATHER_BELOW - 2..], b"WXYZ\0\0");
        assert!(all[..GATHER_BELOW - 2].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_shared_piece_is_copied_before_it_is_patched() {
        let shared = Bytes::from(vec![0u8; GATHER_BELOW]);
        let mut rope = Rope::from(shared.clone());
        rope.patch(
            &Patch {
                offset: 0,
                bytes: b"PK".to_vec(),
            },
            0,
        );
        assert_eq!(&rope.to_vec()[..2], b"PK");
        assert_eq!(&shared[..2], b"\0\0");
    }
}
