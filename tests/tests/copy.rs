//! Copy, don't carry (issue 12): packs of large objects have the store copy their middles
//! into the archive (`UploadPartCopy`) instead of reading and uploading them, and the
//! archive is byte for byte the one a pack without copy writes.
//!
//! Against the embedded S3 store (objects put through its API, so it keeps their
//! CRC-64/NVME, as S3 does) and against the OSS protocol gateway over moto. The first pack
//! has zip-oss's host hash each large object for its CRC-32 (its bytes never enter the
//! component), copies, and leaves records of the CRC-32s under `crc_records`; the second
//! copies by the records alone; a pack with `"copy": false` gives the reference. A changed
//! object's record is ignored: it is hashed again.

use zip_oss::settings::{ProviderKind, StoreSettings};
use zip_oss_core::store::{Bucket, ListObjectsV2, Provider};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::readers::{check_uploaded_archive, manifest_under, Manifest};
use zip_oss_tests::{noise, now, save, Answer, Env, BUCKET};

const RECORDS: &str = ".zip-oss/crc/";
const MIB: usize = 1 << 20;

/// Three large objects and a small one under `big/`.
fn files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("big/a.bin".into(), noise(16 * MIB + 123, 1)),
        ("big/b.bin".into(), noise(20 * MIB + 7, 2)),
        ("big/c.bin".into(), noise(11 * MIB, 3)),
        ("big/small.txt".into(), b"small".to_vec()),
    ]
}

fn body(dest: &str, copy: bool) -> String {
    format!(
        r#"{{"bucket":"{BUCKET}","source-dir":"big/","dest-file":"{dest}","compression":"stored","copy":{copy}}}"#
    )
}

fn summary(answer: &Answer) -> serde_json::Value {
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

fn n(summary: &serde_json::Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field}: {summary}"))
}

/// The archive a summary links to.
fn fetch(summary: &serde_json::Value) -> Vec<u8> {
    let zip = zip_oss_tests::get(summary["url"].as_str().unwrap());
    assert_eq!(zip.status, 200, "{}", zip.text());
    zip.body
}

/// The first (hashed) and second (by records) packs' archives, each the reference's byte
/// for byte; the second's.
fn both_as_the_reference(
    first: &serde_json::Value,
    second: &serde_json::Value,
    reference: &serde_json::Value,
) -> Vec<u8> {
    let reference = fetch(reference);
    assert!(
        fetch(first) == reference,
        "the hashed, copied archive differs"
    );
    let copied = fetch(second);
    assert!(copied == reference, "the copied archive differs");
    copied
}

#[test]
fn a_second_pack_copies_large_objects_on_s3_and_writes_the_same_archive() {
    let env = Env::with_settings(|s| s.crc_records = Some(RECORDS.into()));
    let files = files();
    let paths = env.put_objects(&files);
    let manifest = manifest_under(&paths, "big/");
    let large: u64 = files
        .iter()
        .map(|(_, d)| d.len() as u64)
        .filter(|n| *n > 10 << 20)
        .sum();

    // No record yet: the host hashes each large object (the store's CRC-64 of it
    // agreeing), and the store copies it.
    let first = summary(&env.post(&body("output/first.zip", true), true));
    // The records are there now, one per large object, none of them packed.
    let bucket = Bucket::new(BUCKET).unwrap();
    let list = ListObjectsV2::new(&bucket, RECORDS).sign(&env.direct_config(), now());
    let listed = ListObjectsV2::parse(&env.store_request(list).body, Provider::S3).unwrap();
    assert_eq!(listed.objects.len(), 3, "{:?}", listed.objects);

    let second = summary(&env.post(&body("output/second.zip", true), true));
    let reference = summary(&env.post(&body("output/reference.zip", false), true));
    assert_eq!(n(&reference, "copied_bytes"), 0);
    assert_eq!(n(&reference, "bytes_read"), large + 5);
    // The first pack's host read each large object whole to hash it; the records spared
    // the second that traffic, and a pack without copy hashes nothing.
    assert_eq!(n(&first, "hashed_bytes"), large, "{first}");
    assert_eq!(n(&second, "hashed_bytes"), 0, "{second}");
    assert_eq!(n(&reference, "hashed_bytes"), 0, "{reference}");
    for pack in [&first, &second] {
        assert_eq!(n(pack, "copied_objects"), 3, "{pack}");
        // Only the first one's head (S3's 5 MiB minimum part) and the small file were
        // carried: seams join a to b and b to c, copying each one's last 5 MiB with the
        // next header into a scratch object the archive copies.
        assert_eq!(n(pack, "copied_bytes"), large - 5 * MIB as u64, "{pack}");
        assert_eq!(n(pack, "bytes_read"), 5 * MIB as u64 + 5, "{pack}");
        // The store's CRC-64 of each object covers the heads: all verified.
        assert_eq!(n(pack, "verified_objects"), 4, "{pack}");
        assert_eq!(pack["checksum"], reference["checksum"]);
    }

    let copied = both_as_the_reference(&first, &second, &reference);
    let path = save(env.dir.path(), "second.zip", &copied);
    check_uploaded_archive(&path, &manifest);
    // No scratch object or upload is left.
    assert!(env.open_uploads().is_empty());
    let list = ListObjectsV2::new(&bucket, "output/").sign(&env.direct_config(), now());
    let listed = ListObjectsV2::parse(&env.store_request(list).body, Provider::S3).unwrap();
    let keys: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "output/first.zip",
            "output/reference.zip",
            "output/second.zip"
        ]
    );

    // An object replaced since: its record no longer describes it (its old CRC-32 in the
    // archive would not match its bytes), so the host hashes it again, and its record is
    // written anew.
    let record_of_b = |env: &Env| {
        let key = zip_oss_core::pack::record_key(RECORDS, "big/b.bin");
        let key = zip_oss_core::store::ObjectKey::new(key).unwrap();
        let get = zip_oss_core::store::GetObject::new(&bucket, &key);
        env.store_request(get.sign(&env.direct_config(), now()))
            .body
    };
    let before = record_of_b(&env);
    let changed = vec![("big/b.bin".to_string(), noise(20 * MIB + 7, 9))];
    let paths = env.put_objects(&changed);
    let mut manifest = manifest;
    manifest.extend(manifest_under(&paths, "big/"));
    let third = summary(&env.post(&body("output/third.zip", true), true));
    assert_eq!(n(&third, "copied_objects"), 3, "{third}");
    assert_eq!(n(&third, "bytes_read"), 5 * MIB as u64 + 5, "{third}");
    // Only the replaced object is hashed again.
    assert_eq!(n(&third, "hashed_bytes"), 20 * MIB as u64 + 7, "{third}");
    assert_ne!(record_of_b(&env), before, "the record of b is written anew");
    let reference = summary(&env.post(&body("output/third-reference.zip", false), true));
    let copied = fetch(&third);
    assert!(copied == fetch(&reference), "the copied archive differs");
    let path = save(env.dir.path(), "third.zip", &copied);
    check_uploaded_archive(&path, &manifest);
}

/// The host's hashing of an object is a read like any other: cut, it is sent again; a byte
/// flipped on the way makes its CRC-64 contradict the store's, and it is hashed once more.
/// Either way the object is copied and the archive right. Flipped twice, the pack fails as
/// a read flipped twice does, and leaves nothing behind.
#[test]
fn a_hashing_cut_or_flipped_is_sent_again_and_flipped_twice_fails() {
    let size = 12 * MIB;
    for (fault, times) in [
        (Fault::CutBodyAfter(5 * MIB), 2),
        (Fault::FlipResponseByte, 1),
        (Fault::FlipResponseByte, 2),
    ] {
        let flipped = matches!(fault, Fault::FlipResponseByte);
        let env = Env::new();
        let files = vec![("big/a.bin".to_string(), noise(size, 5))];
        let paths = env.put_objects(&files);
        // The hashings, not the head's reads, which now go on beside them.
        env.proxy.add_whole(Rule {
            method: "GET",
            contains: vec!["/bkt/big/a.bin".into()],
            fault,
            times,
        });
        let answer = env.post(&body("output/a.zip", true), true);
        assert_eq!(env.proxy.faulted(), times, "{:#?}", env.proxy.log());
        // The object is under the hashing's range: hashed whole, its head read in ranges.
        let hashings = env.proxy.count_whole("GET", "a.bin");
        if flipped && times == 2 {
            assert_eq!(answer.status, 502, "{}", answer.text());
            let error: serde_json::Value = answer.json();
            assert_eq!(error["error"]["code"], "ChecksumMismatch", "{error}");
            // Hashed twice; nothing left.
            assert_eq!(hashings, 2, "{:#?}", env.proxy.log());
            assert!(!env.object_exists("output/a.zip"));
            assert_eq!(env.open_uploads(), Vec::<String>::new());
            continue;
        }
        let packed = summary(&answer);
        // Hashed again after the cuts or the flip; only the head read.
        assert_eq!(hashings, times + 1, "{:#?}", env.proxy.log());
        assert_eq!(n(&packed, "copied_objects"), 1, "{packed}");
        assert_eq!(n(&packed, "bytes_read"), 5 * MIB as u64, "{packed}");
        assert_eq!(n(&packed, "rereads"), u64::from(flipped), "{packed}");
        // Counted when hashed whole: twice where flipped, once where the cuts came first.
        let whole = 1 + u64::from(flipped);
        assert_eq!(n(&packed, "hashed_bytes"), whole * size as u64, "{packed}");
        assert_eq!(n(&packed, "verified_objects"), 1, "{packed}");
        let path = save(env.dir.path(), "a.zip", &fetch(&packed));
        check_uploaded_archive(&path, &manifest_under(&paths, "big/"));
    }
}

/// `auto`, first pack: each large object's first 64 KiB are read and sniffed before the
/// choice, as the writer would. The incompressible one is stored, so hashed and copied;
/// the compressible one is deflated and carried; the archive is the one without copy,
/// and the next pack copies by the records (which say what the sniff chose).
#[test]
fn an_auto_pack_copies_what_its_sniff_stores() {
    let env = Env::with_settings(|s| s.crc_records = Some(RECORDS.into()));
    let text: Vec<u8> = (0..12 * MIB).map(|i| b"abcdefgh\n"[i % 9]).collect();
    let files = vec![
        ("big/noise.bin".to_string(), noise(12 * MIB, 7)),
        ("big/text.log".to_string(), text),
    ];
    let paths = env.put_objects(&files);
    let auto = |dest: &str, copy: bool| {
        format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"big/","dest-file":"{dest}","compression":"auto","copy":{copy}}}"#
        )
    };
    let first = summary(&env.post(&auto("output/first.zip", true), true));
    assert_eq!(n(&first, "copied_objects"), 1, "{first}");
    // The noise's head (S3's 5 MiB) and the whole text, read.
    assert_eq!(
        n(&first, "bytes_read"),
        (5 * MIB + 12 * MIB) as u64,
        "{first}"
    );
    let second = summary(&env.post(&auto("output/second.zip", true), true));
    assert_eq!(n(&second, "copied_objects"), 1, "{second}");
    let reference = summary(&env.post(&auto("output/reference.zip", false), true));
    let copied = both_as_the_reference(&first, &second, &reference);
    let path = save(env.dir.path(), "second.zip", &copied);
    check_uploaded_archive(&path, &manifest_under(&paths, "big/"));
}

/// An object past the host's hashing range (16 MiB) is hashed in ranges at once, their
/// CRCs combined, and copied.
#[test]
fn a_large_object_is_hashed_in_ranges() {
    let env = Env::new();
    let size = 16 * MIB + 3;
    let paths = env.put_objects(&[("big/a.bin".to_string(), noise(size, 6))]);
    let packed = summary(&env.post(&body("output/a.zip", true), true));
    assert_eq!(n(&packed, "copied_objects"), 1, "{packed}");
    assert_eq!(n(&packed, "bytes_read"), 5 * MIB as u64, "{packed}");
    assert_eq!(n(&packed, "verified_objects"), 1, "{packed}");
    assert_eq!(n(&packed, "hashed_bytes"), size as u64, "{packed}");
    // Two ranges hashed, then the head in three 2 MiB ranges.
    assert_eq!(
        env.proxy.count("GET", "a.bin"),
        2 + 3,
        "{:#?}",
        env.proxy.log()
    );
    let path = save(env.dir.path(), "a.zip", &fetch(&packed));
    check_uploaded_archive(&path, &manifest_under(&paths, "big/"));
}

/// OSS keeps only a CRC-64 per object: the records are what make copying possible.
#[test]
fn a_second_pack_copies_large_objects_on_oss() {
    let moto = Moto::start_for_oss();
    moto.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::new();
    for (i, (key, data)) in files().into_iter().enumerate() {
        moto.put(BUCKET, &key, &data);
        manifest.insert(
            key.strip_prefix("big/").unwrap().to_string(),
            Some(save(dir.path(), &format!("src{i}"), &data)),
        );
    }
    let gateway = OssGateway::start(&moto.endpoint(), "AK", "SK", None);
    let settings = StoreSettings {
        provider: ProviderKind::Oss,
        endpoint: Some(gateway.endpoint()),
        region: "cn-shanghai".into(),
        path_style: true,
        access_key_id: Some("AK".into()),
        access_key_secret: Some("SK".into()),
        crc_records: Some(RECORDS.into()),
        ..StoreSettings::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, server) = rt.block_on(zip_oss_tests::serve_open(&settings));
    let post = |body: String| {
        let req = ureq::AgentBuilder::new()
            .redirects(0)
            .build()
            .post(&format!("http://{addr}/"))
            .set("accept", "application/json");
        zip_oss_tests::answer(req.send_string(&body))
    };

    // Hashed by the host, then copied; then copied by the records the first pack left.
    let first = summary(&post(body("output/first.zip", true)));
    let second = summary(&post(body("output/second.zip", true)));
    let reference = summary(&post(body("output/reference.zip", false)));
    let total: u64 = files().iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(n(&reference, "bytes_read"), total, "{reference}");
    // The three large objects hashed whole by the first pack's host; none by the others.
    assert_eq!(n(&first, "hashed_bytes"), total - 5, "{first}");
    assert_eq!(n(&second, "hashed_bytes"), 0, "{second}");
    assert_eq!(n(&reference, "hashed_bytes"), 0, "{reference}");
    for pack in [&first, &second] {
        assert_eq!(n(pack, "copied_objects"), 3, "{pack}");
        // OSS's minimum part is 100 KB: heads of 128 KiB.
        let heads = 3 * (128 << 10);
        assert_eq!(n(pack, "bytes_read"), heads + 5, "{pack}");
        assert!(
            n(pack, "bytes_read") * 100 <= total * 5,
            "more than 5% carried: {pack}"
        );
        assert_eq!(n(pack, "verified_objects"), 4, "{pack}");
        assert_eq!(pack["checksum"], reference["checksum"]);
    }
    let copied = both_as_the_reference(&first, &second, &reference);
    let path = save(dir.path(), "oss-second.zip", &copied);
    check_uploaded_archive(&path, &manifest);
    rt.block_on(server.shutdown());
}
