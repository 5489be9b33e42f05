//! The compatibility suite: a fixture of everything that breaks archives elsewhere — CJK and
//! emoji names, spaces and `+`/`%`, empty files, empty folders, duplicate names, a file that
//! clashes with a folder, hostile keys (`..`, backslashes, drive letters, control
//! characters), data that should and should not be compressed — packed through the
//! component in every compression mode and judged by five independent readers, extraction
//! compared byte for byte with nothing landing outside the extraction folder.
//!
//! It runs against moto's S3 server, which (unlike s3s-fs) stores any key as given.

use std::path::PathBuf;
use std::process::Command;

use zip_oss::bindings::{Compression, NameEncoding, PackRequest, PackSummary};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::readers::{check_gbk_archive, check_uploaded_archive, Manifest};
use zip_oss_tests::{get, noise, save};

const BUCKET: &str = "compat-bkt";

/// `(key, data)`; keys ending in `/` are folder markers.
fn fixture() -> Vec<(String, Vec<u8>)> {
    let text = "zip-oss packs folders. ".repeat(5000).into_bytes();
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &noise(40_000, 1)].concat();
    let items: Vec<(&str, Vec<u8>)> = vec![
        ("c/", vec![]),
        ("c/readme.txt", b"read me\n".to_vec()),
        ("c/中文目录/报告 2024.txt", "年度报告".as_bytes().to_vec()),
        ("c/日本語/ファイル.txt", "ファイル".as_bytes().to_vec()),
        ("c/emoji 😀/🎉.txt", b"party".to_vec()),
        ("c/space and+plus%25.txt", b"symbols".to_vec()),
        ("c/empty.txt", vec![]),
        ("c/empty-folder/", vec![]),
        ("c/nested/", vec![]),
        ("c/nested/deeper/", vec![]),
        ("c/dup/a.txt", b"first".to_vec()),
        ("c/dup//a.txt", b"second".to_vec()),
        ("c/clash", b"a file named like a folder".to_vec()),
        ("c/clash/inner.txt", b"inside the folder".to_vec()),
        ("c/../escape.txt", b"tried to escape".to_vec()),
        ("c/a\\..\\..\\win.txt", b"backslashes".to_vec()),
        ("c/C:\\drive.txt", b"drive letter".to_vec()),
        ("c/ctl\u{1}char.txt", b"control character".to_vec()),
        ("c/./dot.txt", b"dot segment".to_vec()),
        ("c/text.txt", text),
        ("c/image.png", png),
        ("c/photo.jpg", noise(30_000, 2)),
        (
            "c/looks-like.bin",
            [b"PK\x03\x04".as_slice(), &noise(20_000, 3)].concat(),
        ),
    ];
    items.into_iter().map(|(k, d)| (k.to_string(), d)).collect()
}

/// The entry each fixture key must become (the naming rules in README.md).
fn expected_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "c/" => return None,
        "c/readme.txt" => "readme.txt",
        "c/中文目录/报告 2024.txt" => "中文目录/报告 2024.txt",
        "c/日本語/ファイル.txt" => "日本語/ファイル.txt",
        "c/emoji 😀/🎉.txt" => "emoji 😀/🎉.txt",
        "c/space and+plus%25.txt" => "space and+plus%25.txt",
        "c/empty.txt" => "empty.txt",
        "c/empty-folder/" => "empty-folder/",
        "c/nested/" => "nested/",
        "c/nested/deeper/" => "nested/deeper/",
        // Listing order is key order, and `c/dup//a.txt` sorts first.
        "c/dup//a.txt" => "dup/a.txt",
        "c/dup/a.txt" => "dup/a (2).txt",
        "c/clash" => "clash (2)",
        "c/clash/inner.txt" => "clash/inner.txt",
        "c/../escape.txt" => "escape.txt",
        "c/a\\..\\..\\win.txt" => "a/win.txt",
        "c/C:\\drive.txt" => "C_/drive.txt",
        "c/ctl\u{1}char.txt" => "ctl_char.txt",
        "c/./dot.txt" => "dot.txt",
        "c/text.txt" => "text.txt",
        "c/image.png" => "image.png",
        "c/photo.jpg" => "photo.jpg",
        "c/looks-like.bin" => "looks-like.bin",
        other => panic!("no expectation for {other:?}"),
    })
}

struct Suite {
    moto: Moto,
    rt: tokio::runtime::Runtime,
    runtime: zip_oss::Runtime,
    dir: tempfile::TempDir,
    manifest: Manifest,
}

impl Suite {
    fn start() -> Suite {
        let moto = Moto::start();
        moto.create_bucket(BUCKET);
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::new();
        for (key, data) in fixture() {
            moto.put(BUCKET, &key, &data);
            if let Some(name) = expected_name(&key) {
                let source = if name.ends_with('/') {
                    None
                } else {
                    Some(save(dir.path(), &format!("src-{}", manifest.len()), &data))
                };
                manifest.insert(name.to_string(), source);
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let runtime = rt
            .block_on(async { zip_oss::Runtime::new(zip_oss::RuntimeOptions::default()) })
            .unwrap();
        Suite {
            moto,
            rt,
            runtime,
            dir,
            manifest,
        }
    }

    fn request(&self, dest: &str) -> PackRequest {
        let mut r = zip_oss::pack::request(BUCKET);
        r.source_dirs = vec!["c/".into()];
        r.dest_file = Some(dest.into());
        r
    }

    fn pack(&self, request: &PackRequest) -> (PackSummary, PathBuf) {
        let settings = zip_oss::StoreSettings::s3_path_style(self.moto.endpoint(), "AK", "SK");
        let summary = self
            .rt
            .block_on(
                self.runtime
                    .pack(&settings.store_config().unwrap(), request),
            )
            .unwrap()
            .unwrap_or_else(|e| panic!("{e:?}"));
        let zip = get(&summary.url);
        assert_eq!(zip.status, 200);
        assert_eq!(zip.body.len() as u64, summary.archive_bytes);
        let path = save(
            self.dir.path(),
            request.dest_file.as_deref().unwrap(),
            &zip.body,
        );
        (summary, path)
    }
}

/// `name → compression method` as Python's zipfile reads it (0 stored, 8 deflated).
fn methods(zip: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    let out = Command::new("python3")
        .args(["-c", "import sys, json, zipfile; print(json.dumps({i.filename: i.compress_type for i in zipfile.ZipFile(sys.argv[1]).infolist()}))"])
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_mode_opens_everywhere() {
    let suite = Suite::start();

    // Stored (the default): the size is predicted exactly, and the same objects give the same bytes.
    let (stored, stored_zip) = suite.pack(&suite.request("stored.zip"));
    check_uploaded_archive(&stored_zip, &suite.manifest);
    let renamed: Vec<(String, String)> = stored.renamed.clone();
    assert!(
        renamed.contains(&("c/dup/a.txt".into(), "dup/a (2).txt".into())),
        "{renamed:?}"
    );
    assert!(
        renamed.contains(&("c/clash".into(), "clash (2)".into())),
        "{renamed:?}"
    );
    let (_, again) = suite.pack(&suite.request("stored-again.zip"));
    assert_eq!(
        std::fs::read(&stored_zip).unwrap(),
        std::fs::read(&again).unwrap(),
        "same objects, same bytes"
    );
    assert!(methods(&stored_zip).values().all(|m| *m == 0));

    // Deflate: everything compressed, the text to a fraction.
    let mut deflate = suite.request("deflate.zip");
    deflate.compression = Compression::Deflate;
    deflate.compression_level = Some(9);
    let (d, deflate_zip) = suite.pack(&deflate);
    check_uploaded_archive(&deflate_zip, &suite.manifest);
    assert!(
        d.archive_bytes < stored.archive_bytes - 100_000,
        "{} vs {}",
        d.archive_bytes,
        stored.archive_bytes
    );
    assert_eq!(methods(&deflate_zip)["image.png"], 8);

    // Auto: compressed formats stored (by extension, and by leading bytes), the rest deflated.
    let mut auto = suite.request("auto.zip");
    auto.compression = Compression::Auto;
    let (_, auto_zip) = suite.pack(&auto);
    check_uploaded_archive(&auto_zip, &suite.manifest);
    let m = methods(&auto_zip);
    assert_eq!((m["text.txt"], m["readme.txt"]), (8, 8), "{m:?}");
    assert_eq!(
        (m["image.png"], m["photo.jpg"], m["looks-like.bin"]),
        (0, 0, 0),
        "{m:?}"
    );

    // Every folder as an entry.
    let mut all = suite.request("folders.zip");
    all.all_folders = true;
    let (_, folders_zip) = suite.pack(&all);
    let mut manifest = suite.manifest.clone();
    for name in [
        "中文目录/",
        "日本語/",
        "emoji 😀/",
        "dup/",
        "clash/",
        "a/",
        "C_/",
    ] {
        manifest.insert(name.into(), None);
    }
    check_uploaded_archive(&folders_zip, &manifest);

    // GBK names: the name field is GBK (what Chinese Windows tools read), the Unicode Path
    // field keeps UTF-8; names GBK cannot hold (emoji) stay UTF-8 and are reported.
    let mut gbk = suite.request("gbk.zip");
    gbk.name_encoding = NameEncoding::Gbk;
    let (g, gbk_zip) = suite.pack(&gbk);
    check_gbk_archive(&gbk_zip, &suite.manifest);
    assert_eq!(
        g.utf8_fallbacks,
        ["emoji 😀/🎉.txt"],
        "{:?}",
        g.utf8_fallbacks
    );
    let bytes = std::fs::read(&gbk_zip).unwrap();
    let gbk_name = encoding_rs::GBK
        .encode("中文目录/报告 2024.txt")
        .0
        .into_owned();
    assert!(
        bytes
            .windows(gbk_name.len())
            .any(|w| w == gbk_name.as_slice()),
        "no GBK name bytes in the archive"
    );
}
