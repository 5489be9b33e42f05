//! Packs that outlive their request, end to end: `Prefer: respond-async` answers `202` with
//! the presigned link of a status object the pack keeps current in the bucket, and a
//! `callback` is `POST`ed, signed, when the pack ends — to a small HTTP receiver on loopback
//! here, which checks the signature with the README's Python verifier and with core's.
//! Callback hosts outside the operator's allow-list are refused before anything runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zip_oss::limits::InstanceLimits;
use zip_oss_core::notify::{sign, verify, CallbackKey};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::readers::{check_uploaded_archive, manifest_under};
use zip_oss_tests::{answer, get, noise, now, save, Answer, Env, BUCKET};

const KEY: &str = "a-callback-key-of-32-characters!";

/// One callback as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    timestamp: String,
    signature: String,
    request_id: String,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A status for [`Receiver::start`]: `200`, with a body that trickles for a minute.
const TRICKLE: u16 = 0;

/// A loopback HTTP receiver: answers the n-th request with `statuses[n]` (the last one
/// after that) and records every request.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (seen, statuses) = (got.clone(), statuses.to_vec());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let n = seen.lock().unwrap().len();
                let status = statuses[n.min(statuses.len() - 1)];
                if let Some(r) = serve_one(stream, status) {
                    seen.lock().unwrap().push(r);
                }
            }
        });
        Receiver { addr, got }
    }

    /// The allow-list entry for it (plain HTTP must be named so).
    fn allow(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url(&self) -> String {
        format!("http://{}/zip-done", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until it has had `n` requests.
    fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let until = Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < until,
                "{} callbacks of {n} after {within:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve_one(stream: TcpStream, status: u16) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    assert!(line.starts_with("POST /zip-done "), "{line}");
    let (mut length, mut timestamp, mut signature, mut request_id) =
        (0usize, String::new(), String::new(), String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "x-zip-oss-timestamp" => timestamp = value,
            "x-zip-oss-signature" => signature = value,
            "x-zip-oss-request-id" => request_id = value,
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    if status == TRICKLE {
        // A 200 whose body never ends: a byte every half second, for a minute.
        let _ = write!(
            stream,
            "HTTP/1.1 200 X\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        std::thread::spawn(move || {
            for _ in 0..120 {
                if write!(stream, "1\r\nx\r\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
    } else {
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    }
    Some(Received {
        timestamp,
        signature,
        request_id,
        body,
        at: Instant::now(),
    })
}

/// The README's Python verifier (run by `tools/verify_callback.py`, which takes it from the
/// README) on a callback's headers and `body`: `Ok(state)` if it verifies.
fn readme_verifier(key: &str, r: &Received, body: &[u8]) -> Result<String, String> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_callback.py");
    let mut child = Command::new("python3")
        .arg(tool)
        .args([key, &r.timestamp, &r.signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Checks a callback's signature twice: with the README's Python verifier (an independent
/// implementation) and with core's `verify`; returns the state the body carries. Another
/// key, or a body changed by one byte, verifies with neither.
fn verified(r: &Received) -> String {
    let state = readme_verifier(KEY, r, &r.body)
        .unwrap_or_else(|e| panic!("the README's verifier refused the callback: {e}"));
    let key = CallbackKey::new(KEY).unwrap();
    verify(&key, &r.timestamp, &r.signature, &r.body, now(), 300).unwrap();
    let other = "not-the-callback-key-at-all";
    let mut changed = r.body.clone();
    changed.push(b' ');
    assert!(readme_verifier(other, r, &r.body).is_err());
    assert!(readme_verifier(KEY, r, &changed).is_err());
    let other = CallbackKey::new(other).unwrap();
    assert!(verify(&other, &r.timestamp, &r.signature, &r.body, now(), 300).is_err());
    assert!(verify(&key, &r.timestamp, &r.signature, &changed, now(), 300).is_err());
    // Signed with the right key ten minutes ago: a replay, refused; the same signed now
    // passes, so the refusal is the age's.
    let resigned = |at: u64| Received {
        timestamp: at.to_string(),
        signature: sign(&key, at, &r.body),
        ..r.clone()
    };
    assert!(readme_verifier(KEY, &resigned(now() - 600), &r.body).is_err());
    assert_eq!(
        readme_verifier(KEY, &resigned(now()), &r.body),
        Ok(state.clone())
    );
    state
}

fn env_calling(receiver: &Receiver) -> Env {
    env_calling_within(receiver, InstanceLimits::default())
}

fn env_calling_within(receiver: &Receiver, limits: InstanceLimits) -> Env {
    let hosts = receiver.allow();
    Env::with_limits_and_access(limits, move |a| {
        a.callback_hosts = Some(format!("hooks.example.com, {hosts}"));
        a.callback_key = Some(KEY.into());
    })
}

/// `POST /` with `Prefer: respond-async` (and JSON accepted, which it overrides).
fn post_async(env: &Env, body: &str) -> Answer {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    answer(
        agent
            .post(&env.url())
            .set("prefer", "respond-async, wait=5")
            .set("accept", "application/json")
            .send_string(body),
    )
}

/// GETs the status object through its link.
fn status(url: &str) -> serde_json::Value {
    let a = get(url);
    assert_eq!(a.status, 200, "status object: {}", a.text());
    assert_eq!(
        a.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    a.json()
}

/// Polls the status object until `done(status)`.
fn status_until(
    url: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let until = Instant::now() + within;
    loop {
        let s = status(url);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < until, "status never got there: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `202`'s body, checked: the status link, the keys, `Preference-Applied`.
fn accepted(a: &Answer, dest: &str) -> (String, String) {
    assert_eq!(a.status, 202, "{}", a.text());
    assert_eq!(
        a.headers.get("preference-applied").map(String::as_str),
        Some("respond-async")
    );
    let j = a.json();
    assert_eq!(j["key"], dest, "{j}");
    assert_eq!(j["state"], "running", "{j}");
    assert_eq!(j["status_key"], format!("{dest}.status.json"), "{j}");
    let url = j["status_url"].as_str().unwrap().to_string();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    (url, j["request_id"].as_str().unwrap().to_string())
}

#[test]
fn an_async_pack_keeps_its_status_current_and_calls_back_signed() {
    let receiver = Receiver::start(&[204]);
    let env = env_calling(&receiver);
    let mut files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                format!("src/f{i:02}.txt"),
                format!("file {i}\n").into_bytes(),
            )
        })
        .collect();
    files.push(("src/big.bin".into(), noise(9 << 20, 3)));
    // Read last (plan order) and slowly: the pack is surely still running meanwhile.
    files.push(("src/zz-slow.txt".into(), b"slow\n".to_vec()));
    let paths = env.put_files(&files);
    let total_bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["zz-slow".into()],
        fault: Fault::Delay(4000),
        times: 1,
    });

    let started = Instant::now();
    let a = post_async(
        &env,
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/async.zip","url-expires":600,"callback":"{}"}}"#,
            receiver.url()
        ),
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the 202 waited for the pack: {:?}",
        started.elapsed()
    );
    let (status_url, request_id) = accepted(&a, "output/async.zip");
    assert!(status_url.contains("X-Amz-Expires=600"), "{status_url}");

    // At once: running, and there is no archive yet.
    let first = status(&status_url);
    assert_eq!(first["state"], "running", "{first}");
    assert_eq!(first["key"], "output/async.zip");
    assert_eq!(first["request_id"], request_id.as_str());
    assert!(!env.object_exists("output/async.zip"));

    // While it waits for the slow object: the plan's totals, and bytes packed of them.
    let running = status_until(&status_url, Duration::from_secs(20), |s| {
        s["state"] == "running" && s["progress"]["bytes_done"].as_u64() > Some(0)
    });
    let p = &running["progress"];
    assert_eq!(p["entries_total"], files.len() as u64, "{running}");
    assert_eq!(p["bytes_total"], total_bytes as u64, "{running}");
    assert!(
        p["bytes_done"].as_u64() <= p["bytes_total"].as_u64(),
        "{running}"
    );
    assert!(running.get("summary").is_none() && running.get("error").is_none());

    // Then done, with the summary, and the archive it names is whole.
    let done = status_until(&status_url, Duration::from_secs(60), |s| {
        s["state"] != "running"
    });
    assert_eq!(done["state"], "done", "{done}");
    let summary = &done["summary"];
    assert_eq!(summary["key"], "output/async.zip");
    assert_eq!(summary["entries"], files.len() as u64);
    assert_eq!(done["progress"]["bytes_done"], total_bytes as u64);
    assert_eq!(done["started_at"], first["started_at"]);
    let zip = get(summary["url"].as_str().unwrap());
    assert_eq!(zip.status, 200);
    assert_eq!(
        zip.body.len() as u64,
        summary["archive_bytes"].as_u64().unwrap()
    );
    let zip_path = save(env.dir.path(), "async.zip", &zip.body);
    check_uploaded_archive(&zip_path, &manifest_under(&paths, "src/"));

    // The callback: once, signed, with the same summary and the status link.
    let got = receiver.wait_for(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1);
    assert_eq!(verified(&got[0]), "done");
    assert_eq!(got[0].request_id, request_id);
    let body = got[0].json();
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body["key"], "output/async.zip");
    assert_eq!(body["summary"]["archive_bytes"], summary["archive_bytes"]);
    assert_eq!(body["status_url"], status_url.as_str());
    assert!(body.get("error").is_none());

    // Its delivery is recorded in the status.
    let last = status_until(&status_url, Duration::from_secs(10), |s| {
        s.get("callback").is_some()
    });
    assert_eq!(last["callback"]["delivered"], true, "{last}");
    assert_eq!(last["callback"]["attempts"], 1, "{last}");

    // The status object sits next to the archive, and holds no secret.
    assert!(env.object_exists("output/async.zip.status.json"));
    let raw = get(&status_url).text() + &String::from_utf8_lossy(&got[0].body);
    for secret in [zip_oss::demo::ACCESS_KEY_SECRET, KEY] {
        assert!(
            !raw.contains(secret),
            "a secret in the status or callback: {raw}"
        );
    }
    assert!(env.open_uploads().is_empty());
}

#[test]
fn a_failed_async_pack_reports_its_error_in_the_status_and_the_callback() {
    let receiver = Receiver::start(&[200]);
    let env = env_calling(&receiver);
    // Nothing under the prefix: known only once listed, so after the 202.
    let a = post_async(
        &env,
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"nothing-here/","dest-file":"output/none.zip","callback":"{}"}}"#,
            receiver.url()
        ),
    );
    let (status_url, _) = accepted(&a, "output/none.zip");
    let failed = status_until(&status_url, Duration::from_secs(30), |s| {
        s["state"] != "running"
    });
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "NoObjects", "{failed}");
    assert_eq!(failed["error"]["status"], 404, "{failed}");
    assert!(failed.get("summary").is_none());

    let got = receiver.wait_for(1, Duration::from_secs(30));
    assert_eq!(verified(&got[0]), "failed");
    let body = got[0].json();
    assert_eq!(body["error"]["code"], "NoObjects", "{body}");
    assert!(body.get("summary").is_none());
    assert!(!env.object_exists("output/none.zip"));
}

#[test]
fn callback_hosts_outside_the_allow_list_are_refused_before_anything_runs() {
    let receiver = Receiver::start(&[204]);
    let elsewhere = Receiver::start(&[204]);
    let env = env_calling(&receiver);
    env.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let body = |callback: &str| {
        format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/x.zip","callback":"{callback}"}}"#
        )
    };
    for callback in [
        elsewhere.url(),                                       // another port
        format!("https://{}/zip-done", receiver.addr),         // https: the entry says http
        format!("http://localhost:{}/", receiver.addr.port()), // another name for it
        "https://hooks.example.com.evil.example/".into(),
        "https://a.hooks.example.com/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
    ] {
        for prefer_async in [false, true] {
            let agent = ureq::AgentBuilder::new().redirects(0).build();
            let mut req = agent.post(&env.url()).set("accept", "application/json");
            if prefer_async {
                req = req.set("prefer", "respond-async");
            }
            let a = answer(req.send_string(&body(&callback)));
            assert_eq!(a.error_code(403), "CallbackNotAllowed", "{callback}");
        }
    }
    // A malformed callback is the request's fault: user info, and the other spellings of
    // the receiver's address, which resolvers would take for it.
    let port = receiver.addr.port();
    for callback in [
        format!("http://user@127.0.0.1:{port}/zip-done"),
        format!("http://127.0.0.1:{port}@hooks.example.com/"),
        format!("http://127.1:{port}/zip-done"),
        format!("http://2130706433:{port}/zip-done"),
        format!("http://0x7f000001:{port}/zip-done"),
        format!("http://0177.0.0.1:{port}/zip-done"),
        format!("ftp://127.0.0.1:{port}/zip-done"),
    ] {
        let a = env.post(&body(&callback), true);
        assert_eq!(a.error_code(400), "InvalidRequest", "{callback}");
    }
    // Nothing ran: no store request, no archive, no status object, nobody called.
    assert!(env.proxy.seen().is_empty(), "{:?}", env.proxy.log());
    assert!(!env.object_exists("output/x.zip"));
    assert!(!env.object_exists("output/x.zip.status.json"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(receiver.got().is_empty() && elsewhere.got().is_empty());

    // With no allow-list configured, every callback is refused.
    let closed = Env::new();
    closed.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let a = closed.post(&body(&receiver.url()), true);
    assert_eq!(a.error_code(403), "CallbackNotAllowed");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no callback hosts"));
}

#[test]
fn a_failing_callback_receiver_is_retried_with_backoff() {
    // Two failures, then accepted: delivered on the third attempt, 1 s and 2 s later.
    let receiver = Receiver::start(&[503, 500, 204]);
    let env = env_calling(&receiver);
    env.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let a = post_async(
        &env,
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/retried.zip","callback":"{}"}}"#,
            receiver.url()
        ),
    );
    let (status_url, _) = accepted(&a, "output/retried.zip");
    let got = receiver.wait_for(3, Duration::from_secs(30));
    for r in &got {
        // Each attempt signed anew, each verifies.
        assert_eq!(verified(r), "done");
        assert_eq!(r.body, got[0].body);
    }
    let gap = |i: usize| got[i].at.duration_since(got[i - 1].at);
    assert!(gap(1) >= Duration::from_millis(900), "{:?}", gap(1));
    assert!(gap(2) >= Duration::from_millis(1900), "{:?}", gap(2));
    let last = status_until(&status_url, Duration::from_secs(10), |s| {
        s.get("callback").is_some()
    });
    assert_eq!(last["state"], "done");
    assert_eq!(last["callback"]["delivered"], true, "{last}");
    assert_eq!(last["callback"]["attempts"], 3, "{last}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.got().len(),
        3,
        "called again after it was accepted"
    );
}

/// An asynchronous pack of one file calling `receiver` back: its status object once it
/// records how the callback went.
fn callback_recorded(receiver: &Receiver, dest: &str, within: Duration) -> serde_json::Value {
    let env = env_calling(receiver);
    env.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let a = post_async(
        &env,
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"{dest}","callback":"{}"}}"#,
            receiver.url()
        ),
    );
    let (status_url, _) = accepted(&a, dest);
    status_until(&status_url, within, |s| s.get("callback").is_some())
}

#[test]
fn a_callback_that_never_succeeds_is_given_up_and_recorded() {
    let receiver = Receiver::start(&[500]);
    // 5 attempts, 1 + 2 + 4 + 8 s apart.
    let last = callback_recorded(&receiver, "output/unheard.zip", Duration::from_secs(40));
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["callback"]["delivered"], false, "{last}");
    assert_eq!(last["callback"]["attempts"], 5, "{last}");
    assert_eq!(receiver.got().len(), 5);
    // A 4xx is final: no retry.
    let refusing = Receiver::start(&[400]);
    let last = callback_recorded(&refusing, "output/refused.zip", Duration::from_secs(20));
    assert_eq!(last["callback"]["delivered"], false, "{last}");
    assert_eq!(last["callback"]["attempts"], 1, "{last}");
}

/// A receiver that answers `200` and then never ends its body is not waited for: the
/// status is all that counts, and the pack ends.
#[test]
fn a_callback_receiver_that_never_ends_its_answer_does_not_hold_the_pack() {
    let receiver = Receiver::start(&[TRICKLE]);
    let started = Instant::now();
    let last = callback_recorded(&receiver, "output/trickled.zip", Duration::from_secs(20));
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["callback"]["delivered"], true, "{last}");
    assert_eq!(last["callback"]["attempts"], 1, "{last}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_synchronous_pack_calls_its_callback_after_answering() {
    let receiver = Receiver::start(&[204]);
    let env = env_calling(&receiver);
    env.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let a = env.post(
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/sync.zip","callback":"{}"}}"#,
            receiver.url()
        ),
        true,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.headers.get("preference-applied"), None);
    let got = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(verified(&got[0]), "done");
    let body = got[0].json();
    assert_eq!(body["summary"]["key"], "output/sync.zip");
    assert_eq!(body["summary"]["url"], a.json()["url"]);
    assert!(body.get("status_url").is_none());
    assert!(!env.object_exists("output/sync.zip.status.json"));
}

#[test]
fn status_objects_never_replace_an_object_nor_pass_for_an_archive() {
    let env = Env::new();
    env.put_files(&[
        ("src/a.txt".into(), b"a".to_vec()),
        // Someone's object where the status would go.
        ("output/taken.zip.status.json".into(), b"mine".to_vec()),
    ]);
    let a = post_async(
        &env,
        &format!(r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/taken.zip"}}"#),
    );
    assert_eq!(a.error_code(409), "DestinationExists");
    assert!(
        a.text().contains("output/taken.zip.status.json"),
        "{}",
        a.text()
    );
    assert_eq!(
        std::fs::read(env.root().join(BUCKET).join("output/taken.zip.status.json")).unwrap(),
        b"mine"
    );
    assert!(!env.object_exists("output/taken.zip"));
    // An archive already where this one would go: 409 at once, not a 202 whose status
    // later says so; and no status object is left behind.
    env.put_files(&[("output/exists.zip".into(), b"an archive".to_vec())]);
    let a = post_async(
        &env,
        &format!(r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/exists.zip"}}"#),
    );
    assert_eq!(a.error_code(409), "DestinationExists");
    assert!(a.text().contains("output/exists.zip"), "{}", a.text());
    assert!(!env.object_exists("output/exists.zip.status.json"));
    assert_eq!(
        std::fs::read(env.root().join(BUCKET).join("output/exists.zip")).unwrap(),
        b"an archive"
    );
    // No archive may be named like a status object, asynchronous or not.
    for prefer_async in [false, true] {
        let body = format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/other.zip.status.json"}}"#
        );
        let a = if prefer_async {
            post_async(&env, &body)
        } else {
            env.post(&body, true)
        };
        assert_eq!(a.error_code(400), "InvalidRequest");
    }
    // A streamed archive ignores the preference, and takes no callback.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let a = answer(
        agent
            .post(&env.url())
            .set("prefer", "respond-async")
            .set("accept", "application/zip")
            .send_string(&format!(r#"{{"bucket":"{BUCKET}","source-dir":"src/"}}"#)),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.headers.get("preference-applied"), None);
}

#[test]
fn an_async_pack_stopped_by_the_time_limit_still_reports_its_end() {
    // The request timeout counts from the request, not the 202: a pack waiting on a slow
    // read past it is stopped, its upload aborted, and its end still told (the host lets
    // the status write and the callback through a stopped instance).
    let receiver = Receiver::start(&[204]);
    let limits = InstanceLimits {
        timeout: Duration::from_secs(3),
        ..InstanceLimits::default()
    };
    let env = env_calling_within(&receiver, limits);
    env.put_files(&[
        ("src/a.txt".into(), b"a".to_vec()),
        ("src/b-slow.txt".into(), b"slow".to_vec()),
    ]);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["b-slow".into()],
        fault: Fault::Delay(20_000),
        times: 1,
    });
    let a = post_async(
        &env,
        &format!(
            r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"output/stopped.zip","callback":"{}"}}"#,
            receiver.url()
        ),
    );
    let (status_url, _) = accepted(&a, "output/stopped.zip");
    let failed = status_until(&status_url, Duration::from_secs(20), |s| {
        s["state"] != "running"
    });
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "Stopped", "{failed}");
    let got = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(verified(&got[0]), "failed");
    assert_eq!(got[0].json()["error"]["code"], "Stopped");
    let last = status_until(&status_url, Duration::from_secs(10), |s| {
        s.get("callback").is_some()
    });
    assert_eq!(last["callback"]["delivered"], true, "{last}");
    assert!(!env.object_exists("output/stopped.zip"));
    assert!(
        env.open_uploads().is_empty(),
        "the stopped pack left its upload open"
    );
}

#[test]
fn a_live_pack_of_the_archive_is_refused_at_once_and_a_died_packs_status_is_replaced() {
    let env = Env::new();
    env.put_files(&[("src/a.txt".into(), b"a".to_vec())]);
    let body =
        |dest: &str| format!(r#"{{"bucket":"{BUCKET}","source-dir":"src/","dest-file":"{dest}"}}"#);
    // A live pack's checkpoint, renewed just now: 409 PackInProgress with its Retry-After,
    // as a synchronous pack is answered, rather than a 202 bound to fail; nothing written.
    let live = zip_oss_core::pack::checkpoint_key("output/busy.zip");
    let checkpoint = zip_oss_core::pack::checkpoint_body("f", "U1");
    env.put_files(&[(live.clone(), checkpoint.clone())]);
    let a = post_async(&env, &body("output/busy.zip"));
    assert_eq!(a.error_code(409), "PackInProgress");
    let retry_after: u64 = a.headers["retry-after"].parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(!env.object_exists("output/busy.zip.status.json"));
    assert_eq!(
        std::fs::read(env.root().join(BUCKET).join(&live)).unwrap(),
        checkpoint
    );

    // The status of a pack of the same archive that died running: the same request made
    // again replaces it (as it resumes the pack) and runs to the end.
    let earlier = r#"{"request_id":"earlier","state":"running","key":"output/again.zip","progress":{"entries_done":0,"entries_total":1,"bytes_done":0,"bytes_total":1},"started_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;
    env.put_files(&[("output/again.zip.status.json".into(), earlier.into())]);
    let a = post_async(&env, &body("output/again.zip"));
    let (status_url, request_id) = accepted(&a, "output/again.zip");
    let done = status_until(&status_url, Duration::from_secs(30), |s| {
        s["state"] != "running"
    });
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["request_id"], request_id.as_str(), "{done}");
    assert_eq!(done["summary"]["entries"], 1, "{done}");
    assert!(env.object_exists("output/again.zip"));
    // A status object of another archive is not an earlier status of this one.
    let other = earlier.replace("output/again.zip", "output/other.zip");
    env.put_files(&[("output/third.zip.status.json".into(), other.into())]);
    let a = post_async(&env, &body("output/third.zip"));
    assert_eq!(a.error_code(409), "DestinationExists");
    assert!(!env.object_exists("output/third.zip"));
}
