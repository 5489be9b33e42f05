//! The `zip-pack` export called directly (as an embedding host would), against moto's S3
//! server: folder-marker keys, which s3s-fs cannot hold, become folder entries.

use zip_oss_tests::moto::Moto;
use zip_oss_tests::readers::{check_archive, Manifest};
use zip_oss_tests::{get, save};

#[test]
fn folder_markers_become_folders_through_the_export() {
    let moto = Moto::start();
    moto.create_bucket("moto-bkt");
    moto.put("moto-bkt", "p/", b"");
    moto.put("moto-bkt", "p/empty-folder/", b"");
    moto.put("moto-bkt", "p/docs/", b"");
    moto.put("moto-bkt", "p/docs/a.txt", b"alpha");
    moto.put("moto-bkt", "p/中文 +%.txt", "内容".as_bytes());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime = rt
        .block_on(async { zip_oss::Runtime::new(zip_oss::RuntimeOptions::default()) })
        .unwrap();
    let settings = zip_oss::StoreSettings::s3_path_style(moto.endpoint(), "AK", "SK");
    let mut request = zip_oss::pack::request("moto-bkt");
    request.source_dirs = vec!["p/".into()];
    request.dest_file = Some("zips/p.zip".into());
    let summary = rt
        .block_on(runtime.pack(&settings.store_config().unwrap(), &request))
        .unwrap()
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(summary.entries, 4);
    assert_eq!(summary.key, "zips/p.zip");

    let dir = tempfile::tempdir().unwrap();
    let zip = get(&summary.url);
    assert_eq!(zip.status, 200);
    assert_eq!(zip.body.len() as u64, summary.archive_bytes);
    let zip_path = save(dir.path(), "p.zip", &zip.body);
    let a = save(dir.path(), "a.txt", b"alpha");
    let c = save(dir.path(), "c.txt", "内容".as_bytes());
    let manifest: Manifest = [
        ("empty-folder/".to_string(), None),
        ("docs/".to_string(), None),
        ("docs/a.txt".to_string(), Some(a)),
        ("中文 +%.txt".to_string(), Some(c)),
    ]
    .into_iter()
    .collect();
    check_archive(&zip_path, &manifest);
}
