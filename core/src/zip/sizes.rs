//! The exact archive size, computed from the plan before a byte is written.
//!
//! It runs the real encoder over the entries without data, so it cannot drift from
//! what the encoder writes.

use super::{EntryKind, EntryMeta, Layout, ZipEncoder};

/// Exact size of the archive the encoder writes for these entries with data descriptors,
/// when it can be known in advance: every file stored (`None` if any is deflated).
pub fn archive_size<'a>(
    entries: impl IntoIterator<Item = &'a EntryMeta>,
) -> Result<Option<u64>, super::EncodeError> {
    archive_size_in(entries, Layout::Descriptors)
}

/// [`archive_size`] in either layout.
pub fn archive_size_in<M: std::borrow::Borrow<EntryMeta>>(
    entries: impl IntoIterator<Item = M>,
    layout: Layout,
) -> Result<Option<u64>, super::EncodeError> {
    let mut enc = SizeOnly {
        enc: ZipEncoder::counting(layout),
    };
    for meta in entries {
        let meta = meta.borrow();
        if meta.method != super::Method::Stored {
            return Ok(None);
        }
        enc.add(meta)?;
    }
    enc.finish().map(Some)
}

/// Bytes an entry adds beyond its data, at the worst case (ZIP64 everywhere): used to
/// bound an archive's size where only an upper bound is needed.
pub fn entry_overhead(name_len: usize) -> u64 {
    // local 30 + zip64 20 + UT 9; descriptor 24; central 46 + zip64 28 + UT 9;
    // names twice, and the Unicode Path field (9 + name) twice.
    (30 + 20 + 9 + 24 + 46 + 28 + 9 + 2 * 9 + 4 * name_len) as u64
}

/// An encoder that skips the data: it advances offsets by the declared sizes.
struct SizeOnly {
    enc: ZipEncoder,
}

impl SizeOnly {
    fn add(&mut self, meta: &EntryMeta) -> Result<(), super::EncodeError> {
        self.enc.start_entry(meta.clone())?;
        if let EntryKind::File { size } = meta.kind {
            self.enc.skip_data(size);
            self.enc.finish_entry()?;
        }
        Ok(())
    }

    fn finish(self) -> Result<u64, super::EncodeError> {
        let before = self.enc.bytes_out();
        let central = self.enc.central_len();
        let end = self.enc.finish_in_chunks()?;
        Ok(before + central + end.iter().map(|c| c.len() as u64).sum::<u64>())
    }
}
