//! `Accept: application/zip`: the archive streamed as the response, nothing uploaded. The
//! head carries the exact `Content-Length` for stored archives; a read that fails after the
//! head was sent breaks the transfer instead of ending a short archive cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;

use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::readers::{
    check_archive, java_zip_input_stream, manifest_under, no_descriptors, Manifest,
};
use zip_oss_tests::{answer, noise, save, Answer, Env};

fn post_for_zip(env: &Env, body: &str) -> Answer {
    answer(
        ureq::post(&env.url())
            .set("accept", "application/zip")
            .send_string(body),
    )
}

fn files(env: &Env) -> Manifest {
    let paths = env.put_files(&[
        (
            "报告/2024/年度总结.txt".into(),
            "中文内容".as_bytes().to_vec(),
        ),
        ("报告/2024/big.bin".into(), noise(9 << 20, 3)),
        ("报告/2024/a/b/deep.txt".into(), b"deep".to_vec()),
        ("报告/2024/empty.dat".into(), Vec::new()),
    ]);
    manifest_under(&paths, "报告/2024/")
}

fn nothing_uploaded(env: &Env) {
    let log = env.proxy.log();
    assert!(
        // GETs, and HEADs for the checksums of objects read in ranges.
        log.iter()
            .all(|l| l.starts_with("GET ") || l.starts_with("HEAD ")),
        "only reads expected: {log:#?}"
    );
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    assert!(!env.root().join("bkt/output").exists());
}

#[test]
fn a_stored_archive_streams_with_its_exact_length() {
    let env = Env::new();
    let manifest = files(&env);
    let a = post_for_zip(&env, r#"{"bucket":"bkt","source-dir":"报告/2024/"}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/zip");
    assert_eq!(a.headers["content-length"], a.body.len().to_string());
    assert_eq!(
        a.headers["content-disposition"],
        "attachment; filename=\"2024.zip\"; filename*=UTF-8''2024.zip"
    );
    let zip = save(env.dir.path(), "streamed.zip", &a.body);
    check_archive(&zip, &manifest);
    // Its bytes leave before their CRC-32 is known: data descriptors, which front-to-back
    // readers of stored entries refuse (an uploaded archive has none).
    let front_to_back = |f: fn(&std::path::Path, &Manifest)| {
        std::panic::catch_unwind(|| f(&zip, &manifest)).is_err()
    };
    assert!(front_to_back(|z, _| no_descriptors(z)));
    assert!(front_to_back(java_zip_input_stream));
    nothing_uploaded(&env);
}

#[test]
fn a_deflated_archive_streams_chunked() {
    let env = Env::new();
    let manifest = files(&env);
    let a = post_for_zip(
        &env,
        r#"{"bucket":"bkt","source-dir":"报告/2024/","compression":"deflate","dest-file":"out/全部.zip"}"#,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    // Deflated sizes are unknown until written.
    assert!(!a.headers.contains_key("content-length"), "{:?}", a.headers);
    assert!(
        a.headers["content-disposition"].ends_with("filename*=UTF-8''%E5%85%A8%E9%83%A8.zip"),
        "{:?}",
        a.headers
    );
    check_archive(&save(env.dir.path(), "deflated.zip", &a.body), &manifest);
    nothing_uploaded(&env);
}

#[test]
fn errors_before_the_head_are_json() {
    let env = Env::new();
    let a = post_for_zip(&env, r#"{"bucket":"bkt","source-dir":"missing/"}"#);
    assert_eq!(a.error_code(404), "NoObjects", "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/json");
}

/// A raw HTTP/1.1 exchange read to the end of the connection: the head's fields and the
/// body bytes that arrived, and whether a chunked body was properly terminated.
/// A pack request for a streamed archive, sent on a connection of its own.
fn post_raw(env: &Env, body: &str) -> TcpStream {
    let mut s = TcpStream::connect(env.server_addr).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nhost: zip\r\naccept: application/zip\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

/// As [`post_raw`], with the answer's first bytes read (a `200` head): the connection,
/// and those bytes.
fn stream_started(env: &Env, body: &str) -> (TcpStream, Vec<u8>) {
    let mut s = post_raw(env, body);
    let mut first = vec![0u8; 1024];
    let n = s.read(&mut first).unwrap();
    first.truncate(n);
    let head = String::from_utf8_lossy(&first);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (s, first)
}

fn raw_post(env: &Env, body: &str) -> (String, Vec<u8>) {
    let mut s = post_raw(env, body);
    let mut all = Vec::new();
    // A reset connection is one way the cut shows; what arrived before it is what counts.
    let _ = s.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    (
        String::from_utf8_lossy(&all[..split]).to_lowercase(),
        all[split + 4..].to_vec(),
    )
}

#[test]
fn a_read_failing_midway_breaks_the_stream() {
    let env = Env::new();
    env.put_files(&[
        ("files/a.bin".into(), noise(3 << 20, 1)),
        ("files/b.bin".into(), noise(1 << 20, 2)),
    ]);
    let refuse_b = || Rule {
        method: "GET",
        contains: vec!["files/b.bin".into()],
        // Late, so that a.bin streams first: b.bin is read ahead at once.
        fault: Fault::LateStatus(1500, 403, "AccessDenied"),
        times: 10,
    };

    // Stored: fewer bytes than the announced length.
    env.proxy.add(refuse_b());
    let (head, body) = raw_post(&env, r#"{"bucket":"bkt","source-dir":"files/"}"#);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .trim()
        .parse()
        .unwrap();
    // Entries had begun to stream (how much arrived before the cut depends on buffering).
    assert!(body.starts_with(b"PK\x03\x04"), "{} bytes", body.len());
    assert!(
        body.len() < announced,
        "{} of {announced} bytes",
        body.len()
    );

    // Deflated (chunked): the last-chunk marker never comes.
    env.proxy.add(refuse_b());
    let (head, body) = raw_post(
        &env,
        r#"{"bucket":"bkt","source-dir":"files/","compression":"deflate"}"#,
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        !body.ends_with(b"0\r\n\r\n"),
        "the chunked body ended cleanly"
    );
    nothing_uploaded(&env);
}

#[test]
fn a_stream_stopped_by_the_time_limit_never_ends_cleanly() {
    // The client stops reading, so the component waits on the full body until the host
    // drops it; the chunked body must then break off rather than end with its last chunk.
    let env = Env::with_limits(zip_oss::limits::InstanceLimits {
        timeout: std::time::Duration::from_secs(2),
        abort_grace: std::time::Duration::from_secs(1),
        ..Default::default()
    });
    env.put_files(&[("files/big.bin".into(), noise(40 << 20, 5))]);
    let body = r#"{"bucket":"bkt","source-dir":"files/","compression":"deflate"}"#;
    let (mut s, _) = stream_started(&env, body);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "the stopped stream ended cleanly"
    );
}

#[test]
fn a_client_that_stops_reading_frees_its_pack() {
    // A client that takes no bytes for twice the store timeout (here 2 s) is given up on:
    // the server closes the connection, and the pack ends and frees its slot, rather than
    // holding it until the request's time runs out (an hour by default).
    let env = Env::with_settings(|s| s.store_timeout = Some(2));
    env.put_files(&[("files/big.bin".into(), noise(40 << 20, 6))]);
    let in_flight = || {
        let text = env.runtime.metrics().prometheus_text();
        text.lines()
            .find(|l| l.starts_with("zip_oss_packs_in_flight "))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let (mut s, first) = stream_started(&env, r#"{"bucket":"bkt","source-dir":"files/"}"#);
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&first[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a stored archive's length")
        .trim()
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(in_flight().as_deref(), Some("1"));
    while in_flight().as_deref() != Some("0") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the pack still runs for a client that reads nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let body_bytes = first.len() - head_end + rest.len();
    assert!(
        body_bytes < length,
        "{body_bytes} of {length} bytes: the archive ended"
    );
    let text = env.runtime.metrics().prometheus_text();
    assert!(
        text.contains(r#"zip_oss_packs_total{outcome="error",code="ClientClosed"} 1"#),
        "{text}"
    );
}
