//! The Function Compute custom container, as its image starts it: the built `zip-oss`
//! binary run as `zip-oss serve` with Function Compute's environment (it listens on
//! `FC_CUSTOM_LISTEN_PORT`), each request's temporary credentials in `x-fc-*` headers and
//! its id in `x-fc-request-id` (the default destination, and the log line).

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::served::Served;
use zip_oss_tests::{binary, get, save, Env};

struct Container {
    served: Served,
    port: u16,
}

impl Container {
    /// `zip-oss serve` with Function Compute's variables and the store settings. Port 0 in
    /// `FC_CUSTOM_LISTEN_PORT` lets the kernel pick, so parallel tests never share one.
    fn start(env: &Env, extra: &[(&str, &str)]) -> Container {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env_clear()
            .env("FC_CUSTOM_LISTEN_PORT", "0")
            .env("FC_REGION", "cn-shanghai")
            .env("FC_FUNCTION_NAME", "zip-oss")
            .env("ZIP_OSS_ENDPOINT", format!("http://{}", env.proxy.addr))
            .env("ZIP_OSS_PATH_STYLE", "true")
            .env("ZIP_OSS_FC_CREDENTIALS", "true")
            // It listens on all interfaces, as in Function Compute, whose trigger
            // (`authType: function`) authenticates callers instead of zip-oss.
            .env("ZIP_OSS_ANONYMOUS", "true")
            .env("HOME", env.dir.path());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let served = Served::start(cmd)
            .unwrap_or_else(|(status, log)| panic!("zip-oss serve exited ({status}):\n{log}"));
        Container {
            port: served.port,
            served,
        }
    }

    fn post(&self, body: &str, request_id: &str) -> zip_oss_tests::Answer {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let r = agent
            .post(&format!("http://127.0.0.1:{}/invoke", self.port))
            .set("x-fc-access-key-id", ACCESS_KEY_ID)
            .set("x-fc-access-key-secret", ACCESS_KEY_SECRET)
            .set("x-fc-request-id", request_id)
            .send_string(body);
        zip_oss_tests::answer(r)
    }

    /// Stops it (SIGTERM, as the platform does) and returns what it logged.
    fn stop(self) -> String {
        self.served.stop().1
    }
}

#[test]
fn packs_with_function_compute_credentials_and_logs_the_request_id() {
    let env = Env::new();
    let paths = env.put_files(&[
        ("files/a.txt".into(), b"alpha".to_vec()),
        ("files/中文.txt".into(), "内容".as_bytes().to_vec()),
    ]);
    let c = Container::start(&env, &[]);

    let health = get(&format!("http://127.0.0.1:{}/healthz", c.port));
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert!(env.proxy.log().is_empty(), "/healthz touched the store");

    let answer = c.post(
        r#"{"region":"cn-shanghai","bucket":"bkt","source-dir":"files/"}"#,
        "fc-req-42",
    );
    assert_eq!(answer.status, 302, "{}", answer.text());
    let location = &answer.headers["location"];
    assert!(
        location.contains("/bkt/output/fc-req-42.zip?"),
        "{location}"
    );
    let zip = get(location);
    let zip_path = save(env.dir.path(), "fc.zip", &zip.body);
    let manifest = manifest_under(&paths, "files/");
    check_archive(&zip_path, &manifest);

    let log = c.stop();
    let line = log
        .lines()
        .find(|l| l.contains("fc-req-42"))
        .unwrap_or_else(|| panic!("no log line with the request id:\n{log}"));
    assert!(
        line.contains("status=302") && line.contains("/invoke"),
        "{line}"
    );
    assert!(!log.contains(ACCESS_KEY_SECRET), "the secret was logged");
}

#[test]
fn a_full_server_answers_503_with_retry_after() {
    let env = Env::new();
    env.put_files(&[("files/a.txt".into(), b"alpha".to_vec())]);
    // The first pack's listing takes 3 s, holding the only slot.
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["list-type=2".into()],
        fault: Fault::Delay(3000),
        times: 1,
    });
    // With the pooling allocator: one slot, which the third pack must find free again.
    let c = Container::start(
        &env,
        &[("ZIP_OSS_MAX_CONCURRENT", "1"), ("ZIP_OSS_POOLING", "true")],
    );
    let body = r#"{"bucket":"bkt","source-dir":"files/"}"#;
    std::thread::scope(|s| {
        let first = s.spawn(|| c.post(body, "slow"));
        std::thread::sleep(Duration::from_millis(800));
        let second = c.post(body, "turned-away");
        assert_eq!(second.status, 503, "{}", second.text());
        assert!(
            second.headers.contains_key("retry-after"),
            "{:?}",
            second.headers
        );
        assert_eq!(first.join().unwrap().status, 302);
        // The slot frees once the first guest has ended, just after its answer.
        let deadline = Instant::now() + Duration::from_secs(10);
        let third = loop {
            let a = c.post(body, "after");
            if a.status != 503 || Instant::now() > deadline {
                break a;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(third.status, 302, "{}", third.text());
    });
    c.stop();
}

#[test]
fn sigterm_lets_a_running_pack_finish_then_exits() {
    let env = Env::new();
    let paths = env.put_files(&[("files/a.txt".into(), b"alpha".to_vec())]);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["list-type=2".into()],
        fault: Fault::Delay(2000),
        times: 1,
    });
    let mut c = Container::start(&env, &[]);
    let port = c.port;
    std::thread::scope(|s| {
        let running = s.spawn(|| {
            c.post(
                r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/late.zip"}"#,
                "late",
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        c.served.terminate();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still accepting after SIGTERM"
        );
        let answer = running.join().unwrap();
        assert_eq!(answer.status, 302, "{}", answer.text());
        let zip = save(
            env.dir.path(),
            "late.zip",
            &get(&answer.headers["location"]).body,
        );
        let manifest = manifest_under(&paths, "files/");
        check_archive(&zip, &manifest);
    });
    let status = c.served.wait();
    assert!(status.success(), "exit after the pack: {status}");
}

#[test]
fn sigterm_past_the_grace_aborts_the_running_pack_then_exits() {
    let env = Env::new();
    env.put_files(&[
        ("files/a.bin".into(), zip_oss_tests::noise(9 << 20, 1)),
        ("files/b.bin".into(), zip_oss_tests::noise(1 << 20, 2)),
    ]);
    // The upload is under way (its CreateMultipartUpload sent) when the read of b.bin,
    // read ahead, stalls for 30 s.
    env.proxy.add(Rule {
        method: "GET",
        contains: vec!["files/b.bin".into()],
        fault: Fault::Delay(30_000),
        times: 1,
    });
    let mut c = Container::start(&env, &[("ZIP_OSS_SHUTDOWN_GRACE", "1")]);
    let stopping = Instant::now();
    std::thread::scope(|s| {
        let running = s.spawn(|| {
            c.post(
                r#"{"bucket":"bkt","source-dir":"files/","dest-file":"output/cut.zip"}"#,
                "cut",
            )
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !env.proxy.log().iter().any(|l| l.contains("files/b.bin")) {
            assert!(Instant::now() < deadline, "{:#?}", env.proxy.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        c.served.terminate();
        let answer = running.join().unwrap();
        assert_eq!(answer.error_code(503), "ShuttingDown", "{}", answer.text());
        assert!(
            answer.headers.contains_key("retry-after"),
            "{:?}",
            answer.headers
        );
    });
    // Well before the stalled read would have ended.
    let status = c.served.wait();
    assert!(status.success(), "exit after the cut-off: {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "took {:?}",
        stopping.elapsed()
    );
    let log = env.proxy.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST") && l.contains("uploads")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("DELETE") && l.contains("uploadId=")),
        "{log:#?}"
    );
    assert_eq!(env.open_uploads(), Vec::<String>::new());
    assert!(!env.object_exists("output/cut.zip"));
}
