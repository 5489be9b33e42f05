//! Timeouts on a request's body, through the fault proxy to the real store: an upload that
//! goes slowly but steadily runs for as long as it needs (a large part over a slow uplink
//! takes minutes), while one the store stops taking fails within the between-bytes timeout
//! instead of hanging the pack. First the host's client alone, then a whole pack. Last, a
//! store that is late to answer or stops sending, under a plain host that is given no
//! timeouts: the component's own clock stops the wait.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use zip_oss::outgoing::{OutgoingClient, OutgoingOptions};
use zip_oss_core::store::{Bucket, Credentials, Endpoint, ObjectKey, PutObject, StoreConfig};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::{get, noise, now, save, Env, BUCKET};

/// Every timeout 2 s: a body that takes longer than that in all must still go through.
fn client() -> std::sync::Arc<OutgoingClient> {
    OutgoingClient::new(OutgoingOptions {
        first_byte_timeout: Duration::from_secs(2),
        between_bytes_timeout: Duration::from_secs(2),
        ..OutgoingOptions::default()
    })
}

/// A signed PutObject of `data` to `key`, through the proxy; its status or the error.
async fn put(
    env: &Env,
    client: &OutgoingClient,
    key: &str,
    data: Vec<u8>,
) -> Result<u16, wasmtime_wasi_http::Error> {
    let mut config = StoreConfig::new(
        Endpoint::parse(&format!("http://{}", env.proxy.addr)).unwrap(),
        "us-east-1",
        Credentials::new(
            zip_oss::demo::ACCESS_KEY_ID,
            zip_oss::demo::ACCESS_KEY_SECRET,
        ),
    );
    config.path_style = true;
    let bucket = Bucket::new(BUCKET).unwrap();
    let signed = PutObject::new(&bucket, &ObjectKey::new(key).unwrap(), data.len() as u64)
        .sign(&config, now());
    let mut request = hyper::Request::builder()
        .method(signed.method)
        .uri(&signed.url);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    if signed.needs_content_length() {
        request = request.header("content-length", data.len());
    }
    // In frames of 256 KiB, as the host hands over a guest's body.
    let frames: Vec<Result<Frame<Bytes>, wasmtime_wasi_http::Error>> = Bytes::from(data)
        .chunks(256 << 10)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
    let response = client.send(request.body(body).unwrap(), None, None).await?;
    Ok(response.status().as_u16())
}

#[test]
fn a_slow_steady_upload_outlasts_the_first_byte_timeout() {
    let env = Env::new();
    env.proxy.add(Rule {
        method: "PUT",
        contains: vec!["slow.bin".into()],
        fault: Fault::SlowRequestBody(2 << 20),
        times: 1,
    });
    let data = noise(16 << 20, 7);
    let started = Instant::now();
    let status = env
        .rt
        .block_on(async { put(&env, &client(), "slow.bin", data.clone()).await })
        .expect("a slow upload failed");
    let took = started.elapsed();
    assert_eq!(status, 200);
    // 16 MiB at 2 MiB/s: far past every 2 s timeout in all.
    assert!(took > Duration::from_secs(6), "took only {took:?}");
    let stored = std::fs::read(env.root().join(BUCKET).join("slow.bin")).unwrap();
    assert!(stored == data, "the store holds other bytes");
}

#[test]
fn an_upload_the_store_stops_taking_fails_within_the_timeout() {
    let env = Env::new();
    env.proxy.add(Rule {
        method: "PUT",
        contains: vec!["stalled.bin".into()],
        fault: Fault::StallRequestBody(1 << 20),
        times: 1,
    });
    let started = Instant::now();
    let result = env
        .rt
        .block_on(async { put(&env, &client(), "stalled.bin", noise(64 << 20, 8)).await });
    let took = started.elapsed();
    assert!(
        matches!(
            result,
            Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)
        ),
        "{result:?}"
    );
    // The 2 s between-bytes timeout, once the socket buffers have filled; not a hang.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!env.object_exists("stalled.bin"));
}

/// The whole pack, component and host, with the store timeout at 2 s and every part
/// uploading at 1 MiB/s (5 s a part): the parts go through once each, none timed out and
/// sent again, and the archive is whole.
#[test]
fn a_pack_whose_parts_upload_slowly_completes_without_retries() {
    pack_with_slow_parts(Env::with_settings(|s| s.store_timeout = Some(2)));
}

/// The same pack under a host that counts an upload's sending in the first-byte timeout,
/// as Spin and wasmtime's default sender do (`OutgoingOptions::plain`): a part taking 5 s
/// to send must not time out at the 2 s store timeout and be sent again until the pack
/// fails. The component gives such a host the body's time at the slowest pace it accepts
/// (`answer_wait.rs`).
#[test]
fn a_pack_whose_parts_upload_slowly_completes_under_a_plain_host() {
    pack_with_slow_parts(Env::plain_host_with_settings(|s| s.store_timeout = Some(2)));
}

/// Packs 12 MiB in three parts, each uploading at 1 MiB/s: every part is sent once, and
/// the archive reads back whole.
fn pack_with_slow_parts(env: Env) {
    let paths = env.put_files(&[
        ("d/big.bin".into(), noise(12 << 20, 9)),
        ("d/small.txt".into(), b"small".to_vec()),
    ]);
    env.proxy.add(Rule {
        method: "PUT",
        contains: vec!["partNumber=".into()],
        fault: Fault::SlowRequestBody(1 << 20),
        times: 10,
    });
    let answer = env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, true);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let parts: Vec<String> = env
        .proxy
        .log()
        .into_iter()
        .filter(|l| l.starts_with("PUT") && l.contains("partNumber="))
        .collect();
    assert_eq!(parts.len(), 3, "a part was sent again: {parts:#?}");
    let summary = answer.json();
    let zip = get(summary["url"].as_str().unwrap());
    let zip = save(env.dir.path(), "slow.zip", &zip.body);
    check_archive(&zip, &manifest_under(&paths, "d/"));
}

/// Under a plain host (Spin's behaviour; the component gives it no `request-options`, and
/// its own timeouts are minutes), a read the store is slow to answer is timed by the
/// component: given up at the 2 s store timeout and sent again, not waited on for 30 s.
#[test]
fn a_late_answer_is_timed_out_by_the_component_under_a_plain_host() {
    read_once_faulty(Fault::Delay(30_000));
}

/// The same for a store that stops sending an answer's body: nothing for 2 s, and the
/// read is resumed where it stopped.
#[test]
fn a_stalled_body_is_timed_out_by_the_component_under_a_plain_host() {
    read_once_faulty(Fault::StallResponseBody(1000));
}

/// Packs a folder whose one object's first read meets `fault`, under a plain host with
/// a 2 s store timeout: the pack completes well before the fault would have let it, with
/// the object read twice, and the archive reads back whole.
fn read_once_faulty(fault: Fault) {
    let env = Env::plain_host_with_settings(|s| s.store_timeout = Some(2));
    let paths = env.put_files(&[
        ("d/slow.bin".into(), noise(64 << 10, 3)),
        ("d/small.txt".into(), b"small".to_vec()),
    ]);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["slow.bin".into()],
        fault,
        times: 1,
    });
    let started = Instant::now();
    let answer = env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, true);
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let reads = env.proxy.count("GET", "slow.bin");
    assert_eq!(reads, 2, "{:#?}", env.proxy.log());
    let zip = get(answer.json()["url"].as_str().unwrap());
    let zip = save(env.dir.path(), "late.zip", &zip.body);
    check_archive(&zip, &manifest_under(&paths, "d/"));
}
