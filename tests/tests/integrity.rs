//! Integrity end to end (issue 11): a byte changed on the way in or out never reaches an
//! archive unnoticed.
//!
//! The fault proxy flips one random byte in the bodies of source reads (answers) and of
//! part uploads (requests). Against stores that keep checksums as S3 and OSS do, every pack
//! must end either with an archive whose every entry matches its source (judged by two zip
//! readers against the source files, and the archive's bytes against the checksum the
//! summary and the store state) or with `502 ChecksumMismatch`, nothing at the destination
//! and no upload left open. A small object whose bytes were flipped is read again, so a
//! successful pack re-read exactly as many objects as its reads had flips.

use std::collections::BTreeMap;
use std::path::PathBuf;

use zip_oss::settings::ProviderKind;
use zip_oss::StoreSettings;
use zip_oss_core::store::checksum::Algorithm;
use zip_oss_core::store::{Bucket, HeadObject, ObjectKey};
use zip_oss_tests::crc::{b64, crc64nvme, crc64xz};
use zip_oss_tests::fault_proxy::{Fault, FaultProxy, Flips, Match, RandomRule};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::readers::{manifest_under, quick_check, Manifest};
use zip_oss_tests::{answer, get, noise, now, save, Answer, Env, BUCKET};

const MIB: usize = 1 << 20;

/// Objects by key, with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Three source folders under `src-`: small objects (each read whole, so re-readable), one
/// streamed and one read ahead, and large ones read in ranges.
fn sources() -> Vec<(&'static str, Files)> {
    vec![
        (
            "src-small/",
            (0..6)
                .map(|i| {
                    (
                        format!("src-small/f{i}.txt"),
                        noise(1000 + i * 7919, i as u64),
                    )
                })
                .collect(),
        ),
        (
            "src-mixed/",
            vec![
                ("src-mixed/stream.bin".into(), noise(3 * MIB / 2, 11)),
                ("src-mixed/read-ahead.bin".into(), noise(700 << 10, 12)),
                ("src-mixed/sub/a.txt".into(), b"a".to_vec()),
            ],
        ),
        (
            "src-big/",
            vec![
                ("src-big/ranged.bin".into(), noise(13 * MIB, 21)),
                ("src-big/second.bin".into(), noise(6 * MIB, 22)),
                ("src-big/tiny.txt".into(), b"tiny".to_vec()),
            ],
        ),
    ]
}

/// Flip rules: one byte in `read` of the source reads' answers, and in `part` of the part
/// uploads' bodies.
fn flip(proxy: &FaultProxy, read: f64, part: f64, seed: u64) {
    proxy.add_random(RandomRule {
        matches: vec![Match::new("GET", &["/src-"])],
        fault: Fault::FlipResponseByte,
        probability: read,
        seed,
    });
    proxy.add_random(RandomRule {
        matches: vec![Match::upload_part()],
        fault: Fault::FlipRequestByte,
        probability: part,
        seed: seed ^ 0x5eed,
    });
}

/// How one pack ended.
#[derive(Debug)]
enum Outcome {
    /// A whole archive: its summary's `rereads`.
    Whole {
        rereads: u64,
    },
    Mismatch,
}

/// What a successful pack must show besides a whole archive.
struct Expect<'a> {
    /// The objects packed, all of them checked (or none, for a store without checksums).
    objects: u64,
    verified: bool,
    /// The archive's checksum: its algorithm's name and how to compute and write it.
    algorithm: &'a str,
    checksum: fn(&[u8]) -> String,
}

/// Judges one JSON pack answer; `Err` says what is wrong. `dest_exists` tells whether the
/// destination holds an object; `store_checksum` reads the store's own checksum of it.
fn judge(
    answer: &Answer,
    dest: &str,
    manifest: &Manifest,
    expect: &Expect,
    dir: &std::path::Path,
    dest_exists: impl Fn() -> bool,
    store_checksum: impl Fn() -> Option<String>,
) -> Result<Outcome, String> {
    if answer.status != 200 {
        let body: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("{} without JSON ({e}): {}", answer.status, answer.text()))?;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        if (answer.status, code) != (502, "ChecksumMismatch") {
            return Err(format!("failed otherwise: {} {body}", answer.status));
        }
        if dest_exists() {
            return Err(format!("{body}, yet `{dest}` was written"));
        }
        return Ok(Outcome::Mismatch);
    }
    let summary = answer.json();
    let zip = get(summary["url"].as_str().ok_or("no url")?);
    if zip.status != 200 {
        return Err(format!("the link answers {}", zip.status));
    }
    let path = save(dir, &dest.replace('/', "_"), &zip.body);
    quick_check(&path, manifest).map_err(|why| format!("A CORRUPT ARCHIVE: {why}"))?;
    let (verified, unverified) = match expect.verified {
        true => (expect.objects, 0),
        false => (0, expect.objects),
    };
    if (
        summary["verified_objects"].as_u64(),
        summary["unverified_objects"].as_u64(),
    ) != (Some(verified), Some(unverified))
    {
        return Err(format!("counts: {summary}"));
    }
    let ours = (expect.checksum)(&zip.body);
    let stated = &summary["checksum"];
    if stated["algorithm"] != expect.algorithm || stated["value"] != ours.as_str() {
        return Err(format!(
            "the archive's {ours} is not the summary's {stated}"
        ));
    }
    if store_checksum().as_deref() != Some(ours.as_str()) {
        return Err(format!(
            "the store's checksum {:?} is not {ours}",
            store_checksum()
        ));
    }
    Ok(Outcome::Whole {
        rereads: summary["rereads"].as_u64().ok_or("no rereads")?,
    })
}

/// Runs `packs` packs of `sets` in turn and judges each with `pack_and_judge`, which returns
/// the outcome; checks what the flips of each must have caused. Returns a report, and the
/// counts of whole archives and of mismatches.
fn run_packs(
    packs: usize,
    sets: &[(&str, Manifest)],
    proxy: &FaultProxy,
    mut pack_and_judge: impl FnMut(usize, &str, &Manifest) -> Result<Outcome, String>,
    open_uploads: impl Fn() -> usize,
) -> (Vec<String>, Vec<String>, usize, usize, u64) {
    let (mut report, mut problems) = (Vec::new(), Vec::new());
    let (mut whole, mut mismatched, mut rereads) = (0, 0, 0);
    for i in 0..packs {
        let (prefix, manifest) = &sets[i % sets.len()];
        let before = proxy.flips();
        let outcome = pack_and_judge(i, prefix, manifest);
        let after = proxy.flips();
        let flips = Flips {
            requests: after.requests - before.requests,
            responses: after.responses - before.responses,
        };
        report.push(format!("pack {i} ({prefix}): {flips:?} → {outcome:?}"));
        match outcome {
            // Every flipped read was caught and read again; nothing else was.
            Ok(Outcome::Whole { rereads: r }) if r == flips.responses as u64 => {
                whole += 1;
                rereads += r;
            }
            Ok(Outcome::Whole { rereads: r }) => problems.push(format!(
                "pack {i}: {r} re-reads for {} flipped reads",
                flips.responses
            )),
            Ok(Outcome::Mismatch) if flips.requests + flips.responses > 0 => mismatched += 1,
            Ok(Outcome::Mismatch) => problems.push(format!("pack {i}: a mismatch without a flip")),
            Err(p) => problems.push(format!("pack {i} ({prefix}): {p}")),
        }
        let open = open_uploads();
        if open > 0 {
            problems.push(format!("pack {i}: {open} uploads left open"));
        }
    }
    (report, problems, whole, mismatched, rereads)
}

/// The premise and the verdict of a run of packs.
fn assert_run(run: (Vec<String>, Vec<String>, usize, usize, u64), flips: Flips, min_flips: Flips) {
    let (report, problems, whole, mismatched, rereads) = run;
    eprintln!(
        "{}\nwhole archives: {whole}, ChecksumMismatch: {mismatched}, re-reads: {rereads}; {flips:?}",
        report.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        flips.responses >= min_flips.responses && flips.requests >= min_flips.requests,
        "too few flips to judge: {flips:?}"
    );
    assert!(rereads > 0, "no flipped read was re-read");
    assert!(whole * 2 > report.len(), "too few whole archives: {whole}");
}

#[test]
fn flipped_bytes_never_make_a_wrong_archive_on_s3() {
    let env = Env::in_memory();
    // PutObject through the API: the store keeps a CRC-64/NVME of each, as S3 does.
    let mut sets: Vec<(&str, Manifest)> = sources()
        .iter()
        .map(|(prefix, files)| (*prefix, manifest_under(&env.put_objects(files), prefix)))
        .collect();
    // And objects uploaded with a CRC-32, as AWS SDKs do: checked with the entry's CRC-32.
    // Under 10 MiB, so that no store copy stands in for reading them.
    let crc32: Files = [(700 << 10, 31), (6 * MIB, 32), (1000, 33)]
        .iter()
        .enumerate()
        .map(|(i, &(len, seed))| (format!("src-crc32/f{i}.bin"), noise(len, seed)))
        .collect();
    let put = env.put_objects_checked(&crc32, Some(Algorithm::Crc32));
    sets.push(("src-crc32/", manifest_under(&put, "src-crc32/")));
    flip(&env.proxy, 0.06, 0.05, 0x0014_17e9);
    let expect = |objects| Expect {
        objects,
        verified: true,
        algorithm: "crc64nvme",
        checksum: |zip| b64(crc64nvme(zip)),
    };
    let bucket = Bucket::new(BUCKET).unwrap();
    let run = run_packs(
        60,
        &sets,
        &env.proxy,
        |i, prefix, manifest| {
            let dest = format!("output/integrity-{i}.zip");
            let answer = env.post(
                &format!(r#"{{"bucket":"bkt","source-dir":"{prefix}","dest-file":"{dest}"}}"#),
                true,
            );
            let key = ObjectKey::new(dest.clone()).unwrap();
            judge(
                &answer,
                &dest,
                manifest,
                &expect(manifest.len() as u64),
                env.dir.path(),
                || env.object_exists(&dest),
                || {
                    let head = HeadObject::new(&bucket, &key).sign(&env.direct_config(), now());
                    env.store_request(head)
                        .headers
                        .get("x-amz-checksum-crc64nvme")
                        .cloned()
                },
            )
        },
        || env.open_uploads().len(),
    );
    env.proxy.clear_rules();
    assert_run(
        run,
        env.proxy.flips(),
        Flips {
            requests: 3,
            responses: 5,
        },
    );
}

#[test]
fn a_store_without_checksums_still_packs_and_says_so() {
    let env = Env::new();
    // Files written into the store's folder: the store knows no checksum of them.
    let (prefix, files) = &sources()[1];
    let manifest = manifest_under(&env.put_files(files), prefix);
    let dest = "output/unverified.zip";
    let answer = env.post(
        &format!(r#"{{"bucket":"bkt","source-dir":"{prefix}","dest-file":"{dest}"}}"#),
        true,
    );
    let bucket = Bucket::new(BUCKET).unwrap();
    let key = ObjectKey::new(dest).unwrap();
    let outcome = judge(
        &answer,
        dest,
        &manifest,
        &Expect {
            objects: files.len() as u64,
            verified: false,
            algorithm: "crc64nvme",
            checksum: |zip| b64(crc64nvme(zip)),
        },
        env.dir.path(),
        || env.object_exists(dest),
        || {
            let head = HeadObject::new(&bucket, &key).sign(&env.direct_config(), now());
            env.store_request(head)
                .headers
                .get("x-amz-checksum-crc64nvme")
                .cloned()
        },
    );
    assert!(
        matches!(outcome, Ok(Outcome::Whole { rereads: 0 })),
        "{outcome:?}"
    );
}

#[test]
fn pack_output_refuses_a_download_that_does_not_match_the_archive() {
    let env = Env::new();
    let (prefix, files) = &sources()[0];
    env.put_objects(files);
    let config = env.settings.store_config().unwrap();
    let mut request = zip_oss::pack::request(BUCKET);
    request.source_dirs = vec![prefix.to_string()];
    request.dest_file = Some("output/fetched.zip".into());
    let out = env.dir.path().join("fetched.zip");

    // The download's bytes are changed on the way: refused, nothing left behind.
    env.proxy.add_random(RandomRule {
        // The presigned download only (not the pack's look for `fetched.zip.zip-oss-resume`).
        matches: vec![Match::new("GET", &["/output/fetched.zip?X-Amz-"])],
        fault: Fault::FlipResponseByte,
        probability: 1.0,
        seed: 3,
    });
    let err = env
        .rt
        .block_on(zip_oss::pack::pack_and_fetch(
            &env.runtime,
            &config,
            &request,
            Some(&out),
        ))
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("crc64nvme"), "{message}");
    assert_eq!(env.proxy.flips().responses, 1);
    let left: Vec<PathBuf> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("fetched"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // Unchanged, it is kept.
    env.proxy.clear_rules();
    let packed = env
        .rt
        .block_on(zip_oss::pack::pack_and_fetch(
            &env.runtime,
            &config,
            &request,
            Some(&out),
        ))
        .unwrap();
    let stated = packed.summary.checksum.unwrap();
    assert_eq!(stated.value, b64(crc64nvme(&std::fs::read(&out).unwrap())));
}

// ------------------------------------------------------------------ OSS

const OSS_BUCKET: &str = "oss-integrity";

/// The OSS gateway (x-oss-hash-crc64ecma on every answer, as OSS) over moto, with the
/// fault proxy in front of it, and our host serving the component with `provider = oss`.
struct Oss {
    moto: Moto,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    server: Option<zip_oss::serve::ServerHandle>,
    addr: std::net::SocketAddr,
    rt: tokio::runtime::Runtime,
    _gateway: OssGateway,
}

impl Oss {
    fn start() -> Oss {
        let moto = Moto::start_for_oss();
        moto.create_bucket(OSS_BUCKET);
        let gateway = OssGateway::start(&moto.endpoint(), "AK", "SK", None);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let gateway_addr = gateway
            .endpoint()
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        let (proxy, addr, server) = rt.block_on(async {
            let proxy = FaultProxy::start(gateway_addr).await.unwrap();
            let settings = StoreSettings {
                provider: ProviderKind::Oss,
                endpoint: Some(format!("http://{}", proxy.addr)),
                region: "cn-shanghai".into(),
                path_style: true,
                access_key_id: Some("AK".into()),
                access_key_secret: Some("SK".into()),
                ..StoreSettings::default()
            };
            let (addr, server) = zip_oss_tests::serve_open(&settings).await;
            (proxy, addr, server)
        });
        Oss {
            moto,
            proxy,
            dir: tempfile::tempdir().unwrap(),
            server: Some(server),
            addr,
            rt,
            _gateway: gateway,
        }
    }

    /// A signed OSS request to the gateway itself (not through the proxy).
    fn head(&self, key: &str) -> Answer {
        let url = format!("{}/{OSS_BUCKET}/{key}", self.moto.endpoint());
        // moto keeps the objects; whether one exists needs no OSS signature.
        answer(ureq::head(&url).call())
    }
}

impl Drop for Oss {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

#[test]
fn flipped_bytes_never_make_a_wrong_archive_on_oss() {
    let oss = Oss::start();
    let mut sets = Vec::new();
    for (prefix, files) in sources() {
        let mut paths = BTreeMap::new();
        for (i, (key, data)) in files.iter().enumerate() {
            oss.moto.put(OSS_BUCKET, key, data);
            let name = format!("{}{i}", prefix.trim_end_matches('/'));
            paths.insert(key.clone(), save(oss.dir.path(), &name, data));
        }
        sets.push((prefix, manifest_under(&paths, prefix)));
    }
    // Half the packs carry every byte, so enough uploaded parts meet flips; the other half
    // have the large objects hashed by the host and copied, so the hashing meets them.
    flip(&oss.proxy, 0.06, 0.1, 0x0005_51e9);
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let run = run_packs(
        24,
        &sets,
        &oss.proxy,
        |i, prefix, manifest| {
            let dest = format!("output/integrity-{i}.zip");
            let copy = i % 2 == 0;
            let body = format!(
                r#"{{"bucket":"{OSS_BUCKET}","source-dir":"{prefix}","dest-file":"{dest}","copy":{copy}}}"#
            );
            let answer = answer(
                agent
                    .post(&format!("http://{}/", oss.addr))
                    .set("accept", "application/json")
                    .send_string(&body),
            );
            judge(
                &answer,
                &dest,
                manifest,
                &Expect {
                    objects: manifest.len() as u64,
                    verified: true,
                    algorithm: "crc64ecma",
                    checksum: |zip| crc64xz(zip).to_string(),
                },
                oss.dir.path(),
                || oss.head(&dest).status == 200,
                // moto holds the bytes the gateway computes its CRC-64 from.
                || {
                    let stored = get(&format!("{}/{OSS_BUCKET}/{dest}", oss.moto.endpoint()));
                    (stored.status == 200).then(|| crc64xz(&stored.body).to_string())
                },
            )
        },
        || {
            let listed = get(&format!("{}/{OSS_BUCKET}?uploads", oss.moto.endpoint()));
            listed.text().matches("<UploadId>").count()
        },
    );
    oss.proxy.clear_rules();
    assert_run(
        run,
        oss.proxy.flips(),
        Flips {
            requests: 1,
            responses: 2,
        },
    );
}
