//! Cuts the archive byte stream into multipart-upload parts of a fixed size, and keeps
//! each part's CRC: combined from its pieces' CRCs where they are known (bytes hashed once
//! for their object's check), hashed where not (headers, compressed data, a piece a part
//! boundary cuts).

use crate::plan::MAX_PARTS;
use crate::store::checksum::{self, Algorithm};

/// A part ready to upload. Numbers start at 1, as the APIs require.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub data: Vec<u8>,
    /// Its CRC in the splitter's algorithm, if it has one.
    pub crc: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the archive outgrew 10,000 parts of {part_size} bytes")]
pub struct TooManyParts {
    pub part_size: u64,
}

/// Buffers at most one part; full parts are handed out as soon as they fill.
pub struct PartSplitter {
    part_size: usize,
    buf: Vec<u8>,
    next_number: u32,
    /// The parts' checksum algorithm (a CRC), and the CRC of `buf` so far.
    crc: Option<Algorithm>,
    buf_crc: u64,
}

impl PartSplitter {
    pub fn new(part_size: u64, crc: Option<Algorithm>) -> Self {
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX).max(1);
        PartSplitter {
            part_size,
            buf: Vec::new(),
            next_number: 1,
            crc,
            buf_crc: 0,
        }
    }

    /// Appends bytes, whose CRC may be `known`; calls `emit` with every part this completes.
    pub fn push(
        &mut self,
        mut data: &[u8],
        known: Option<u64>,
        mut emit: impl FnMut(Part),
    ) -> Result<(), TooManyParts> {
        let mut known = known;
        while !data.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.part_size);
            }
            let take = (self.part_size - self.buf.len()).min(data.len());
            if let Some(algorithm) = self.crc {
                // The known CRC is of all of `data`: usable only if it all goes in here.
                let piece = match known {
                    Some(crc) if take == data.len() => crc,
                    _ => checksum::crc(algorithm, &data[..take]),
                };
                self.buf_crc = checksum::combine(algorithm, self.buf_crc, piece, take as u64);
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            known = None;
            if self.buf.len() == self.part_size {
                emit(self.take_part()?);
            }
        }
        Ok(())
    }

    /// The last, possibly short, part; `None` if every byte is already in a part.
    pub fn finish(mut self) -> Result<Option<Part>, TooManyParts> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        self.take_part().map(Some)
    }

    /// Bytes waiting to fill the next part.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Parts handed out so far.
    pub fn parts(&self) -> u32 {
        self.next_number - 1
    }

    fn take_part(&mut self) -> Result<Part, TooManyParts> {
        if u64::from(self.next_number) > MAX_PARTS {
            return Err(TooManyParts {
                part_size: self.part_size as u64,
            });
        }
        let part = Part {
            number: self.next_number,
            data: std::mem::take(&mut self.buf),
            crc: self.crc.map(|_| std::mem::take(&mut self.buf_crc)),
        };
        self.next_number += 1;
        Ok(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_exact_parts_and_a_short_tail() {
        let mut s = PartSplitter::new(4, None);
        let mut parts = Vec::new();
        s.push(b"abcdefghij", None, |p| parts.push(p)).unwrap();
        s.push(b"k", None, |p| parts.push(p)).unwrap();
        parts.extend(s.finish().unwrap());
        let got: Vec<(u32, &[u8])> = parts
            .iter()
            .map(|p| (p.number, p.data.as_slice()))
            .collect();
        assert_eq!(got, [(1, &b"abcd"[..]), (2, b"efgh"), (3, b"ijk")]);
    }

    #[test]
    fn no_empty_tail_after_an_exact_fill() {
        let mut s = PartSplitter::new(2, None);
        let mut n = 0;
        s.push(b"abcd", None, |_| n += 1).unwrap();
        assert_eq!(n, 2);
        assert_eq!(s.finish().unwrap(), None);
    }

    #[test]
    fn each_part_has_the_crc_of_its_bytes_known_pieces_or_not() {
        let nvme = Algorithm::Crc64Nvme;
        let mut s = PartSplitter::new(8, Some(nvme));
        let mut parts = Vec::new();
        // A piece whose CRC is known and fits; one cut by a boundary; one hashed here.
        s.push(b"abc", Some(checksum::crc(nvme, b"abc")), |p| parts.push(p))
            .unwrap();
        s.push(b"defghijk", Some(checksum::crc(nvme, b"defghijk")), |p| {
            parts.push(p)
        })
        .unwrap();
        s.push(b"lmn", None, |p| parts.push(p)).unwrap();
        parts.extend(s.finish().unwrap());
        for p in &parts {
            assert_eq!(
                p.crc,
                Some(checksum::crc(nvme, &p.data)),
                "part {}",
                p.number
            );
        }
        assert_eq!(parts.len(), 2);
        // A wrong known CRC goes into the part's: the store would refuse the part.
        let mut s = PartSplitter::new(8, Some(nvme));
        s.push(b"abc", Some(1), |_| {}).unwrap();
        let part = s.finish().unwrap().unwrap();
        assert_ne!(part.crc, Some(checksum::crc(nvme, b"abc")));
    }

    #[test]
    fn refuses_the_ten_thousand_and_first_part() {
        let mut s = PartSplitter::new(1, None);
        let err = s.push(&vec![0u8; 10_001], None, |_| {}).unwrap_err();
        assert_eq!(err, TooManyParts { part_size: 1 });
    }
}
