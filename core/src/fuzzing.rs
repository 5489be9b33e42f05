//! Bodies of the fuzz targets (`fuzz/`), kept here so stable Rust replays the corpus as
//! tests (`core/tests/fuzz_corpus.rs`): each takes arbitrary bytes and panics only when an
//! invariant breaks.

use std::collections::HashSet;

use crate::plan::{entry_name, Folders, Plan, PlanOptions, Source};
use crate::zip::{EntryKind, NameEncoding, ZipEncoder};

/// Whatever the key and prefix, the name (if any) is safe to extract.
pub fn naming(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (key, prefix) = text.split_once('\u{1}').unwrap_or((&text, ""));
    let prefix = (!prefix.is_empty()).then_some(prefix);
    if let Some(name) = entry_name(key, prefix) {
        assert_safe(&name);
    }
}

/// Whatever the listing, the plan's names are safe, distinct, never both a file and a
/// folder, and the predicted archive size is what the encoder writes.
pub fn plan(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let flags = lines.next().unwrap_or("").as_bytes();
    let mut opts = PlanOptions::default();
    if flags.first().is_some_and(|b| b & 1 == 1) {
        opts.folders = Folders::All;
    }
    if flags.get(1).is_some_and(|b| b & 1 == 1) {
        opts.name_encoding = NameEncoding::Gbk;
    }
    let base: std::sync::Arc<str> = lines.next().unwrap_or("").into();
    let sources: Vec<Source> = lines
        .take(300)
        .enumerate()
        .map(|(i, key)| Source {
            key: key.to_string(),
            size: (i % 7) as u64,
            mtime_unix: Some(i as i64 * 1000),
            base: base.clone(),
            name: None,
            etag: None,
        })
        .collect();
    let plan = Plan::build(sources, &opts);

    let mut names = HashSet::new();
    for e in &plan.entries {
        assert_safe(e.name());
        assert!(
            names.insert(e.name().to_string()),
            "duplicate name {:?}",
            e.name()
        );
    }
    for e in plan
        .entries
        .iter()
        .filter(|e| e.kind != EntryKind::Directory)
    {
        assert!(
            !names.contains(&format!("{}/", e.name())),
            "{:?} is a file and a folder",
            e.name()
        );
        let mut parent = e.name();
        while let Some((p, _)) = parent.rsplit_once('/') {
            assert!(
                !plan
                    .entries
                    .iter()
                    .any(|f| f.kind != EntryKind::Directory && f.name() == p),
                "{p:?} is a file and a folder"
            );
            parent = p;
        }
    }

    let predicted = plan.archive_size().expect("names fit").expect("stored");
    let mut enc = ZipEncoder::new();
    let mut written = 0u64;
    for e in &plan.entries {
        written += enc.start_entry(e.meta()).expect("start").len() as u64;
        if let EntryKind::File { size } = e.kind {
            written += enc
                .write_data(&vec![b'x'; size as usize])
                .expect("data")
                .len() as u64;
            written += enc.finish_entry().expect("finish").bytes.len() as u64;
        }
    }
    written += enc.finish().expect("end").len() as u64;
    assert_eq!(predicted, written);
}

fn assert_safe(name: &str) {
    let path = name.trim_end_matches('/');
    assert!(!path.is_empty(), "empty name");
    assert!(!name.starts_with('/'), "absolute: {name:?}");
    assert!(!name.contains('\\'), "backslash: {name:?}");
    assert!(
        !name.chars().any(|c| c.is_ascii_control()),
        "control character: {name:?}"
    );
    for seg in path.split('/') {
        assert!(
            !seg.is_empty() && seg != "." && seg != "..",
            "bad segment in {name:?}"
        );
    }
    let first = path.split('/').next().unwrap_or("");
    assert!(
        !(first.len() >= 2
            && first.as_bytes()[1] == b':'
            && first.as_bytes()[0].is_ascii_alphabetic()),
        "drive letter: {name:?}"
    );
}
