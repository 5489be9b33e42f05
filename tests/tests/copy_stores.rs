//! The test stores copy parts as the real services do (UploadPartCopy, "copy, don't carry"):
//!
//! - the embedded S3 store: the copied range is the part, pinned to the source's ETag
//!   (`x-amz-copy-source-if-match`: `412`, nothing stored), its CRC-64/NVME in
//!   `<CopyPartResult>` and ListParts, and in the full-object checksum Complete checks and
//!   states; a range past the source is `400 InvalidArgument`, a missing source `404`; a
//!   part but the last under 5 MiB is `400 EntityTooSmall` at Complete, copied or not;
//! - the OSS gateway over moto: the same copy in OSS's shapes, `x-oss-copy-source-if-match`
//!   checked (moto ignores it), the part's CRC-64 in ListParts' `HashCrc64ecma` and in
//!   Complete's `x-oss-hash-crc64ecma`, none on the copy's answer (OSS states none).
//!
//! Requests are core's builders (`UploadPartCopy` included), sent with a plain client; the
//! expected CRCs come from `zip_oss_tests::crc`.

use zip_oss_core::store::checksum::{Algorithm, Checksum};
use zip_oss_core::store::{
    Bucket, CompleteMultipartUpload, CompletedPart, CreateMultipartUpload, GetObject, HeadObject,
    HttpRequest, ListMultipartUploads, ListParts, ListedPart, ObjectKey, Provider, PutObject,
    StoreConfig, UploadPart, UploadPartCopy,
};
use zip_oss_tests::crc::{b64, crc64nvme, crc64xz};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::{answer, noise, now, Answer, Env};

const MIB: usize = 1 << 20;

fn send(req: HttpRequest, body: &[u8]) -> Answer {
    let mut r = ureq::request(req.method, &req.url);
    for (k, v) in &req.headers {
        r = r.set(k, v);
    }
    answer(if req.method == "PUT" || req.method == "POST" {
        r.send_bytes(body)
    } else {
        r.call()
    })
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {text}"))
        + open.len();
    text[start..][..text[start..].find(close).unwrap()].to_string()
}

/// The error code of an answer, and its status.
fn error(a: &Answer) -> (u16, String) {
    (a.status, between(&a.text(), "<Code>", "</Code>"))
}

/// One store under test, through core's builders.
struct Store {
    cfg: StoreConfig,
    bucket: Bucket,
}

impl Store {
    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(name).unwrap()
    }

    /// `bucket` through the OSS gateway, as OSS (path-style, signed V4 with `AK`/`SK`).
    fn oss(gateway: &OssGateway, bucket: &str) -> Store {
        Store {
            cfg: gateway.config("AK", "SK"),
            bucket: Bucket::new(bucket).unwrap(),
        }
    }

    fn create(&self, key: &ObjectKey) -> String {
        let mut create = CreateMultipartUpload::new(&self.bucket, key);
        if self.cfg.provider == Provider::S3 {
            create = create.full_object_checksum(Algorithm::Crc64Nvme);
        }
        let a = send(create.sign(&self.cfg, now()), b"");
        assert_eq!(a.status, 200, "{}", a.text());
        CreateMultipartUpload::parse(&a.body).unwrap()
    }

    /// UploadPart (with its CRC-64/NVME on S3, as zip-oss sends it).
    fn upload(&self, key: &ObjectKey, id: &str, n: u32, body: &[u8]) -> CompletedPart {
        let sum = Checksum::crc(Algorithm::Crc64Nvme, crc64nvme(body));
        let mut part = UploadPart::new(&self.bucket, key, id, n, body.len() as u64);
        if self.cfg.provider == Provider::S3 {
            part = part.checksum(&sum);
        }
        let a = send(part.sign(&self.cfg, now()), body);
        assert_eq!(a.status, 200, "UploadPart {n}: {}", a.text());
        CompletedPart {
            part_number: n,
            etag: a.headers["etag"].clone(),
            checksum: (self.cfg.provider == Provider::S3).then_some(sum),
        }
    }

    /// UploadPartCopy of `source[range]`, pinned to `etag`.
    fn copy(
        &self,
        key: &ObjectKey,
        id: &str,
        n: u32,
        source: &ObjectKey,
        range: (u64, u64),
        etag: Option<&str>,
    ) -> Answer {
        let mut copy = UploadPartCopy::new(&self.bucket, key, id, n, source, range);
        if let Some(etag) = etag {
            copy = copy.if_match(etag);
        }
        send(copy.sign(&self.cfg, now()), b"")
    }

    fn parts(&self, key: &ObjectKey, id: &str) -> Vec<ListedPart> {
        let a = send(
            ListParts::new(&self.bucket, key, id).sign(&self.cfg, now()),
            b"",
        );
        assert_eq!(a.status, 200, "ListParts: {}", a.text());
        ListParts::parse(&a.body).unwrap().parts
    }

    fn complete(&self, key: &ObjectKey, id: &str, parts: &[CompletedPart], whole: &[u8]) -> Answer {
        let sum = Checksum::crc(Algorithm::Crc64Nvme, crc64nvme(whole));
        let mut complete = CompleteMultipartUpload::new(&self.bucket, key, id, parts);
        if self.cfg.provider == Provider::S3 {
            complete = complete.checksum(&sum);
        }
        send(complete.sign(&self.cfg, now()), complete.body().as_bytes())
    }

    fn get(&self, key: &ObjectKey) -> Answer {
        let a = send(
            GetObject::new(&self.bucket, key).sign(&self.cfg, now()),
            b"",
        );
        assert_eq!(a.status, 200, "GetObject: {}", a.text());
        a
    }

    fn etag(&self, key: &ObjectKey) -> String {
        let a = send(
            HeadObject::new(&self.bucket, key).sign(&self.cfg, now()),
            b"",
        );
        assert_eq!(a.status, 200);
        a.headers["etag"].clone()
    }

    fn open_uploads(&self) -> Vec<String> {
        let a = send(
            ListMultipartUploads::new(&self.bucket).sign(&self.cfg, now()),
            b"",
        );
        assert_eq!(a.status, 200, "{}", a.text());
        ListMultipartUploads::parse(&a.body)
            .unwrap()
            .uploads
            .into_iter()
            .map(|u| u.upload_id)
            .collect()
    }
}

// ------------------------------------------------------------------ the embedded S3 store

/// The embedded store on loopback (the tests' shared [`Env`]; only its store is used).
struct Embedded {
    env: Env,
}

impl Embedded {
    fn start() -> Embedded {
        Embedded { env: Env::new() }
    }

    fn store(&self) -> Store {
        Store {
            cfg: self.env.direct_config(),
            bucket: Bucket::new("bkt").unwrap(),
        }
    }

    /// Files of the store's folder that are parts of `id` (s3s-fs's `.upload_id-<id>.part-N`).
    fn part_files(&self, id: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.env.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".upload_id-{id}.part-")))
            .collect();
        names.sort();
        names
    }
}

#[test]
fn s3_copied_part_is_the_range_pinned_to_its_etag_with_its_checksum() {
    let embedded = Embedded::start();
    let s3 = embedded.store();
    let (src, dest) = (Store::key("photos/a b+c.bin"), Store::key("out/a.zip"));
    let source = noise(7 * MIB, 1);
    let put = send(
        PutObject::new(&s3.bucket, &src, source.len() as u64).sign(&s3.cfg, now()),
        &source,
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let etag = put.headers["etag"].clone();

    let id = s3.create(&dest);
    let p1 = noise(5 * MIB, 2);
    let part1 = s3.upload(&dest, &id, 1, &p1);
    let range = (1000u64, 1000 + 3 * MIB as u64 + 17);
    let copied = &source[range.0 as usize..range.1 as usize];

    // A stale ETag: 412, and nothing stored.
    let stale = s3.copy(
        &dest,
        &id,
        2,
        &src,
        range,
        Some("\"0123456789abcdef0123456789abcdef\""),
    );
    assert_eq!(
        error(&stale),
        (412, "PreconditionFailed".into()),
        "{}",
        stale.text()
    );
    assert_eq!(s3.parts(&dest, &id).len(), 1);
    assert_eq!(embedded.part_files(&id).len(), 1);

    // The right one: the part's ETag and CRC-64/NVME, as S3 states them.
    let ok = s3.copy(&dest, &id, 2, &src, range, Some(&etag));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let result = UploadPartCopy::parse(ok.status, &ok.body, Algorithm::Crc64Nvme).unwrap();
    let crc = Checksum::crc(Algorithm::Crc64Nvme, crc64nvme(copied));
    assert_eq!(result.checksum.as_ref(), Some(&crc), "{}", ok.text());
    assert!(ok.text().contains("<LastModified>"), "{}", ok.text());

    // ListParts: both parts, the copied one with its size, ETag and checksum.
    let listed = s3.parts(&dest, &id);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].size, listed[0].checksum.as_ref()),
        (p1.len() as u64, part1.checksum.as_ref())
    );
    assert_eq!(
        listed[1],
        ListedPart {
            number: 2,
            etag: result.etag.clone(),
            size: copied.len() as u64,
            checksum: Some(crc.clone()),
        }
    );

    // Complete checks the whole object's checksum, copied part included, and states it.
    let whole = [p1.as_slice(), copied].concat();
    let part2 = CompletedPart {
        part_number: 2,
        etag: result.etag,
        checksum: result.checksum,
    };
    let parts = [part1, part2];
    let wrong = s3.complete(&dest, &id, &parts, b"not the object");
    assert_eq!(error(&wrong), (400, "BadDigest".into()), "{}", wrong.text());
    let done = s3.complete(&dest, &id, &parts, &whole);
    assert_eq!(done.status, 200, "{}", done.text());
    let done = CompleteMultipartUpload::parse(done.status, &done.body).unwrap();
    let want = b64(crc64nvme(&whole));
    assert_eq!(
        done.checksums,
        vec![("ChecksumCRC64NVME".to_string(), want.clone())]
    );
    let get = s3.get(&dest);
    assert!(
        get.body == whole,
        "the object is part 1 then the copied range"
    );
    assert_eq!(get.headers.get("x-amz-checksum-crc64nvme"), Some(&want));
    assert!(!s3.open_uploads().contains(&id));
}

#[test]
fn s3_copy_refuses_what_s3_refuses() {
    let embedded = Embedded::start();
    let s3 = embedded.store();
    let (src, dest) = (Store::key("src.bin"), Store::key("out/b.zip"));
    // Written as a plain file: no record, its ETag is its MD5, as S3's for a PutObject.
    let source = noise(6 * MIB, 3);
    std::fs::write(embedded.env.root().join("bkt/src.bin"), &source).unwrap();
    let etag = s3.etag(&src);
    let id = s3.create(&dest);

    let past_end = s3.copy(&dest, &id, 1, &src, (0, source.len() as u64 + 1), None);
    assert_eq!(
        error(&past_end),
        (400, "InvalidArgument".into()),
        "{}",
        past_end.text()
    );
    let missing = s3.copy(&dest, &id, 1, &Store::key("nope.bin"), (0, 10), None);
    assert_eq!(
        error(&missing),
        (404, "NoSuchKey".into()),
        "{}",
        missing.text()
    );
    let wrong = s3.copy(&dest, &id, 1, &src, (0, 10), Some("\"abc\""));
    assert_eq!(error(&wrong), (412, "PreconditionFailed".into()));
    assert!(embedded.part_files(&id).is_empty());
    let gone = s3.copy(
        &dest,
        "0f0f0f0f-0000-4000-8000-000000000000",
        1,
        &src,
        (0, 10),
        None,
    );
    assert_eq!(
        error(&gone),
        (404, "NoSuchUpload".into()),
        "{}",
        gone.text()
    );

    // A copied part of 1 MiB, then an uploaded one: the copied part is not the last, so
    // Complete refuses it (EntityTooSmall) and the upload stays open.
    let small = s3.copy(&dest, &id, 1, &src, (0, MIB as u64), Some(&etag));
    assert_eq!(small.status, 200, "{}", small.text());
    let small = UploadPartCopy::parse(200, &small.body, Algorithm::Crc64Nvme).unwrap();
    let tail = noise(1000, 4);
    let parts = [
        CompletedPart {
            part_number: 1,
            etag: small.etag,
            checksum: small.checksum,
        },
        s3.upload(&dest, &id, 2, &tail),
    ];
    let whole = [&source[..MIB], tail.as_slice()].concat();
    let refused = s3.complete(&dest, &id, &parts, &whole);
    assert_eq!(
        error(&refused),
        (400, "EntityTooSmall".into()),
        "{}",
        refused.text()
    );
    assert!(s3.open_uploads().contains(&id));
    assert_eq!(s3.parts(&dest, &id).len(), 2);

    // 5 MiB exactly is enough (copied again over part 1); the last part may be any size.
    let five = s3.copy(&dest, &id, 1, &src, (7, 7 + 5 * MIB as u64), Some(&etag));
    assert_eq!(five.status, 200, "{}", five.text());
    let five = UploadPartCopy::parse(200, &five.body, Algorithm::Crc64Nvme).unwrap();
    let parts = [
        CompletedPart {
            part_number: 1,
            etag: five.etag,
            checksum: five.checksum,
        },
        parts[1].clone(),
    ];
    let whole = [&source[7..7 + 5 * MIB], tail.as_slice()].concat();
    let done = s3.complete(&dest, &id, &parts, &whole);
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(s3.get(&dest).body == whole);
}

// ------------------------------------------------------------------ the OSS gateway

#[test]
fn oss_copied_part_is_the_range_pinned_to_its_etag_with_its_crc() {
    let moto = Moto::start_for_oss();
    moto.create_bucket("oss-bkt");
    let source = noise(3 * MIB, 5);
    moto.put("oss-bkt", "文件/a b+c.bin", &source);
    let gateway = OssGateway::start(&moto.endpoint(), "AK", "SK", None);
    let oss = Store::oss(&gateway, "oss-bkt");
    let (src, dest) = (Store::key("文件/a b+c.bin"), Store::key("out/a.zip"));
    let etag = oss.etag(&src);
    assert_eq!(etag, etag.to_uppercase(), "OSS's ETags are upper-case hex");

    let id = oss.create(&dest);
    // moto's smallest part is S3's 5 MiB (OSS's is 100 KB).
    let p1 = noise(5 * MIB, 6);
    let part1 = oss.upload(&dest, &id, 1, &p1);
    let range = (12_345u64, 2 * MIB as u64 + 3);
    let copied = &source[range.0 as usize..range.1 as usize];

    // A stale ETag: 412, and nothing stored.
    let stale = oss.copy(
        &dest,
        &id,
        2,
        &src,
        range,
        Some("\"0123456789ABCDEF0123456789ABCDEF\""),
    );
    assert_eq!(
        error(&stale),
        (412, "PreconditionFailed".into()),
        "{}",
        stale.text()
    );
    assert!(stale.text().contains("<EC>"), "{}", stale.text());
    assert_eq!(oss.parts(&dest, &id).len(), 1);

    // The right one, in OSS's shape: no namespace, upper-case ETag, no CRC stated.
    let ok = oss.copy(&dest, &id, 2, &src, range, Some(&etag));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let text = ok.text();
    assert!(
        text.contains("<CopyPartResult><LastModified>") && !text.contains("xmlns"),
        "{text}"
    );
    assert!(ok.headers.contains_key("x-oss-request-id"));
    assert!(!ok.headers.contains_key("x-oss-hash-crc64ecma"));
    let result = UploadPartCopy::parse(200, &ok.body, Algorithm::Crc64Ecma).unwrap();
    assert_eq!(result.checksum, None);
    assert_eq!(result.etag, result.etag.to_uppercase());

    // ListParts: each part's size and CRC-64, the copied one's included.
    let crc = |data: &[u8]| Some(Checksum::crc(Algorithm::Crc64Ecma, crc64xz(data)));
    let listed = oss.parts(&dest, &id);
    assert_eq!(
        listed,
        vec![
            ListedPart {
                number: 1,
                etag: part1.etag.clone(),
                size: p1.len() as u64,
                checksum: crc(&p1),
            },
            ListedPart {
                number: 2,
                etag: result.etag.clone(),
                size: copied.len() as u64,
                checksum: crc(copied),
            },
        ]
    );

    // Complete states the whole object's CRC-64, the copied part's combined in.
    let whole = [p1.as_slice(), copied].concat();
    let part2 = CompletedPart {
        part_number: 2,
        etag: result.etag,
        checksum: None,
    };
    let done = oss.complete(&dest, &id, &[part1, part2], &whole);
    assert_eq!(done.status, 200, "{}", done.text());
    let stated = |a: &Answer| {
        a.headers
            .get("x-oss-hash-crc64ecma")
            .map(|v| v.parse::<u64>().unwrap())
    };
    assert_eq!(stated(&done), Some(crc64xz(&whole)));
    let get = oss.get(&dest);
    assert!(
        get.body == whole,
        "the object is part 1 then the copied range"
    );
    assert_eq!(stated(&get), Some(crc64xz(&whole)));
    assert!(oss.open_uploads().is_empty());

    // Refusals: a range past the source, a missing source, an unknown upload.
    let id = oss.create(&dest);
    let past_end = oss.copy(&dest, &id, 1, &src, (0, source.len() as u64 + 1), None);
    assert_eq!(
        error(&past_end),
        (400, "InvalidArgument".into()),
        "{}",
        past_end.text()
    );
    let missing = oss.copy(&dest, &id, 1, &Store::key("nope.bin"), (0, 10), None);
    assert_eq!(
        error(&missing),
        (404, "NoSuchKey".into()),
        "{}",
        missing.text()
    );
    let gone = oss.copy(&dest, "no-such-upload", 1, &src, (0, 10), None);
    assert_eq!(
        error(&gone),
        (404, "NoSuchUpload".into()),
        "{}",
        gone.text()
    );
    assert!(oss.parts(&dest, &id).is_empty());
}

/// An archive carries its upload's marker (`CreateMultipartUpload::marker`) as user
/// metadata, on each store: it is how a pack whose Complete answer was lost tells its own
/// archive from an older one of the same size.
#[test]
fn an_uploads_marker_comes_back_on_the_archive() {
    let embedded = Embedded::start();
    let moto = Moto::start();
    moto.create_bucket("mbkt");
    let oss_moto = Moto::start_for_oss();
    oss_moto.create_bucket("oss-bkt");
    let gateway = OssGateway::start(&oss_moto.endpoint(), "AK", "SK", None);
    let stores = [
        ("embedded", embedded.store(), "x-amz-meta-zip-oss-upload"),
        (
            "moto",
            Store {
                cfg: moto.config(),
                bucket: Bucket::new("mbkt").unwrap(),
            },
            "x-amz-meta-zip-oss-upload",
        ),
        (
            "oss",
            Store::oss(&gateway, "oss-bkt"),
            "x-oss-meta-zip-oss-upload",
        ),
    ];
    for (name, store, header) in stores {
        let key = Store::key("out/marked.zip");
        let marker = "0123456789abcdef0123456789abcdef";
        let mut create = CreateMultipartUpload::new(&store.bucket, &key).marker(marker);
        if store.cfg.provider == Provider::S3 {
            create = create.full_object_checksum(Algorithm::Crc64Nvme);
        }
        let a = send(create.sign(&store.cfg, now()), b"");
        assert_eq!(a.status, 200, "{name}: {}", a.text());
        let id = CreateMultipartUpload::parse(&a.body).unwrap();
        let body = noise(1000, 9);
        let part = store.upload(&key, &id, 1, &body);
        let done = store.complete(&key, &id, &[part], &body);
        assert_eq!(done.status, 200, "{name}: {}", done.text());
        let head = send(
            HeadObject::new(&store.bucket, &key).sign(&store.cfg, now()),
            b"",
        );
        assert_eq!(head.status, 200, "{name}");
        assert_eq!(
            head.headers.get(header).map(String::as_str),
            Some(marker),
            "{name}: {:?}",
            head.headers
        );
        let parsed = HeadObject::parse(store.cfg.provider, |n| {
            head.headers
                .get(&n.to_ascii_lowercase())
                .map(String::as_str)
        })
        .unwrap();
        assert_eq!(parsed.upload_marker.as_deref(), Some(marker), "{name}");
    }
}
