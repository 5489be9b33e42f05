//! Another host embeds the same `.wasm`: JavaScript. jco transpiles the component (the
//! one the host embeds, or `ZIP_OSS_COMPONENT`), Node runs its `zip-pack` export through
//! `tests/js/pack.mjs`, and `@bytecodealliance/preview2-shim` provides wasi:http and the rest;
//! `wasi:config/store` is an empty JS module (the export takes its configuration in its
//! arguments). The pack reads from and writes to the embedded S3 store (signatures checked)
//! through the fault proxy, and the archive is judged by the five readers.
//!
//! Needs `node` and `tests/js/node_modules` (`scripts/setup` installs both). Without them
//! the tests fail, saying so: they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zip_oss::component_wasm::ComponentSource;
use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::{get, noise, save, Env, BUCKET};

/// How long one `node` run may take before the test gives up on it.
const NODE_TIMEOUT: Duration = Duration::from_secs(180);

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

fn pack_mjs() -> PathBuf {
    js_dir().join("pack.mjs")
}

/// Node and the JS packages are there, or the test fails saying how to get them.
fn require_node() {
    let version = Command::new("node").arg("--version").output();
    match version {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "`node` is needed for the JavaScript host test and is missing or broken ({other:?}); \
             run scripts/setup (it installs nodejs and npm)"
        ),
    }
    let jco = js_dir().join("node_modules/@bytecodealliance/jco/package.json");
    let shim = js_dir().join("node_modules/@bytecodealliance/preview2-shim/package.json");
    assert!(
        jco.exists() && shim.exists(),
        "jco and preview2-shim are not installed in {}: run scripts/setup (or `npm ci` there)",
        js_dir().display()
    );
}

/// Runs `node pack.mjs <args>` with a deadline.
fn node(args: &[&str]) -> Output {
    let mut child = Command::new("node")
        .arg(pack_mjs())
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting node");
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut b).map(|_| b)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > NODE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node pack.mjs {args:?} still running after {NODE_TIMEOUT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// The component transpiled by jco, once per test process, into
/// `<target>/tmp/js-host/` (wiped first, so never stale).
fn transpiled() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        require_node();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("js-host");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (wasm, from) = ComponentSource::Default
            .load()
            .expect("the component (embedded in the host, or ZIP_OSS_COMPONENT)");
        let wasm_path = dir.join("zip_oss_component.wasm");
        std::fs::write(&wasm_path, &wasm).unwrap();
        let out_dir = dir.join("out");
        let started = Instant::now();
        let run = node(&[
            "transpile",
            wasm_path.to_str().unwrap(),
            out_dir.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "jco transpile of the {from} component failed ({}):\n{}{}",
            run.status,
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        eprintln!(
            "jco transpiled the {from} component in {:.1?}",
            started.elapsed()
        );
        out_dir
    })
}

/// One pack through Node against the test's store (via its fault proxy), with `secret`.
/// Returns the exit code and the one line of JSON pack.mjs printed.
fn js_pack(env: &Env, secret: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let dir = transpiled();
    let endpoint = format!("http://{}", env.proxy.addr);
    let mut args = vec![
        "pack",
        "--transpiled",
        dir.to_str().unwrap(),
        "--provider",
        "s3",
        "--endpoint",
        &endpoint,
        "--region",
        "us-east-1",
        "--path-style",
        "--access-key-id",
        ACCESS_KEY_ID,
        "--access-key-secret",
        secret,
        "--bucket",
        BUCKET,
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let run = node(&args);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("node pack.mjs pack ran {:.1?}", started.elapsed());
    let code = run
        .status
        .code()
        .unwrap_or_else(|| panic!("node was killed ({}):\n{stderr}", run.status));
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("pack.mjs printed nothing (exit {code}); stderr:\n{stderr}"));
    let json = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("pack.mjs printed no JSON ({e}): {stdout}\nstderr:\n{stderr}"));
    (code, json)
}

/// Keys under `js/`: names that trip up packers, a 20 MiB object spanning five 5 MiB
/// parts (so part uploads overlap), and over 1,000 keys (a paged listing).
fn files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "js/readme.txt".into(),
            b"packed by a JavaScript host\n".to_vec(),
        ),
        (
            "js/报告/2024年度总结.txt".into(),
            "中文内容".as_bytes().to_vec(),
        ),
        ("js/photos/🎉 party.txt".into(), b"emoji".to_vec()),
        ("js/with space+plus%20.txt".into(), b"symbols".to_vec()),
        ("js/empty.dat".into(), Vec::new()),
        ("js/big/noise.bin".into(), noise(20 << 20, 11)),
    ];
    for i in 0..1100 {
        files.push((
            format!("js/many/f{i:04}.txt"),
            format!("small file {i}\n").into_bytes(),
        ));
    }
    files
}

#[test]
fn node_packs_through_the_zip_pack_export() {
    let env = Env::new();
    let files = files();
    let source_bytes: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    let paths = env.put_files(&files);

    let (code, s) = js_pack(
        &env,
        ACCESS_KEY_SECRET,
        &[
            "--source-dir",
            "js/",
            "--dest-file",
            "out/js.zip",
            "--url-expires",
            "120",
        ],
    );
    assert_eq!(code, 0, "pack.mjs failed: {s}");
    assert_eq!(s["key"], "out/js.zip", "{s}");
    assert_eq!(s["entries"], files.len() as u64, "{s}");
    assert_eq!(s["bytes_read"], source_bytes, "{s}");
    assert!(s["parts"].as_u64().unwrap() >= 3, "{s}");
    let url = s["url"].as_str().expect("url in the summary");
    assert!(url.contains("X-Amz-Expires=120"), "{url}");

    let zip = get(url);
    assert_eq!(zip.status, 200, "{}", zip.text());
    assert_eq!(
        zip.body.len() as u64,
        s["archive_bytes"].as_u64().unwrap(),
        "predicted size is the real size"
    );
    let zip_path = save(env.dir.path(), "js.zip", &zip.body);
    let manifest = manifest_under(&paths, "js/");
    check_archive(&zip_path, &manifest);
    assert!(env.open_uploads().is_empty(), "uploads left open");
}

#[test]
fn node_sees_the_pack_error_of_refused_credentials() {
    let env = Env::new();
    env.put_files(&[("js/a.txt".into(), b"a".to_vec())]);
    let wrong = "not-the-secret";

    let (code, s) = js_pack(
        &env,
        wrong,
        &["--source-dir", "js/", "--dest-file", "out/refused.zip"],
    );
    assert_eq!(code, 2, "a pack error exits 2: {s}");
    let err = &s["error"];
    assert_eq!(err["status"], 403, "{s}");
    assert_eq!(err["code"], "SignatureDoesNotMatch", "{s}");
    assert!(!s.to_string().contains(wrong), "the secret leaked: {s}");
    assert!(!env.object_exists("out/refused.zip"));
    assert!(env.open_uploads().is_empty(), "uploads left open");
}
