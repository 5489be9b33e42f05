//! What operators watch: `GET /metrics` read by the Prometheus Python client's own parsers
//! (the text format 0.0.4 and strict OpenMetrics), its counters moving by exactly what a
//! pack and a failed pack did; and `--log-format json` giving one JSON object per line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::served::Served;
use zip_oss_tests::{binary, get, Env};

/// One scrape: every sample by `name{label="value",...}` (labels sorted).
type Samples = BTreeMap<String, f64>;

fn parser() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/parse_metrics.py")
}

/// Parses `text` with `prometheus_client`'s parser for `format`; panics if it refuses it.
fn parse(text: &str, format: &str) -> Samples {
    let mut child = Command::new("python3")
        .arg(parser())
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/setup installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {format} parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<(String, BTreeMap<String, String>, f64, String)> =
        serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|(name, labels, value, _type)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            (format!("{name}{{{}}}", labels.join(",")), value)
        })
        .collect()
}

/// Scrapes `/metrics` in both formats, checks both parse to the same samples (scraping
/// again should a pack end between the two), returns them.
fn scrape(env: &Env) -> Samples {
    for _ in 0..5 {
        let (plain, open) = scrape_both(env);
        if plain == open {
            return plain;
        }
    }
    let (plain, open) = scrape_both(env);
    assert_eq!(plain, open, "the two formats disagree");
    plain
}

fn scrape_both(env: &Env) -> (Samples, Samples) {
    let url = format!("{}metrics", env.url());
    let plain = ureq::get(&url).call().unwrap();
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let plain = parse(&plain.into_string().unwrap(), "prometheus");
    let open = ureq::get(&url)
        .set(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .call()
        .unwrap();
    assert!(open
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let open = parse(&open.into_string().unwrap(), "openmetrics");
    (plain, open)
}

fn value(s: &Samples, name: &str) -> f64 {
    s.get(name).copied().unwrap_or(0.0)
}

/// How much every sample moved from `before` to `after`, for the ones that did.
fn moved(before: &Samples, after: &Samples) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - value(before, k)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

/// Scrapes until `name` reaches `want`: a pack is counted when its answer's last byte has
/// gone, which can be a moment after the client has it.
fn scrape_until(env: &Env, name: &str, want: f64) -> Samples {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(env);
        if value(&s, name) == want {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {want}: {s:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sum_matching(moves: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    moves
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn metrics_move_by_what_a_pack_and_a_failed_pack_did() {
    let env = Env::new();
    let a = b"alpha".to_vec();
    let b = zip_oss_tests::noise(300_000, 7);
    let read = (a.len() + b.len()) as f64;
    env.put_files(&[("d/a.txt".into(), a), ("d/b.bin".into(), b)]);

    let before = scrape(&env);
    // A fresh server: nothing counted yet, nothing in flight.
    assert_eq!(value(&before, "zip_oss_packs_in_flight{}"), 0.0);
    let store_log = env.proxy.log().len();

    // One pack that succeeds.
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/ok.zip"}"#,
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let summary = answer.json();
    let archive = summary["archive_bytes"].as_f64().unwrap();
    let parts = summary["parts"].as_f64().unwrap();
    let ok = r#"zip_oss_packs_total{code="none",outcome="success"}"#;
    let after_ok = scrape_until(&env, ok, 1.0);
    let m = moved(&before, &after_ok);
    let expect = |name: &str, want: f64| {
        assert_eq!(value(&m, name), want, "{name}: {m:#?}");
    };
    expect(ok, 1.0);
    expect("zip_oss_read_bytes_total{}", read);
    // The component asked, and the host hashed every byte it read.
    expect("zip_oss_hashed_bytes_total{}", read);
    expect(
        r#"zip_oss_written_bytes_total{destination="store"}"#,
        archive,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="ListObjects",status="200"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="GetObject",status="200"}"#,
        2.0,
    );
    // The pack's checkpoint (resume): none there (404), written, deleted at the end.
    expect(
        r#"zip_oss_store_requests_total{operation="GetObject",status="404"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="PutObject",status="200"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="DeleteObject",status="204"}"#,
        1.0,
    );
    // The destination must not exist yet: its HeadObject answers 404.
    expect(
        r#"zip_oss_store_requests_total{operation="HeadObject",status="404"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="CreateMultipartUpload",status="200"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="UploadPart",status="200"}"#,
        parts,
    );
    expect(
        r#"zip_oss_store_requests_total{operation="CompleteMultipartUpload",status="200"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_pack_duration_seconds_count{outcome="success"}"#,
        1.0,
    );
    expect(
        r#"zip_oss_store_request_duration_seconds_count{operation="GetObject"}"#,
        3.0,
    );
    assert_eq!(
        sum_matching(&m, "zip_oss_store_retries_total"),
        0.0,
        "{m:#?}"
    );
    assert_eq!(
        sum_matching(&m, "zip_oss_store_requests_total"),
        9.0 + parts,
        "{m:#?}"
    );
    assert_eq!(value(&after_ok, "zip_oss_packs_in_flight{}"), 0.0);
    // Every store request the proxy saw was counted, and scraping sent none.
    assert_eq!(env.proxy.log().len() - store_log, 9 + parts as usize);

    // One pack that fails: every read of b.bin answers 500, so the component reads it
    // five times (four retries), gives up and aborts its upload.
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["/bkt/d/b.bin".into()],
        fault: Fault::Status(500, "InternalError"),
        times: 100,
    });
    let failed = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/failed.zip"}"#,
        true,
    );
    let code = failed.error_code(502);
    let err = format!(r#"zip_oss_packs_total{{code="{code}",outcome="error"}}"#);
    let after_failed = scrape_until(&env, &err, 1.0);
    let m = moved(&after_ok, &after_failed);
    let expect = |name: &str, want: f64| {
        assert_eq!(value(&m, name), want, "{name}: {m:#?}");
    };
    expect(&err, 1.0);
    expect(ok, 0.0);
    expect(
        r#"zip_oss_store_requests_total{operation="GetObject",status="500"}"#,
        5.0,
    );
    expect(r#"zip_oss_store_retries_total{operation="GetObject"}"#, 4.0);
    assert_eq!(
        sum_matching(&m, "zip_oss_store_retries_total"),
        4.0,
        "{m:#?}"
    );
    expect(
        r#"zip_oss_pack_duration_seconds_count{outcome="error"}"#,
        1.0,
    );
    // Nothing of b.bin was read; a.txt's five bytes may have been.
    assert!(value(&m, "zip_oss_read_bytes_total{}") <= 5.0, "{m:#?}");
    // The upload it began was aborted, and no part of it counts as written.
    let created = sum_matching(
        &m,
        "zip_oss_store_requests_total{operation=\"CreateMultipartUpload\"",
    );
    let aborted = sum_matching(
        &m,
        "zip_oss_store_requests_total{operation=\"AbortMultipartUpload\"",
    );
    assert_eq!((created, aborted), (1.0, 1.0), "{m:#?}");
    expect(r#"zip_oss_written_bytes_total{destination="store"}"#, 0.0);
    assert_eq!(value(&after_failed, "zip_oss_packs_in_flight{}"), 0.0);
    // The histograms hold every pack: two, each under the largest finite bucket.
    assert_eq!(
        value(
            &after_failed,
            r#"zip_oss_pack_duration_seconds_bucket{le="+Inf",outcome="success"}"#
        ) + value(
            &after_failed,
            r#"zip_oss_pack_duration_seconds_bucket{le="+Inf",outcome="error"}"#
        ),
        2.0
    );

    // The server's own refusals are counted by their code as well.
    let too_large = env.post(&format!("{{\"pad\":\"{}\"}}", "x".repeat(2 << 20)), true);
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    let refused = r#"zip_oss_packs_total{code="RequestTooLarge",outcome="error"}"#;
    let after_refused = scrape_until(&env, refused, 1.0);
    assert_eq!(value(&moved(&after_failed, &after_refused), refused), 1.0);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"alpha".to_vec())]);
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("ZIP_OSS_ENDPOINT", format!("http://{}", env.proxy.addr))
        .env("ZIP_OSS_PATH_STYLE", "true")
        .env("ZIP_OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("HOME", env.dir.path());
    let served =
        Served::start(cmd).unwrap_or_else(|(_, log)| panic!("zip-oss serve exited:\n{log}"));
    let port = served.port;
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let answer = zip_oss_tests::answer(
        agent
            .post(&format!("http://127.0.0.1:{port}/"))
            .set("x-fc-request-id", "json-req-1")
            .send_string(r#"{"bucket":"bkt","source-dir":"d/"}"#),
    );
    assert_eq!(answer.status, 302, "{}", answer.text());
    assert_eq!(get(&answer.headers["location"]).status, 200);
    let metrics = get(&format!("http://127.0.0.1:{port}/metrics")).text();
    assert!(
        metrics.contains(r#"zip_oss_packs_total{outcome="success",code="none"} 1"#),
        "{metrics}"
    );

    let (status, log) = served.stop();
    assert!(status.success(), "{status}");

    let lines: Vec<Value> = log
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "{l}");
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
            v
        })
        .collect();
    assert!(lines.len() >= 3, "{log}"); // listening, the request, stopping
    let request = lines
        .iter()
        .find(|v| v["request_id"] == "json-req-1")
        .unwrap_or_else(|| panic!("no line for the request:\n{log}"));
    assert_eq!(request["message"], "request", "{request}");
    assert_eq!(request["status"], 302, "{request}");
    assert_eq!(request["method"], "POST", "{request}");
    assert_eq!(request["path"], "/", "{request}");
    assert!(request["ms"].is_u64(), "{request}");
    assert!(!log.contains(ACCESS_KEY_SECRET), "the secret was logged");
}

/// An instance gives back what each store request took in the host: a pack of 300 small
/// objects (300 reads, each with its own timeouts) leaves a few resources, not one per
/// read. wasmtime-wasi-http 48 kept every request's `request-options` (`request_options.rs`
/// in the host deletes them), which at a million objects would fill the table and trap.
#[test]
fn a_pack_leaves_no_host_resource_per_request() {
    leaves_a_few_resources(Env::new());
}

/// The same under a host that keeps every request's options, as wasmtime-wasi-http does
/// and so Spin: the component gives such a host none (it times its requests itself).
#[test]
fn a_pack_leaves_no_host_resource_per_request_under_a_plain_host() {
    leaves_a_few_resources(Env::plain_host_with_settings(|_| {}));
}

fn leaves_a_few_resources(env: Env) {
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("many/{i:03}.txt"),
                format!("object {i}").into_bytes(),
            )
        })
        .collect();
    env.put_files(&files);
    let name = "zip_oss_instance_resources_left_total{}";
    let before = scrape(&env);
    let answer = env.post(
        r#"{"bucket":"bkt","source-dir":"many/","dest-file":"output/many.zip"}"#,
        true,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["entries"], 300, "{}", answer.text());
    let ok = r#"zip_oss_packs_total{code="none",outcome="success"}"#;
    let after = scrape_until(&env, ok, value(&before, ok) + 1.0);
    let left = value(&after, name) - value(&before, name);
    assert!(
        left < 30.0,
        "the pack's instance left {left} resources in the host's table"
    );
}
