//! The encoder's output read back by an independent reader (the `zip` crate), and the
//! predicted archive size checked against the bytes actually written.

use std::io::{Cursor, Read};

use zip_oss_core::zip::{archive_size, EntryKind, EntryMeta, ZipEncoder};

/// Encodes `(name, Some(data) | None for a folder)` and returns the archive.
fn encode(entries: &[(&str, Option<&[u8]>)]) -> (Vec<u8>, Vec<EntryMeta>) {
    let mut enc = ZipEncoder::new();
    let mut out = Vec::new();
    let mut metas = Vec::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        let kind = match data {
            Some(d) => EntryKind::File {
                size: d.len() as u64,
            },
            None => EntryKind::Directory,
        };
        let meta = EntryMeta::new(name, kind, Some(1_700_000_000 + i as i64 * 7));
        metas.push(meta.clone());
        out.extend(enc.start_entry(meta).unwrap());
        if let Some(d) = data {
            for chunk in d.chunks(3) {
                enc.write_data(chunk).unwrap();
                out.extend_from_slice(chunk);
            }
            out.extend(enc.finish_entry().unwrap());
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
    assert_eq!(archive_size(&metas).unwrap(), bytes.len() as u64);

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
fn more_than_65535_entries_use_zip64_end_records() {
    let names: Vec<String> = (0..70_000).map(|i| format!("d/{i}.txt")).collect();
    let entries: Vec<(&str, Option<&[u8]>)> = names
        .iter()
        .map(|n| (n.as_str(), Some(&b"x"[..])))
        .collect();
    let (bytes, metas) = encode(&entries);
    assert_eq!(archive_size(&metas).unwrap(), bytes.len() as u64);
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
