//! Runs a Python oracle (an official SDK's signer) over JSON cases, for the differential
//! signing tests.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

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
