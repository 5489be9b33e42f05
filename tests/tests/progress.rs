//! `zip-oss pack`'s progress: on a terminal (a pseudo-terminal) stderr shows the pack's bar,
//! fed by the component's own reports, and the download's; through pipes stderr carries
//! no bar and stdout is the JSON summary alone.

use std::path::Path;
use std::process::{Command, Output};

use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_tests::fault_proxy::{Fault, Rule};
use zip_oss_tests::{binary, noise, Env, BUCKET};

const OBJECTS: usize = 6;
const OBJECT_BYTES: usize = 6 << 20;

/// Six objects of 6 MiB under `d/`, each read delayed half a second by the proxy and read
/// one at a time, so the pack lasts seconds and its bar has states between 0 and the end.
fn slow_env() -> Env {
    let env = Env::new();
    let files: Vec<(String, Vec<u8>)> = (0..OBJECTS)
        .map(|i| (format!("d/{i}.bin"), noise(OBJECT_BYTES, i as u64 + 1)))
        .collect();
    env.put_files(&files);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec![format!("/{BUCKET}/d/")],
        fault: Fault::Delay(500),
        times: 1000,
    });
    env
}

/// `zip-oss pack` of `d/` into `output` through the env's proxy.
fn pack_command(env: &Env, output: &Path) -> Vec<String> {
    let endpoint = env.settings.endpoint.clone().unwrap();
    [
        binary().to_str().unwrap(),
        "pack",
        "--bucket",
        BUCKET,
        "--source-dir",
        "d/",
        "--endpoint",
        &endpoint,
        "--path-style",
        "--access-key-id",
        ACCESS_KEY_ID,
        "--read-ranges",
        "1",
        "--output",
        output.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(mut cmd: Command) -> Output {
    let out = cmd
        .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zip-oss pack failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The summary on stdout: JSON alone, of the whole pack.
fn check_summary(stdout: &[u8], output: &Path) -> serde_json::Value {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not JSON alone ({e}): {text:?}"));
    assert_eq!(summary["entries"], OBJECTS as u64);
    assert_eq!(summary["bytes_read"], (OBJECTS * OBJECT_BYTES) as u64);
    assert_eq!(
        std::fs::metadata(output).unwrap().len(),
        summary["archive_bytes"].as_u64().unwrap()
    );
    summary
}

/// The terminal's text: escape sequences removed, one entry per line or `\r` redraw.
fn screens(transcript: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(transcript);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final letter (or `~`).
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `(done, total)` of every `done/total entries` the bar showed, in order.
fn entries_shown(screens: &[String]) -> Vec<(u64, u64)> {
    screens
        .iter()
        .filter_map(|line| {
            let before = &line[..line.find(" entries")?];
            let fraction = before.rsplit(' ').next()?;
            let (done, total) = fraction.split_once('/')?;
            Some((done.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_terminal_sees_the_bars_and_stdout_stays_json() {
    let env = slow_env();
    let dir = tempfile::tempdir().unwrap();
    let (output, transcript) = (dir.path().join("d.zip"), dir.path().join("tty"));
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pty_run.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&helper)
        .arg(&transcript)
        .args(pack_command(&env, &output));
    let out = run(cmd);
    check_summary(&out.stdout, &output);

    let screens = screens(&std::fs::read(&transcript).unwrap());
    let shown = entries_shown(&screens);
    let all = OBJECTS as u64;
    assert!(
        shown
            .iter()
            .all(|&(done, total)| total == all && done <= all),
        "entries shown: {shown:?}"
    );
    // The component's reports moved the bar while the pack ran, not only its end.
    assert!(
        shown.iter().any(|&(done, _)| done > 0 && done < all),
        "no report between start and end; the terminal showed:\n{}",
        screens.join("\n")
    );
    assert!(
        shown.windows(2).all(|w| w[0].0 <= w[1].0),
        "entries went back: {shown:?}"
    );
    assert_eq!(
        shown.last(),
        Some(&(all, all)),
        "the bar ends at the whole pack"
    );
    let packing: Vec<&String> = screens.iter().filter(|l| l.contains("packing")).collect();
    assert!(
        packing.iter().any(|l| l.contains("/36.00 MiB")),
        "the bar shows the plan's bytes: {packing:?}"
    );
    assert!(
        packing.iter().any(|l| l.contains("ETA")),
        "the bar shows the time left: {packing:?}"
    );
    let archive = std::fs::metadata(&output).unwrap().len();
    assert!(
        screens
            .iter()
            .any(|l| l.contains("downloading") && l.contains("36.00 MiB/36.00 MiB")),
        "the download's bar ends at the archive's {archive} bytes:\n{}",
        screens.join("\n")
    );
}

#[test]
fn pipes_get_no_bar_and_clean_json() {
    let env = slow_env();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("d.zip");
    let args = pack_command(&env, &output);
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    let out = run(cmd);
    check_summary(&out.stdout, &output);
    let stderr = String::from_utf8(out.stderr).unwrap();
    // Only the line saying where the archive went, as before there were bars.
    assert_eq!(
        stderr,
        format!(
            "downloaded {} bytes to {}\n",
            std::fs::metadata(&output).unwrap().len(),
            output.display()
        ),
        "stderr through a pipe"
    );
}
