//! Failures: clear errors with fitting statuses, transient trouble ridden out, and after a
//! real failure nothing at the destination and no multipart upload left open.

use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::{get, noise, save, Answer, Env, BUCKET};

#[test]
fn malformed_and_invalid_requests_are_400() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    for body in [
        "{not json",
        r#"{"source-dir":"d/"}"#,
        r#"{"bucket":"bkt"}"#,
        r#"{"bucket":"a/b","source-dir":"d/"}"#,
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"x/"}"#,
        r#"{"bucket":"bkt","source-dir":"d/","url-expires":999999999}"#,
    ] {
        let code = Answer::error_code(&env.post(body, false), 400);
        assert_eq!(code, "InvalidRequest", "{body}");
    }
    assert!(
        env.proxy.log().is_empty(),
        "bad requests reached the store: {:?}",
        env.proxy.log()
    );
}

#[test]
fn missing_bucket_key_or_source_is_404() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    Answer::error_code(
        &env.post(r#"{"bucket":"no-such-bucket","source-dir":"d/"}"#, false),
        404,
    );
    Answer::error_code(
        &env.post(
            r#"{"bucket":"bkt","source-files":["d/a.txt","d/missing.txt"]}"#,
            false,
        ),
        404,
    );
    Answer::error_code(
        &env.post(r#"{"bucket":"bkt","source-dir":"empty/"}"#, false),
        404,
    );
    assert!(env.open_uploads().is_empty());
}

#[test]
fn refused_credentials_are_403_and_the_secret_never_shows() {
    let secret = "wrong-secret-value-1234567890";
    let env = Env::with_secret(secret);
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let answer = env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, false);
    answer.error_code(403);
    assert!(!answer.text().contains(secret));
    assert!(!answer.text().contains("zip-oss-demo-secret"));
}

#[test]
fn transient_failures_are_retried_and_broken_reads_resume() {
    let env = Env::new();
    let big = noise(12 << 20, 3);
    let paths = env.put_files(&[
        ("d/big.bin".into(), big),
        ("d/small.txt".into(), b"small".to_vec()),
    ]);
    let rule = |method, contains: &[&str], fault, times| Rule {
        method,
        contains: contains.iter().map(|s| s.to_string()).collect(),
        fault,
        times,
    };
    env.proxy.add(rule(
        "GET",
        &["list-type=2"],
        Fault::Status(503, "SlowDown"),
        1,
    ));
    env.proxy.add(rule(
        "GET",
        &["/bkt/d/big.bin"],
        Fault::CutBodyAfter(3 << 20),
        2,
    ));
    env.proxy.add(rule(
        "PUT",
        &["partNumber=1&"],
        Fault::Status(500, "InternalError"),
        1,
    ));
    env.proxy.add(rule(
        "POST",
        &["uploads"],
        Fault::Status(503, "ServiceUnavailable"),
        1,
    ));

    let answer = env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        env.proxy.faulted(),
        5,
        "every injected fault was hit: {:#?}",
        env.proxy.log()
    );
    let zip = get(answer.json()["url"].as_str().unwrap());
    let zip_path = save(env.dir.path(), "r.zip", &zip.body);
    let manifest = manifest_under(&paths, "d/");
    check_archive(&zip_path, &manifest);
}

#[test]
fn a_failure_after_the_upload_began_aborts_it() {
    let env = Env::with_dest_prefixes(&["out/"]);
    env.put_files(&[
        ("d/a.bin".into(), noise(9 << 20, 1)),
        ("d/b.txt".into(), b"b".to_vec()),
    ]);
    // Every read of b.txt fails: the pack must give up after its retries.
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["/bkt/d/b.txt".into()],
        fault: Fault::Status(500, "InternalError"),
        times: 100,
    });
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"out/x.zip"}"#,
        false,
    );
    answer.error_code(502);
    assert!(env.aborts_sent() > 0, "no abort sent");
    assert!(
        !env.object_exists("out/x.zip"),
        "a half-written archive is visible"
    );
    assert_eq!(env.open_uploads(), Vec::<String>::new());
}

#[test]
fn a_refused_completion_aborts_the_upload() {
    let env = Env::with_dest_prefixes(&["out/"]);
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    env.proxy.add(Rule {
        method: "POST",
        contains: vec!["uploadId=".into()],
        fault: Fault::Status(400, "InvalidPart"),
        times: 1,
    });
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"out/y.zip"}"#,
        false,
    );
    answer.error_code(502);
    assert!(!env.object_exists("out/y.zip"));
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    let _ = BUCKET;
}

/// A store outage as a failed pack cleans up: twelve aborts in a row refused (more than
/// its ten attempts) are waited out, and the upload is still aborted.
#[test]
fn an_outage_at_cleanup_is_waited_out() {
    let env = Env::with_dest_prefixes(&["out/"]);
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    env.proxy.add(Rule {
        method: "POST",
        contains: vec!["uploadId=".into()],
        fault: Fault::Status(400, "InvalidPart"),
        times: 1,
    });
    env.proxy.add(Rule {
        method: "DELETE",
        contains: vec!["uploadId=".into()],
        fault: Fault::Status(503, "ServiceUnavailable"),
        times: 12,
    });
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"out/z.zip"}"#,
        false,
    );
    answer.error_code(502);
    assert_eq!(env.aborts_sent(), 13, "{:?}", env.proxy.log());
    assert!(!env.object_exists("out/z.zip"));
    assert_eq!(env.open_uploads(), Vec::<String>::new());
}

#[test]
fn limits_refuse_with_413_before_any_upload() {
    let env = Env::with_settings(|s| {
        s.max_entries = Some(2);
        s.max_bytes = Some(10);
    });
    env.put_files(&[
        ("d/a.txt".into(), b"a".to_vec()),
        ("d/b.txt".into(), b"b".to_vec()),
        ("d/c.txt".into(), b"c".to_vec()),
    ]);
    assert_eq!(
        Answer::error_code(
            &env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, false),
            413
        ),
        "TooManyEntries"
    );
    env.put_files(&[("e/big.bin".into(), vec![7; 11])]);
    assert_eq!(
        Answer::error_code(
            &env.post(r#"{"bucket":"bkt","source-dir":"e/"}"#, false),
            413
        ),
        "TooManyBytes"
    );
    assert!(
        !env.proxy.log().iter().any(|l| l.contains("uploads")),
        "an upload was started: {:?}",
        env.proxy.log()
    );
    // Files past the limit are refused before any is looked up.
    let before = env.proxy.log().len();
    assert_eq!(
        Answer::error_code(
            &env.post(
                r#"{"bucket":"bkt","source-files":["d/a.txt","d/b.txt","d/c.txt"]}"#,
                false
            ),
            413
        ),
        "TooManyEntries"
    );
    assert_eq!(env.proxy.log().len(), before, "{:?}", env.proxy.log());
    // Within the limits, the same service packs; a file named over and over is looked
    // up once.
    let mut files = vec!["d/a.txt"; 500];
    files.push("d/b.txt");
    let json = serde_json::json!({"bucket": "bkt", "source-files": files}).to_string();
    let before = env.proxy.log().len();
    let ok = env.post(&json, true);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let looked_up = (env.proxy.log()[before..].iter())
        .filter(|l| l.starts_with("HEAD") && l.contains("d/a.txt"))
        .count();
    assert_eq!(looked_up, 1, "{:?}", env.proxy.log());
}

#[test]
fn a_broken_read_resumes_as_one_stream_too() {
    // `read_ranges = 1`: a large object is one GET, resumed with `Range: bytes=N-`.
    let env = Env::with_settings(|s| s.read_ranges = Some(1));
    let paths = env.put_files(&[("d/big.bin".into(), noise(12 << 20, 4))]);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["/bkt/d/big.bin".into()],
        fault: Fault::CutBodyAfter(5 << 20),
        times: 2,
    });
    // Carried: with copy, the host would hash the object first, and the cuts land there
    // (`copy.rs` tests that).
    let answer = env.post(r#"{"bucket":"bkt","source-dir":"d/","copy":false}"#, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(env.proxy.faulted(), 2, "{:#?}", env.proxy.log());
    let reads = env.proxy.count("GET", "big.bin");
    assert_eq!(reads, 3, "one GET and two resumes: {:#?}", env.proxy.log());
    let zip = get(answer.json()["url"].as_str().unwrap());
    let manifest = manifest_under(&paths, "d/");
    check_archive(
        &save(env.dir.path(), "one-stream.zip", &zip.body),
        &manifest,
    );
}

#[test]
fn an_object_changing_while_it_is_packed_fails_and_leaves_nothing() {
    let env = Env::new();
    // Streamed whole (over 1 MiB, up to 2 MiB), then read in ranges (over 2 MiB).
    for (key, size, changed) in [
        ("d/grows.bin", 2 << 20, 3 << 20),
        ("d/ranged.bin", 9 << 20, 9 << 20),
    ] {
        let paths = env.put_files(&[(key.into(), noise(size, 1))]);
        // The first read of the object waits while the object is replaced.
        env.proxy.add(Rule {
            method: "GET",
            contains: vec![format!("/bkt/{key}")],
            fault: Fault::Delay(1500),
            times: 1,
        });
        let path = paths[key].clone();
        let answer = std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(700));
                std::fs::write(&path, noise(changed, 2)).unwrap();
            });
            env.post(
                &format!(
                    r#"{{"bucket":"bkt","source-files":["{key}"],"dest-file":"output/changed.zip"}}"#
                ),
                true,
            )
        });
        let code = answer.error_code(502);
        assert_eq!(code, "ObjectChanged", "{key}: {}", answer.text());
        assert_eq!(env.open_uploads(), Vec::<String>::new(), "{key}");
        assert!(!env.object_exists("output/changed.zip"), "{key}");
        std::fs::remove_file(&paths[key]).unwrap();
    }
}
