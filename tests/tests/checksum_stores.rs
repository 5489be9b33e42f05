//! The test doubles tell the truth about checksums, as the real services do:
//!
//! - the embedded S3 store (s3s-fs behind `s3_fixes`) verifies a part's
//!   `x-amz-checksum-crc64nvme` (`400 BadDigest`, part not stored), checks a Complete's
//!   whole-object checksum against the parts' (refused, upload left open), returns the
//!   object's checksum only in checksum mode and only for whole-object answers, and gives
//!   a PutObject without a checksum CRC-64/NVME, S3's default;
//! - the OSS gateway answers `x-oss-hash-crc64ecma` on GET (the whole object's, even for a
//!   range), HEAD, UploadPart and Complete, and refuses a wrong Content-MD5;
//! - the fault proxy's flips change exactly one byte of a body, its length kept.
//!
//! Requests are signed by hand (SigV4 with every `x-amz-*` header signed, as S3 requires;
//! OSS V4 through core's builders). The expected CRCs come from `zip_oss_tests::crc`, written
//! from the algorithms' parameters and checked against their published check values.

use std::net::SocketAddr;

use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss::embedded_store::{self, StoreHandle};
use zip_oss_core::store::signing::{oss_v4, sigv4};
use zip_oss_core::store::{
    encode_component, encode_path, Bucket, CompleteMultipartUpload, CompletedPart,
    CreateMultipartUpload, Credentials, GetObject, HeadObject, HttpRequest, ObjectKey, PutObject,
    StoreConfig, UploadPart,
};
use zip_oss_tests::crc::{b64, crc64nvme, crc64xz};
use zip_oss_tests::fault_proxy::{Fault, FaultProxy, Match, RandomRule};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::{answer, noise, now, Answer};

const BUCKET: &str = "bkt";
const MIB: usize = 1 << 20;

// ------------------------------------------------------------------ the embedded S3 store

/// The embedded store on loopback, with the fault proxy in front of it.
/// (Fields drop in order: the store stops before its runtime.)
struct S3 {
    _handle: StoreHandle,
    proxy: FaultProxy,
    store: SocketAddr,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl S3 {
    fn start() -> S3 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let (store, handle, proxy) = rt.block_on(async {
            let loopback = "127.0.0.1:0".parse().unwrap();
            let (addr, handle) =
                embedded_store::start(&root, loopback, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
                    .await
                    .unwrap();
            (addr, handle, FaultProxy::start(addr).await.unwrap())
        });
        S3 {
            _rt: rt,
            dir,
            store,
            proxy,
            _handle: handle,
        }
    }

    /// Sends `method /bkt/key?query` with `headers` (all signed) and `body` to `addr`.
    fn send(
        &self,
        addr: SocketAddr,
        method: &'static str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let authority = addr.to_string();
        let path = match key {
            "" => format!("/{BUCKET}"),
            key => format!("/{BUCKET}/{}", encode_path(key)),
        };
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let signed = sigv4::sign_headers(
            &Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
            "us-east-1",
            &sigv4::Request {
                method,
                authority: &authority,
                canonical_uri: &path,
                query: &query,
                headers: &headers,
                payload_hash: sigv4::UNSIGNED_PAYLOAD,
            },
            now(),
        );
        let mut sorted = query.clone();
        sorted.sort();
        let qs: Vec<String> = sorted
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect();
        let url = match qs.is_empty() {
            true => format!("http://{authority}{path}"),
            false => format!("http://{authority}{path}?{}", qs.join("&")),
        };
        let mut r = ureq::request(method, &url);
        for (n, v) in &signed {
            r = r.set(n, v);
        }
        answer(if body.is_empty() && method != "PUT" {
            r.call()
        } else {
            r.send_bytes(body)
        })
    }

    fn direct(
        &self,
        method: &'static str,
        key: &str,
        q: &[(&str, &str)],
        h: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        self.send(self.store, method, key, q, h, body)
    }

    fn create(&self, key: &str, headers: &[(&str, &str)]) -> String {
        let a = self.direct("POST", key, &[("uploads", "")], headers, b"");
        assert_eq!(a.status, 200, "{}", a.text());
        between(&a.text(), "<UploadId>", "</UploadId>")
    }

    fn open_uploads(&self) -> String {
        let a = self.direct("GET", "", &[("uploads", "")], &[], b"");
        assert_eq!(a.status, 200, "{}", a.text());
        a.text()
    }

    fn path(&self, key: &str) -> std::path::PathBuf {
        self.dir.path().join("store").join(BUCKET).join(key)
    }
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {text}"))
        + open.len();
    text[start..][..text[start..].find(close).unwrap()].to_string()
}

/// The S3 error code of an answer.
fn code(a: &Answer) -> String {
    between(&a.text(), "<Code>", "</Code>")
}

fn checksum_headers(a: &Answer) -> Vec<(String, String)> {
    a.headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-amz-checksum"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn complete_xml(parts: &[(u32, String, String)]) -> String {
    let parts: String = parts
        .iter()
        .map(|(n, etag, crc)| {
            format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag><ChecksumCRC64NVME>{crc}</ChecksumCRC64NVME></Part>")
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

#[test]
fn s3_parts_are_verified_and_complete_checks_the_whole_object() {
    let s3 = S3::start();
    let key = "out/a.zip";
    let (p1, p2) = (noise(5 * MIB, 1), noise(300_000, 2));
    let whole = [p1.as_slice(), &p2].concat();
    let (c1, c2, cw) = (
        b64(crc64nvme(&p1)),
        b64(crc64nvme(&p2)),
        b64(crc64nvme(&whole)),
    );

    let id = s3.create(
        key,
        &[
            ("x-amz-checksum-algorithm", "CRC64NVME"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
        ],
    );
    let part = |n: &str, body: &[u8], headers: &[(&str, &str)]| {
        s3.direct(
            "PUT",
            key,
            &[("partNumber", n), ("uploadId", &id)],
            headers,
            body,
        )
    };

    // A wrong checksum: 400 BadDigest, and the part is not stored.
    let bad = part("1", &p1, &[("x-amz-checksum-crc64nvme", &c2)]);
    assert_eq!(
        (bad.status, code(&bad).as_str()),
        (400, "BadDigest"),
        "{}",
        bad.text()
    );
    let listed = s3.direct("GET", key, &[("uploadId", &id)], &[], b"");
    assert!(
        !listed.text().contains("<PartNumber>1</PartNumber>"),
        "{}",
        listed.text()
    );

    // The right one is taken, and echoed.
    let ok1 = part("1", &p1, &[("x-amz-checksum-crc64nvme", &c1)]);
    assert_eq!(ok1.status, 200, "{}", ok1.text());
    assert_eq!(ok1.headers.get("x-amz-checksum-crc64nvme"), Some(&c1));
    // A wrong Content-MD5 is BadDigest too.
    let md5 = part("2", &p2, &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")]);
    assert_eq!(
        (md5.status, code(&md5).as_str()),
        (400, "BadDigest"),
        "{}",
        md5.text()
    );
    let ok2 = part("2", &p2, &[("x-amz-checksum-crc64nvme", &c2)]);
    assert_eq!(ok2.status, 200, "{}", ok2.text());
    let parts = vec![
        (1, ok1.headers["etag"].clone(), c1.clone()),
        (2, ok2.headers["etag"].clone(), c2.clone()),
    ];

    let complete = |whole_crc: &str, parts: &[(u32, String, String)]| {
        s3.direct(
            "POST",
            key,
            &[("uploadId", &id)],
            &[
                ("x-amz-checksum-crc64nvme", whole_crc),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ],
            complete_xml(parts).as_bytes(),
        )
    };
    // A wrong whole-object checksum is refused; the upload stays open, nothing is written.
    let refused = complete(&b64(crc64nvme(b"not the object")), &parts);
    assert_eq!(
        (refused.status, code(&refused).as_str()),
        (400, "BadDigest"),
        "{}",
        refused.text()
    );
    assert!(s3.open_uploads().contains(&id));
    assert!(!s3.path(key).exists());
    // A part's checksum that is not the one it was uploaded with: InvalidPart.
    let mut wrong_part = parts.clone();
    wrong_part[1].2 = c1.clone();
    let invalid = complete(&cw, &wrong_part);
    assert_eq!(
        (invalid.status, code(&invalid).as_str()),
        (400, "InvalidPart"),
        "{}",
        invalid.text()
    );

    // The right one completes, and the answer carries the object's checksum.
    let done = complete(&cw, &parts);
    assert_eq!(done.status, 200, "{}", done.text());
    let xml = done.text();
    assert_eq!(between(&xml, "<ChecksumCRC64NVME>", "</"), cw, "{xml}");
    assert_eq!(
        between(&xml, "<ChecksumType>", "</"),
        "FULL_OBJECT",
        "{xml}"
    );
    assert!(!s3.open_uploads().contains(&id));
    assert_eq!(std::fs::read(s3.path(key)).unwrap(), whole);

    // Checksum mode: GET and HEAD return it; without it, or for a partial range, nothing.
    let mode = [("x-amz-checksum-mode", "ENABLED")];
    let want = vec![
        ("x-amz-checksum-crc64nvme".to_string(), cw.clone()),
        ("x-amz-checksum-type".to_string(), "FULL_OBJECT".to_string()),
    ];
    let get = s3.direct("GET", key, &[], &mode, b"");
    assert_eq!((get.status, checksum_headers(&get)), (200, want.clone()));
    let head = s3.direct("HEAD", key, &[], &mode, b"");
    assert_eq!((head.status, checksum_headers(&head)), (200, want));
    let plain = s3.direct("GET", key, &[], &[], b"");
    assert_eq!((plain.status, checksum_headers(&plain)), (200, vec![]));
    let range = s3.direct("GET", key, &[], &[mode[0], ("range", "bytes=0-99")], b"");
    assert_eq!((range.status, checksum_headers(&range)), (206, vec![]));

    // Deleted, it forgets the checksum: a file written there later has none.
    assert_eq!(s3.direct("DELETE", key, &[], &[], b"").status, 204);
    std::fs::write(s3.path(key), b"seeded").unwrap();
    let seeded = s3.direct("GET", key, &[], &mode, b"");
    assert_eq!((seeded.status, checksum_headers(&seeded)), (200, vec![]));
}

#[test]
fn s3_put_object_gets_crc64nvme_by_default_and_a_wrong_one_changes_nothing() {
    let s3 = S3::start();
    let mode = [("x-amz-checksum-mode", "ENABLED")];
    let put = s3.direct("PUT", "o.bin", &[], &[], b"123456789");
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(
        put.headers
            .get("x-amz-checksum-crc64nvme")
            .map(String::as_str),
        Some("rosUhgp5mIg=")
    );
    assert_eq!(
        put.headers.get("x-amz-checksum-type").map(String::as_str),
        Some("FULL_OBJECT")
    );
    let get = s3.direct("GET", "o.bin", &[], &mode, b"");
    assert_eq!(
        get.headers
            .get("x-amz-checksum-crc64nvme")
            .map(String::as_str),
        Some("rosUhgp5mIg=")
    );
    assert!(checksum_headers(&s3.direct("HEAD", "o.bin", &[], &[], b"")).is_empty());

    // A wrong checksum: BadDigest, and the object is the one before.
    let bad = s3.direct(
        "PUT",
        "o.bin",
        &[],
        &[("x-amz-checksum-crc64nvme", &b64(1))],
        b"other",
    );
    assert_eq!(
        (bad.status, code(&bad).as_str()),
        (400, "BadDigest"),
        "{}",
        bad.text()
    );
    assert_eq!(s3.direct("GET", "o.bin", &[], &[], b"").body, b"123456789");

    // A plain file in the folder: an object from before 2025, without a checksum.
    std::fs::write(s3.path("seeded.txt"), b"seeded").unwrap();
    assert!(checksum_headers(&s3.direct("GET", "seeded.txt", &[], &mode, b"")).is_empty());
}

#[test]
fn s3_create_and_parts_refuse_what_s3_refuses() {
    let s3 = S3::start();
    let composite_nvme = s3.direct(
        "POST",
        "x",
        &[("uploads", "")],
        &[
            ("x-amz-checksum-algorithm", "CRC64NVME"),
            ("x-amz-checksum-type", "COMPOSITE"),
        ],
        b"",
    );
    assert_eq!(
        (composite_nvme.status, code(&composite_nvme).as_str()),
        (400, "InvalidRequest")
    );
    // An upload without an algorithm is CRC-64/NVME full-object, S3's default.
    let id = s3.create("x", &[]);
    let other = s3.direct(
        "PUT",
        "x",
        &[("partNumber", "1"), ("uploadId", &id)],
        &[("x-amz-checksum-crc32", "AAAAAA==")],
        b"data",
    );
    assert_eq!(
        (other.status, code(&other).as_str()),
        (400, "InvalidRequest"),
        "{}",
        other.text()
    );
    let part = s3.direct(
        "PUT",
        "x",
        &[("partNumber", "1"), ("uploadId", &id)],
        &[],
        b"data",
    );
    assert_eq!(
        part.headers.get("x-amz-checksum-crc64nvme"),
        Some(&b64(crc64nvme(b"data")))
    );
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        part.headers["etag"]
    );
    let done = s3.direct("POST", "x", &[("uploadId", &id)], &[], xml.as_bytes());
    assert_eq!(done.status, 200, "{}", done.text());
    let get = s3.direct("GET", "x", &[], &[("x-amz-checksum-mode", "ENABLED")], b"");
    assert_eq!(
        get.headers.get("x-amz-checksum-crc64nvme"),
        Some(&b64(crc64nvme(b"data")))
    );
}

// ------------------------------------------------------------------ the fault proxy

/// The offsets where two equally long bodies differ.
fn differences(a: &[u8], b: &[u8]) -> Vec<usize> {
    assert_eq!(a.len(), b.len(), "a flip keeps the length");
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

#[test]
fn the_proxy_flips_exactly_one_byte_of_a_response_or_request() {
    let s3 = S3::start();
    let data = noise(3 * MIB + 17, 7);
    std::fs::write(s3.path("big.bin"), &data).unwrap();
    s3.proxy.add_random(RandomRule {
        matches: vec![Match::new("GET", &["/big.bin"])],
        fault: Fault::FlipResponseByte,
        probability: 1.0,
        seed: 42,
    });
    for n in 1..=3 {
        let got = s3.send(s3.proxy.addr, "GET", "big.bin", &[], &[], b"");
        assert_eq!(got.status, 200);
        let diff = differences(&got.body, &data);
        assert_eq!(diff.len(), 1, "one byte changed");
        let flipped = s3.proxy.seen().last().unwrap().flipped.unwrap();
        assert_eq!(flipped.offset as usize, diff[0]);
        assert_eq!(got.body[diff[0]] ^ data[diff[0]], flipped.xor);
        assert_eq!(s3.proxy.flips().responses, n);
    }
    s3.proxy.clear_rules();

    // A request body: the store gets the flipped one (nothing claimed, nothing to catch).
    s3.proxy.add_random(RandomRule {
        matches: vec![Match::new("PUT", &["/sent.bin"])],
        fault: Fault::FlipRequestByte,
        probability: 1.0,
        seed: 7,
    });
    let sent = noise(MIB, 9);
    let put = s3.send(s3.proxy.addr, "PUT", "sent.bin", &[], &[], &sent);
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(
        differences(&std::fs::read(s3.path("sent.bin")).unwrap(), &sent).len(),
        1
    );
    // With its checksum claimed, the store catches the flip.
    let claimed = b64(crc64nvme(&sent));
    let caught = s3.send(
        s3.proxy.addr,
        "PUT",
        "sent.bin",
        &[],
        &[("x-amz-checksum-crc64nvme", &claimed)],
        &sent,
    );
    assert_eq!((caught.status, code(&caught).as_str()), (400, "BadDigest"));
    assert_eq!(s3.proxy.flips().requests, 2);
    assert_eq!(s3.proxy.flips().responses, 3);
}

#[test]
fn the_proxys_flips_follow_the_seed() {
    let offsets = |seed: u64| {
        let s3 = S3::start();
        std::fs::write(s3.path("f.bin"), noise(100_000, 1)).unwrap();
        s3.proxy.add_random(RandomRule {
            matches: vec![Match::new("GET", &["/f.bin"])],
            fault: Fault::FlipResponseByte,
            probability: 0.5,
            seed,
        });
        (0..20)
            .map(|_| {
                s3.send(s3.proxy.addr, "GET", "f.bin", &[], &[], b"");
                s3.proxy
                    .seen()
                    .last()
                    .unwrap()
                    .flipped
                    .map(|f| (f.offset, f.xor))
            })
            .collect::<Vec<_>>()
    };
    let first = offsets(3);
    assert_eq!(first, offsets(3));
    assert!(
        first.iter().any(Option::is_some) && first.iter().any(Option::is_none),
        "{first:?}"
    );
}

// ------------------------------------------------------------------ the OSS gateway

const OSS_BUCKET: &str = "oss-bkt";

fn oss_config(gateway: &OssGateway) -> StoreConfig {
    gateway.config("AK", "SK")
}

fn send_oss(req: HttpRequest, body: &[u8]) -> Answer {
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

fn crc_header(a: &Answer) -> Option<u64> {
    a.headers
        .get("x-oss-hash-crc64ecma")
        .map(|v| v.parse().unwrap())
}

#[test]
fn oss_gateway_answers_crc64ecma_as_oss_does() {
    let moto = Moto::start_for_oss();
    moto.create_bucket(OSS_BUCKET);
    let data = noise(200_000, 3);
    moto.put(OSS_BUCKET, "seeded.bin", &data);
    let gateway = OssGateway::start(&moto.endpoint(), "AK", "SK", None);
    let cfg = oss_config(&gateway);
    let bucket = Bucket::new(OSS_BUCKET).unwrap();
    let seeded = ObjectKey::new("seeded.bin").unwrap();

    // GET, range GET (the whole object's value), HEAD.
    let get = send_oss(GetObject::new(&bucket, &seeded).sign(&cfg, now()), b"");
    assert_eq!((get.status, crc_header(&get)), (200, Some(crc64xz(&data))));
    let range = send_oss(
        GetObject::new(&bucket, &seeded)
            .range(10, 100)
            .sign(&cfg, now()),
        b"",
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.body, &data[10..100]);
    assert_eq!(crc_header(&range), Some(crc64xz(&data)));
    let head = send_oss(HeadObject::new(&bucket, &seeded).sign(&cfg, now()), b"");
    assert_eq!(
        (head.status, crc_header(&head)),
        (200, Some(crc64xz(&data)))
    );

    // A multipart upload: each part's CRC, then the whole object's.
    let key = ObjectKey::new("out/a.zip").unwrap();
    let created = send_oss(
        CreateMultipartUpload::new(&bucket, &key).sign(&cfg, now()),
        b"",
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let id = between(&created.text(), "<UploadId>", "</UploadId>");
    let bodies = [noise(5 * MIB, 4), noise(123_457, 5)];
    let mut parts = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let n = i as u32 + 1;
        let req = UploadPart::new(&bucket, &key, &id, n, body.len() as u64).sign(&cfg, now());
        let a = send_oss(req, body);
        assert_eq!(
            (a.status, crc_header(&a)),
            (200, Some(crc64xz(body))),
            "{}",
            a.text()
        );
        parts.push(CompletedPart {
            part_number: n,
            etag: a.headers["etag"].clone(),
            checksum: None,
        });
    }
    let whole = bodies.concat();
    let complete = CompleteMultipartUpload::new(&bucket, &key, &id, &parts);
    let done = send_oss(complete.sign(&cfg, now()), complete.body().as_bytes());
    assert_eq!(
        (done.status, crc_header(&done)),
        (200, Some(crc64xz(&whole))),
        "{}",
        done.text()
    );
    let get = send_oss(
        GetObject::new(&bucket, &key).range(0, 1).sign(&cfg, now()),
        b"",
    );
    assert_eq!((get.status, crc_header(&get)), (206, Some(crc64xz(&whole))));

    // PutObject: its CRC; a wrong Content-MD5 is refused and stores nothing.
    let small = ObjectKey::new("small.txt").unwrap();
    let put = send_oss(
        PutObject::new(&bucket, &small, 9).sign(&cfg, now()),
        b"123456789",
    );
    assert_eq!(
        (put.status, crc_header(&put)),
        (200, Some(0x995D_C9BB_DF19_39FA))
    );
    // Content-MD5 is signed by OSS V4 whenever sent, so this one is signed by hand.
    let headers = vec![(
        "content-md5".to_string(),
        "AAAAAAAAAAAAAAAAAAAAAA==".to_string(),
    )];
    let request = oss_v4::Request {
        method: "PUT",
        bucket: Some(OSS_BUCKET),
        key: Some("small.txt"),
        query: &[],
        headers: &headers,
        additional_headers: &[],
    };
    let bad = HttpRequest {
        method: "PUT",
        url: format!("{}/{OSS_BUCKET}/small.txt", gateway.endpoint()),
        headers: oss_v4::sign_headers(
            &Credentials::new("AK", "SK"),
            "cn-shanghai",
            &request,
            now(),
        ),
    };
    let refused = send_oss(bad, b"other");
    assert_eq!(
        (refused.status, code(&refused).as_str()),
        (400, "InvalidDigest"),
        "{}",
        refused.text()
    );
    let kept = send_oss(GetObject::new(&bucket, &small).sign(&cfg, now()), b"");
    assert_eq!(kept.body, b"123456789");
}
