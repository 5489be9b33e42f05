//! The encoder's output read back by an independent reader (the `zip` crate), and the
//! predicted archive size checked against the bytes actually written.

use std::io::{Cursor, Read};

use zip_oss_core::zip::{
    archive_size, archive_size_in, EntryKind, EntryMeta, Layout, Method, NameEncoding, ZipEncoder,
};

/// Encodes `(name, Some(data) | None for a folder)` and returns the archive.
fn encode(entries: &[(&str, Option<&[u8]>)]) -> (Vec<u8>, Vec<EntryMeta>) {
    encode_with(entries, |m| m)
}

fn encode_with(
    entries: &[(&str, Option<&[u8]>)],
    shape: impl Fn(EntryMeta) -> EntryMeta,
) -> (Vec<u8>, Vec<EntryMeta>) {
    encode_in(entries, shape, Layout::Descriptors)
}

/// Encodes in `layout`, applying the patches as an uploader would.
fn encode_in(
    entries: &[(&str, Option<&[u8]>)],
    shape: impl Fn(EntryMeta) -> EntryMeta,
    layout: Layout,
) -> (Vec<u8>, Vec<EntryMeta>) {
    let mut enc = ZipEncoder::with_layout(layout);
    let mut out = Vec::new();
    let mut metas = Vec::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        let kind = match data {
            Some(d) => EntryKind::File {
                size: d.len() as u64,
            },
            None => EntryKind::Directory,
        };
        let meta = shape(EntryMeta::new(
            name,
            kind,
            Some(1_700_000_000 + i as i64 * 7),
        ));
        metas.push(meta.clone());
        out.extend(enc.start_entry(meta).unwrap());
        if let Some(d) = data {
            for chunk in d.chunks(3) {
                out.extend_from_slice(&enc.write_data(chunk).unwrap());
            }
            let end = enc.finish_entry().unwrap();
            out.extend(end.bytes);
            for patch in &end.patches {
                patch.apply(&mut out, 0);
            }
        }
    }
    assert_eq!(enc.bytes_out(), out.len() as u64);
    out.extend(enc.finish().unwrap());
    (out, metas)
}

#[test]
fn a_reader_sees_every_entry_with_its_bytes() {
    let entries: &[(&str, Option<&[u8]>)] = &[
        ("hello.txt", Some(b"hello world")),
        ("empty.bin", Some(b"")),
        ("sub/", None),
        ("sub/中文 名字+%.txt", Some("内容".as_bytes())),
        ("😀.txt", Some(b"emoji")),
    ];
    let (bytes, metas) = encode(entries);
    assert_eq!(archive_size(&metas).unwrap(), Some(bytes.len() as u64));

    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), entries.len());
    for (i, (name, data)) in entries.iter().enumerate() {
        let mut f = archive.by_index(i).unwrap();
        assert_eq!(f.name(), *name);
        match data {
            Some(d) => {
                let mut got = Vec::new();
                f.read_to_end(&mut got).unwrap(); // checks the CRC too
                assert_eq!(&got, d);
                assert!(f.is_file());
            }
            None => assert!(f.is_dir()),
        }
    }
}

#[test]
fn a_patched_archive_reads_front_to_back_without_descriptors() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let entries: &[(&str, Option<&[u8]>)] = &[
        ("stored.txt", Some(b"hello world")),
        ("empty.bin", Some(b"")),
        ("sub/", None),
        ("sub/deflated.bin", Some(&big)),
    ];
    let (bytes, metas) = encode_in(
        entries,
        |m| match m.name.bytes.ends_with(b"deflated.bin") {
            true => m.with_method(Method::Deflate { level: 6 }),
            false => m,
        },
        Layout::Patched,
    );
    // Stored sizes are known in advance; deflated ones are not.
    assert!(archive_size_in(&metas[..2], Layout::Patched)
        .unwrap()
        .is_some());
    assert_eq!(archive_size_in(&metas, Layout::Patched).unwrap(), None);

    // Every local header: no descriptor flag, the CRC and sizes in place, version 1.0 for
    // stored files and folders and 2.0 for deflate.
    let mut at = 0;
    let mut versions = Vec::new();
    let mut reader = Cursor::new(&bytes);
    while let Some(mut f) = zip::read::read_zipfile_from_stream(&mut reader).unwrap() {
        let mut got = Vec::new();
        f.read_to_end(&mut got).unwrap(); // checks the CRC from the local header
        let (_, data) = entries.iter().find(|(n, _)| *n == f.name()).unwrap();
        assert_eq!(&got[..], data.unwrap_or(b""));
    }
    while at + 30 <= bytes.len() && bytes[at..at + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let u16_at = |o: usize| u16::from_le_bytes([bytes[at + o], bytes[at + o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(bytes[at + o..at + o + 4].try_into().unwrap());
        versions.push(u16_at(4));
        assert_eq!(u16_at(6) & 0x8, 0, "bit 3 at {at}");
        let (compressed, name, extra) = (u32_at(18) as usize, u16_at(26), u16_at(28));
        at += 30 + name as usize + extra as usize + compressed;
    }
    assert_eq!(versions, [10, 10, 10, 20]);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), entries.len());
    for (i, (_, data)) in entries.iter().enumerate() {
        let mut f = archive.by_index(i).unwrap();
        let mut got = Vec::new();
        f.read_to_end(&mut got).unwrap();
        assert_eq!(&got[..], data.unwrap_or(b""));
    }
}

#[test]
fn more_than_65535_entries_use_zip64_end_records() {
    let names: Vec<String> = (0..70_000).map(|i| format!("d/{i}.txt")).collect();
    let entries: Vec<(&str, Option<&[u8]>)> = names
        .iter()
        .map(|n| (n.as_str(), Some(&b"x"[..])))
        .collect();
    let (bytes, metas) = encode(&entries);
    assert_eq!(archive_size(&metas).unwrap(), Some(bytes.len() as u64));
    // the ZIP64 end-of-central-directory record is present
    assert!(bytes.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), 70_000);
    assert_eq!(archive.by_index(69_999).unwrap().name(), "d/69999.txt");
}

#[test]
fn a_size_that_changed_is_an_error_not_a_corrupt_archive() {
    let mut enc = ZipEncoder::new();
    enc.start_entry(EntryMeta::new("a", EntryKind::File { size: 2 }, None))
        .unwrap();
    enc.write_data(b"x").unwrap();
    assert!(enc.finish_entry().is_err());
    let mut enc = ZipEncoder::new();
    enc.start_entry(EntryMeta::new("a", EntryKind::File { size: 1 }, None))
        .unwrap();
    assert!(enc.write_data(b"xy").is_err());
}

#[test]
fn deflated_entries_read_back_and_shrink() {
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(2000);
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let entries: &[(&str, Option<&[u8]>)] = &[
        ("text.txt", Some(text.as_bytes())),
        ("empty", Some(b"")),
        ("noise.bin", Some(&noise)),
        ("d/", None),
    ];
    let (bytes, _) = encode_with(entries, |m| m.with_method(Method::Deflate { level: 6 }));
    assert!(
        bytes.len() < text.len() / 10 + noise.len() + 1000,
        "text did not shrink: {}",
        bytes.len()
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    for (name, data) in entries {
        let mut f = archive.by_name(name).unwrap();
        if let Some(d) = data {
            assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(&got, d, "{name}");
        }
    }
}

#[test]
fn gbk_names_are_gbk_bytes_without_the_utf8_flag() {
    let (bytes, metas) = encode_with(
        &[("报告/总结.txt", Some(b"x")), ("😀.txt", Some(b"y"))],
        |m| {
            let name = String::from_utf8(m.name.bytes.clone()).unwrap();
            m.with_name_encoding(&name, NameEncoding::Gbk)
        },
    );
    assert!(!metas[0].name.utf8_flag);
    assert!(
        metas[1].name.utf8_flag && metas[1].name.fell_back_to_utf8,
        "emoji stays UTF-8"
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let raw = archive.by_index(0).unwrap().name_raw().to_vec();
    assert_eq!(encoding_rs::GBK.decode(&raw).0, "报告/总结.txt");
    assert_eq!(archive.by_index(1).unwrap().name(), "😀.txt");
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Over random plans (names of every kind, sizes, counts, folders, both name encodings,
/// sizes and offsets past the ZIP64 thresholds), the size predicted before writing is
/// exactly the number of bytes written.
#[test]
fn predicted_size_is_the_real_size_over_random_plans() {
    const ALPHABET: &[&str] = &[
        "a", "B", "0", " ", "+", "%", ".", "中", "文", "😀", "é", "/",
    ];
    let zeros = vec![0u8; 1 << 20];
    let mut rng = Rng(0x5EED);
    let mut big_cases = 0;
    for case in 0..300 {
        let count = match rng.below(10) {
            0 => 0,
            1 => 66_000 + rng.below(500), // past the 65,535-entry limit
            _ => 1 + rng.below(40),
        };
        let gbk = rng.below(2) == 0;
        let mut metas = Vec::new();
        for i in 0..count {
            let mut name: String = (0..1 + rng.below(12))
                .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
                .collect();
            name = format!("{name}{i}");
            let kind = if rng.below(6) == 0 {
                name.push('/');
                EntryKind::Directory
            } else if count < 100 && big_cases < 3 && rng.below(40) == 0 {
                big_cases += 1;
                EntryKind::File {
                    size: (1 << 32) + rng.below(1 << 20),
                } // a ZIP64 entry
            } else {
                EntryKind::File {
                    size: rng.below(3000),
                }
            };
            let mtime = if rng.below(5) == 0 {
                None
            } else {
                Some(rng.below(5_000_000_000) as i64 - 100_000_000)
            };
            let mut meta = EntryMeta::new(&name, kind, mtime);
            if gbk {
                meta = meta.with_name_encoding(&name, NameEncoding::Gbk);
            }
            metas.push(meta);
        }
        let predicted = archive_size(&metas).unwrap().unwrap();
        let mut enc = ZipEncoder::new();
        let mut written = 0u64;
        for meta in &metas {
            let kind = meta.kind;
            written += enc.start_entry(meta.clone()).unwrap().len() as u64;
            if let EntryKind::File { size } = kind {
                let mut left = size;
                while left > 0 {
                    let n = left.min(zeros.len() as u64) as usize;
                    written += enc.write_data(&zeros[..n]).unwrap().len() as u64;
                    left -= n as u64;
                }
                written += enc.finish_entry().unwrap().bytes.len() as u64;
            }
        }
        written += enc.finish().unwrap().len() as u64;
        assert_eq!(predicted, written, "case {case}: {count} entries");
    }
    assert!(big_cases > 0, "no case crossed the 4 GiB entry size");
}
