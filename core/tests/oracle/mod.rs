//! Runs a Python oracle (an official SDK's signer) over JSON cases, for the differential
//! signing tests.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// As [`run_python`], but a missing oracle skips the test (printing so), unless the
/// environment variable `require` is set, as CI sets it: then it fails.
pub fn run_or_skip(
    probe_import: &str,
    script: &str,
    input: &Value,
    require: &str,
) -> Option<Vec<Value>> {
    let results = run_python(probe_import, script, input);
    if results.is_none() {
        assert!(
            std::env::var_os(require).is_none(),
            "python3 with `{probe_import}` is required ({require}) but missing"
        );
        eprintln!("skipped: python3 with `{probe_import}` not available");
    }
    results
}

/// Feeds `input` to `script` on stdin and reads its JSON answer; `None` when python3 or
/// the module `probe_import` is unavailable.
pub fn run_python(probe_import: &str, script: &str, input: &Value) -> Option<Vec<Value>> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {probe_import}")])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "oracle failed");
    Some(serde_json::from_slice(&out.stdout).expect("oracle prints JSON"))
}
