//! The container image the README deploys, built and run: `scripts/image` builds it from
//! the `Dockerfile` with the `zip-oss` built beside this test, podman runs it as Function
//! Compute would (its port in `FC_CUSTOM_LISTEN_PORT`, each request's credentials in
//! `x-fc-*` headers, its id in `x-fc-request-id`, stopped with SIGTERM), and a pack goes
//! through it against the test store.
//!
//! podman runs here with runc, cgroupfs and the host's network (the store is on loopback),
//! with open-file and process limits below the sandbox's own (runc cannot raise them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::served::listening_port;
use zip_oss_tests::{binary, get, save, Env};

const TOKEN: &str = "container-test-token-0123456789";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// podman with the settings this sandbox needs.
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

fn run(mut c: Command) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e} (scripts/setup installs podman)"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Removes the container and the image, whatever happened.
struct Cleanup {
    tag: String,
    name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", &self.name]).output();
        let _ = podman().args(["rmi", "-f", &self.tag]).output();
    }
}

#[test]
fn the_image_runs_as_function_compute_would_and_packs() {
    let id = std::process::id();
    let cleanup = Cleanup {
        tag: format!("localhost/zip-oss-ci:{id}"),
        name: format!("zip-oss-ci-{id}"),
    };

    // The README's build step, with the binary cargo test built.
    let started = Instant::now();
    let mut build = Command::new(workspace().join("scripts/image"));
    build.arg(&cleanup.tag).env("ZIP_OSS_BINARY", binary()).env(
        "CONTAINER_ENGINE",
        "podman --runtime runc --cgroup-manager cgroupfs",
    );
    run(build);
    eprintln!("image built in {:?}", started.elapsed());
    let inspect = run({
        let mut c = podman();
        c.args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Entrypoint}}",
            &cleanup.tag,
        ]);
        c
    });
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        r#"10001:10001 ["/usr/local/bin/zip-oss","serve"]"#
    );

    let env = Env::new();
    let paths = env.put_files(&[
        ("files/a.txt".into(), b"alpha".to_vec()),
        ("files/sub/中文.txt".into(), "内容".as_bytes().to_vec()),
        ("files/big.bin".into(), zip_oss_tests::noise(5 << 20, 3)),
    ]);
    // As s.yaml configures the function: OSS-style settings aside (the test store speaks S3
    // path-style), credentials from the x-fc-* headers, callers holding a token.
    run({
        let mut c = podman();
        c.args([
            "run",
            "--detach",
            "--name",
            &cleanup.name,
            "--network",
            "host",
        ])
        .args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1000:1000",
        ])
        // Port 0: the kernel picks one, which it logs; no other test can take it first.
        .args(["--env", "FC_CUSTOM_LISTEN_PORT=0"])
        .args([
            "--env",
            "FC_REGION=cn-shanghai",
            "--env",
            "FC_FUNCTION_NAME=zip-oss",
        ])
        .args([
            "--env",
            &format!("ZIP_OSS_ENDPOINT=http://{}", env.proxy.addr),
        ])
        .args(["--env", "ZIP_OSS_PATH_STYLE=true"])
        .args(["--env", "ZIP_OSS_FC_CREDENTIALS=true"])
        .args(["--env", &format!("ZIP_OSS_TOKENS={TOKEN}")])
        .args([
            "--env",
            "ZIP_OSS_MAX_CONCURRENT=4",
            "--env",
            "ZIP_OSS_REQUEST_TIMEOUT=3500",
        ])
        .args(["--env", "ZIP_OSS_MAX_MEMORY_MIB=200"])
        .args(["--env", "ZIP_OSS_THREADS=1"])
        .arg(&cleanup.tag);
        c
    });
    // It compiles the component first (no cache in a fresh container): seconds.
    let deadline = Instant::now() + Duration::from_secs(120);
    let port = loop {
        let log = logs(&cleanup.name);
        if let Some(port) = listening_port(&log) {
            break port;
        }
        let state = run({
            let mut c = podman();
            c.args(["inspect", "--format", "{{.State.Running}}", &cleanup.name]);
            c
        });
        assert_eq!(
            String::from_utf8_lossy(&state.stdout).trim(),
            "true",
            "the container exited: {log}"
        );
        assert!(Instant::now() < deadline, "not listening: {log}");
        std::thread::sleep(Duration::from_millis(200));
    };

    let health = get(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));

    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let post = |token: &str, request_id: &str| {
        zip_oss_tests::answer(
            agent
                .post(&format!("http://127.0.0.1:{port}/invoke"))
                .set("authorization", &format!("Bearer {token}"))
                .set("x-fc-access-key-id", ACCESS_KEY_ID)
                .set("x-fc-access-key-secret", ACCESS_KEY_SECRET)
                .set("x-fc-request-id", request_id)
                .send_string(r#"{"region":"cn-shanghai","bucket":"bkt","source-dir":"files/"}"#),
        )
    };
    // It listens on all interfaces, so callers need the token.
    let refused = post("not-the-token-0123456789", "fc-img-0");
    assert_eq!(
        refused.error_code(401),
        "Unauthorized",
        "{}",
        refused.text()
    );

    let answer = post(TOKEN, "fc-img-1");
    assert_eq!(
        answer.status,
        302,
        "{}\n{}",
        answer.text(),
        logs(&cleanup.name)
    );
    let location = &answer.headers["location"];
    assert!(location.contains("/bkt/output/fc-img-1.zip?"), "{location}");
    let zip = save(env.dir.path(), "image.zip", &get(location).body);
    check_archive(&zip, &manifest_under(&paths, "files/"));

    let metrics = get(&format!("http://127.0.0.1:{port}/metrics")).text();
    assert!(
        metrics.contains(r#"zip_oss_packs_total{outcome="success",code="none"} 1"#),
        "{metrics}"
    );

    // Function Compute stops an instance with SIGTERM: it exits cleanly, at once.
    let stopping = Instant::now();
    run({
        let mut c = podman();
        c.args(["stop", "--time", "20", &cleanup.name]);
        c
    });
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopping.elapsed()
    );
    let exit = run({
        let mut c = podman();
        c.args(["inspect", "--format", "{{.State.ExitCode}}", &cleanup.name]);
        c
    });
    assert_eq!(String::from_utf8_lossy(&exit.stdout).trim(), "0");
    let log = logs(&cleanup.name);
    let line = log
        .lines()
        .find(|l| l.contains("fc-img-1"))
        .unwrap_or_else(|| panic!("no log line with the request id:\n{log}"));
    assert!(
        line.contains("status=302") && line.contains("/invoke"),
        "{line}"
    );
    assert!(
        !log.contains(ACCESS_KEY_SECRET) && !log.contains(TOKEN),
        "a secret was logged"
    );
    drop(cleanup);
}

fn logs(name: &str) -> String {
    let out = podman().args(["logs", name]).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
