//! Seams (issue 12) through the fault proxy: copied entries in a row are joined by scratch
//! objects (`core/src/pack/seams.rs`), each built by a multipart upload of its own, copied
//! into the archive and deleted. With 40 % of the answers to scratch-key writes lost after
//! the store acted, two packs failing on purpose after their seams were built and one
//! while they are being built, every pack must still end cleanly (the reference archive, or an error with nothing at the
//! destination) and leave no scratch object and no upload open.

use zip_oss_core::pack::SEAM_SUFFIX;
use zip_oss_core::store::{Bucket, ListObjectsV2, Provider};
use zip_oss_tests::fault_proxy::{Fault, Match, RandomRule, Rule};
use zip_oss_tests::{get, noise, now, Answer, Env, BUCKET};

const RECORDS: &str = ".zip-oss/crc/";
const MIB: usize = 1 << 20;

fn body(dest: &str, copy: bool) -> String {
    format!(
        r#"{{"bucket":"{BUCKET}","source-dir":"big/","dest-file":"{dest}","compression":"stored","copy":{copy}}}"#
    )
}

fn archive(answer: &Answer) -> Vec<u8> {
    let summary: serde_json::Value = answer.json();
    let zip = get(summary["url"].as_str().unwrap());
    assert_eq!(zip.status, 200, "{}", zip.text());
    zip.body
}

fn scratch_keys(env: &Env) -> Vec<String> {
    let bucket = Bucket::new(BUCKET).unwrap();
    let list = ListObjectsV2::new(&bucket, "output/").sign(&env.direct_config(), now());
    let listed = ListObjectsV2::parse(&env.store_request(list).body, Provider::S3).unwrap();
    listed
        .objects
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(SEAM_SUFFIX))
        .collect()
}

#[test]
fn seams_leave_nothing_behind_while_their_answers_are_lost() {
    let env = Env::with_settings(|s| s.crc_records = Some(RECORDS.into()));
    // a → b and b → c are seams: only a's head is read; b, under two heads, is copied
    // whole as the second seam's tail.
    env.put_objects(&[
        ("big/a.bin".into(), noise(16 * MIB + 123, 1)),
        ("big/b.bin".into(), noise(8 * MIB + 3, 2)),
        ("big/c.bin".into(), noise(12 * MIB + 5, 3)),
    ]);
    let first = env.post(&body("output/first.zip", true), true);
    assert_eq!(first.status, 200, "{}", first.text());
    let reference = env.post(&body("output/reference.zip", false), true);
    assert_eq!(reference.status, 200, "{}", reference.text());
    let want = archive(&reference);

    let seam = |method| Match::new(method, &[SEAM_SUFFIX]);
    env.proxy.add_random(RandomRule {
        matches: vec![seam("POST"), seam("PUT"), seam("DELETE")],
        fault: Fault::LoseAnswer,
        probability: 0.4,
        seed: 0x5ea3,
    });
    let (mut done, mut failed) = (0, 0);
    for i in 0..8 {
        let dest = format!("output/seam-{i}.zip");
        // Two packs fail once their seams are in: the archive's completion is refused.
        if i == 3 || i == 6 {
            env.proxy.add(Rule {
                method: "POST",
                contains: vec![format!("{dest}?uploadId=")],
                fault: Fault::Status(400, "InvalidPart"),
                times: 1,
            });
        }
        let answer = env.post(&body(&dest, true), true);
        if answer.status == 200 {
            let summary: serde_json::Value = answer.json();
            assert_eq!(summary["bytes_read"], 5 * MIB as u64, "{summary}");
            assert!(
                archive(&answer) == want,
                "pack {i}: not the reference archive"
            );
            done += 1;
        } else {
            let error: serde_json::Value = answer.json();
            assert!(error["error"]["code"].is_string(), "pack {i}: {error}");
            assert!(
                !env.object_exists(&dest),
                "pack {i} failed, yet wrote {dest}"
            );
            failed += 1;
        }
    }
    env.proxy.clear_rules();
    // One more fails while its seams are being built: a scratch completion is refused
    // (404 NoSuchUpload, as if the upload were gone), so the others' scratch objects exist.
    env.proxy.add(Rule {
        method: "POST",
        contains: vec![format!("{SEAM_SUFFIX}?uploadId=")],
        fault: Fault::Status(404, "NoSuchUpload"),
        times: 1,
    });
    let answer = env.post(&body("output/seam-mid.zip", true), true);
    env.proxy.clear_rules();
    assert!(answer.status >= 400, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "NoSuchUpload");
    assert!(!env.object_exists("output/seam-mid.zip"));
    eprintln!("{done} packs done, {failed} failed");
    assert!(done >= 2 && failed >= 2, "{done} done, {failed} failed");
    for method in ["POST", "PUT", "DELETE"] {
        let (sent, lost) = env.proxy.lost_answers(&seam(method));
        assert!(
            lost > 0,
            "no {method} answer to a scratch key lost ({sent} sent)"
        );
    }
    assert_eq!(
        scratch_keys(&env),
        Vec::<String>::new(),
        "scratch objects left"
    );
    assert_eq!(
        env.open_uploads(),
        Vec::<String>::new(),
        "uploads left open"
    );
}
