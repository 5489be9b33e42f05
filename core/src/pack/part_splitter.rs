//! Cuts the archive byte stream into multipart-upload parts of a fixed size.

use crate::plan::MAX_PARTS;

/// A part ready to upload. Numbers start at 1, as the APIs require.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub data: Vec<u8>,
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
}

impl PartSplitter {
    pub fn new(part_size: u64) -> Self {
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX).max(1);
        PartSplitter {
            part_size,
            buf: Vec::new(),
            next_number: 1,
        }
    }

    /// Appends bytes; calls `emit` with every part this completes.
    pub fn push(
        &mut self,
        mut data: &[u8],
        mut emit: impl FnMut(Part),
    ) -> Result<(), TooManyParts> {
        while !data.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.part_size);
            }
            let take = (self.part_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
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
        let mut s = PartSplitter::new(4);
        let mut parts = Vec::new();
        s.push(b"abcdefghij", |p| parts.push(p)).unwrap();
        s.push(b"k", |p| parts.push(p)).unwrap();
        parts.extend(s.finish().unwrap());
        let got: Vec<(u32, &[u8])> = parts
            .iter()
            .map(|p| (p.number, p.data.as_slice()))
            .collect();
        assert_eq!(got, [(1, &b"abcd"[..]), (2, b"efgh"), (3, b"ijk")]);
    }

    #[test]
    fn no_empty_tail_after_an_exact_fill() {
        let mut s = PartSplitter::new(2);
        let mut n = 0;
        s.push(b"abcd", |_| n += 1).unwrap();
        assert_eq!(n, 2);
        assert_eq!(s.finish().unwrap(), None);
    }

    #[test]
    fn refuses_the_ten_thousand_and_first_part() {
        let mut s = PartSplitter::new(1);
        let err = s.push(&vec![0u8; 10_001], |_| {}).unwrap_err();
        assert_eq!(err, TooManyParts { part_size: 1 });
    }
}
