//! The central directory as it is written, one record per entry until the archive ends:
//! in chunks of at most [`CHUNK`] rather than one vector grown by doubling.
//!
//! At 100,000 entries the directory is ~6.5 MiB; a doubling vector would have touched
//! twice that over the pack (each larger copy beside the one before), and guest memory,
//! once touched, stays. Chunks touch what they hold plus less than one chunk. The encoder
//! run only to predict sizes keeps the count, not the bytes.

/// Bytes per chunk: large enough to be few (a part is written in few host calls).
const CHUNK: usize = 64 << 10;

#[derive(Debug, Default)]
pub(crate) struct CentralBytes {
    chunks: Vec<Vec<u8>>,
    len: u64,
    /// Only counts (an encoder that predicts sizes).
    counting: bool,
}

impl CentralBytes {
    pub fn counting() -> Self {
        CentralBytes {
            counting: true,
            ..Self::default()
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.counting {
            return;
        }
        while !bytes.is_empty() {
            let room = self.chunks.last().map_or(0, |c| CHUNK - c.len());
            if room == 0 {
                self.chunks.push(Vec::with_capacity(CHUNK));
                continue;
            }
            let n = room.min(bytes.len());
            let last = self.chunks.last_mut().expect("a chunk with room");
            last.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// The bytes, chunk by chunk (none when only counting).
    pub fn into_chunks(self) -> Vec<Vec<u8>> {
        self.chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_the_bytes_in_order_and_never_pass_a_chunk() {
        let mut c = CentralBytes::default();
        let record: Vec<u8> = (0..=250u8).collect();
        let mut all = Vec::new();
        for _ in 0..1000 {
            c.push(&record);
            all.extend_from_slice(&record);
        }
        assert_eq!(c.len(), all.len() as u64);
        let chunks = c.into_chunks();
        assert!(chunks
            .iter()
            .all(|ch| ch.len() <= CHUNK && ch.capacity() == CHUNK));
        assert_eq!(chunks.len(), all.len().div_ceil(CHUNK));
        assert_eq!(chunks.concat(), all);
    }

    #[test]
    fn counting_keeps_no_bytes() {
        let mut c = CentralBytes::counting();
        c.push(&[1; 100_000]);
        assert_eq!(c.len(), 100_000);
        assert!(c.into_chunks().is_empty());
    }
}
