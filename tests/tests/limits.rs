//! Per-request bounds of the host: a pack past its time limit is answered `504` and its
//! upload aborted; a pack that cannot fit in its memory limit is answered `503` before it
//! uploads anything; the server keeps serving after both.

use std::time::{Duration, Instant};

use zip_oss::limits::InstanceLimits;
use zip_oss_tests::fault_proxy::{Fault, Match, Rule};
use zip_oss_tests::{noise, Env};

/// Two objects: the first fills a part (so an upload is under way), the second is slow.
fn two_objects(env: &Env) {
    env.put_files(&[
        ("files/a.bin".into(), noise(9 << 20, 1)),
        ("files/b.bin".into(), noise(1 << 20, 2)),
    ]);
}

fn slow_read_of_b(env: &Env, ms: u64) {
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["files/b.bin".into()],
        fault: Fault::Delay(ms),
        times: 1,
    });
}

fn started_an_upload(env: &Env) -> bool {
    env.proxy
        .log()
        .iter()
        .any(|l| l.starts_with("POST") && l.contains("uploads"))
}

/// A server stopping packs after 2 s (10 s to abort), and a pack that will pass that.
fn a_pack_past_its_time() -> Env {
    let env = Env::with_limits(InstanceLimits {
        timeout: Duration::from_secs(2),
        abort_grace: Duration::from_secs(10),
        ..InstanceLimits::default()
    });
    two_objects(&env);
    slow_read_of_b(&env, 8000);
    env
}

#[test]
fn a_pack_past_its_time_limit_is_answered_504_and_its_upload_aborted() {
    let env = a_pack_past_its_time();

    let started = Instant::now();
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/late.zip"}"#,
        true,
    );
    let took = started.elapsed();
    assert_eq!(answer.error_code(504), "Timeout", "{}", answer.text());
    // Stopped at the limit, not when the slow read would have ended.
    assert!(took < Duration::from_secs(7), "answered after {took:?}");
    assert!(started_an_upload(&env), "{:#?}", env.proxy.log());
    assert!(env.aborts_sent() > 0, "{:#?}", env.proxy.log());
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    assert!(!env.object_exists("output/late.zip"));

    // The server is unharmed: the same pack, now fast, succeeds.
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/on-time.zip"}"#,
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(env.object_exists("output/on-time.zip"));

    // The `zip-pack` export is bounded the same way.
    slow_read_of_b(&env, 8000);
    let mut request = zip_oss::pack::request("bkt");
    request.source_dirs = vec!["files/".into()];
    request.dest_file = Some("late-export.zip".into());
    let config = env.settings.store_config().unwrap();
    let answer = env
        .rt
        .block_on(env.runtime.pack(&config, &request))
        .unwrap();
    let err = answer.expect_err("a pack past its time limit");
    assert_eq!((err.status, err.code.as_str()), (504, "Timeout"), "{err:?}");
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    assert!(!env.object_exists("late-export.zip"));
}

/// A pack stopped at its limit whose abort meets a store outage: the abort is tried again
/// within the grace, and the upload is still aborted.
#[test]
fn a_stopped_packs_refused_abort_is_retried_within_the_grace() {
    let env = a_pack_past_its_time();
    env.proxy.add(Rule {
        method: "DELETE",
        contains: vec!["uploadId=".into()],
        fault: Fault::Status(503, "ServiceUnavailable"),
        times: 2,
    });
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/late.zip"}"#,
        true,
    );
    assert_eq!(answer.error_code(504), "Timeout", "{}", answer.text());
    assert_eq!(env.aborts_sent(), 3, "{:#?}", env.proxy.log());
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    assert!(!env.object_exists("output/late.zip"));
}

#[test]
fn a_pack_that_cannot_fit_in_memory_is_refused_before_it_uploads() {
    // 20 MiB cannot hold four 5 MiB parts plus working memory.
    let env = Env::with_limits(InstanceLimits {
        max_memory: 20 << 20,
        ..InstanceLimits::default()
    });
    two_objects(&env);
    let answer = env.post(r#"{"bucket":"bkt","source-dir":"files/"}"#, true);
    assert_eq!(
        answer.error_code(503),
        "InsufficientMemory",
        "{}",
        answer.text()
    );
    assert!(!started_an_upload(&env), "{:#?}", env.proxy.log());
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    // Still serving.
    assert_eq!(
        zip_oss_tests::get(&format!("{}healthz", env.url())).status,
        200
    );
}

#[test]
fn an_instance_refused_memory_is_answered_503_and_the_server_survives() {
    // Less than the component's own initial memory: the limiter refuses the instance itself,
    // which the host must report as the memory limit (and not crash on).
    let env = Env::with_limits(InstanceLimits {
        max_memory: 256 << 10,
        ..InstanceLimits::default()
    });
    two_objects(&env);
    for _ in 0..2 {
        let answer = env.post(r#"{"bucket":"bkt","source-dir":"files/"}"#, true);
        assert_eq!(answer.error_code(503), "MemoryLimit", "{}", answer.text());
    }
    assert!(env.proxy.log().is_empty(), "{:#?}", env.proxy.log());
    assert_eq!(
        zip_oss_tests::get(&format!("{}healthz", env.url())).status,
        200
    );
}

/// A stopped pack still sweeps: the upload of a create whose answer was lost is found
/// (`ListMultipartUploads`, which the host lets through after a stop with the other
/// cleanup requests) and aborted within the grace, as a pack that failed on its own does.
#[test]
fn a_stopped_pack_sweeps_the_upload_of_a_lost_create_answer() {
    let env = a_pack_past_its_time();
    let create = Match::create_upload();
    env.proxy.add(Rule {
        method: create.method,
        contains: create.contains,
        fault: Fault::LoseAnswer,
        times: 1,
    });
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/late.zip"}"#,
        true,
    );
    assert_eq!(answer.error_code(504), "Timeout", "{}", answer.text());
    let log = env.proxy.log();
    assert!(
        log.iter()
            .filter(|l| l.starts_with("POST ") && l.contains("?uploads"))
            .count()
            >= 2,
        "the lost create was retried: {log:#?}"
    );
    assert_eq!(env.open_uploads(), Vec::<String>::new(), "{log:#?}");
    assert!(!env.object_exists("output/late.zip"));
}
