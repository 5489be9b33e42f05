//! A lost pack resumes (issue 13): `zip-oss pack` is killed with `SIGKILL` once at least half
//! of its parts are in the store, and the same command run again continues its multipart
//! upload instead of starting over — after refusing, while the dead pack's lease lasts, with
//! `409 PackInProgress` (as it refuses a second live pack of the same request).
//!
//! Judged from outside: the parts the store lists at the kill, every UploadPart the proxy
//! forwarded, the archive's bytes against an uninterrupted pack of the same sources, and
//! what is left in the bucket (no open upload, no checkpoint).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss_core::store::{Bucket, ListMultipartUploads, ListParts, ObjectKey};
use zip_oss_tests::fault_proxy::{Fault, Match, Rule};
use zip_oss_tests::readers::{check_uploaded_archive, manifest_under};
use zip_oss_tests::{binary, noise, now, Env, BUCKET};

const OBJECTS: usize = 12;
const OBJECT_BYTES: usize = 4 << 20;
/// Parts of the archive (5 MiB each: the smallest part size that fits the plan's bound).
const PARTS: usize = 10;
/// Seconds a dead pack's checkpoint keeps its upload from being taken over.
const LEASE: u64 = 4;

/// Twelve 4 MiB objects under `d/` ([`PARTS`] parts), each read delayed 300 ms and read one
/// at a time, so the pack lasts seconds and its parts go up one by one.
fn slow_env() -> (Env, BTreeMap<String, PathBuf>) {
    let env = Env::new();
    let files: Vec<(String, Vec<u8>)> = (0..OBJECTS)
        .map(|i| (format!("d/{i:02}.bin"), noise(OBJECT_BYTES, i as u64 + 100)))
        .collect();
    let paths = env.put_files(&files);
    env.proxy.add(Rule {
        method: "GET",
        contains: vec![format!("/{BUCKET}/d/")],
        fault: Fault::Delay(300),
        times: 10_000,
    });
    (env, paths)
}

/// `zip-oss pack` of `d/` into `dest` through the env's proxy.
fn pack(env: &Env, dest: &str) -> Command {
    let endpoint = env.settings.endpoint.clone().unwrap();
    let mut cmd = Command::new(binary());
    cmd.args([
        "pack",
        "--bucket",
        BUCKET,
        "--source-dir",
        "d/",
        "--dest-file",
        dest,
    ])
    .args(["--endpoint", &endpoint, "--path-style"])
    .args(["--access-key-id", ACCESS_KEY_ID, "--read-ranges", "1"])
    .args(["--resume-lease", &LEASE.to_string()])
    .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
    .env_remove("RUST_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// A pack run to its end: its JSON summary.
fn pack_done(env: &Env, dest: &str) -> serde_json::Value {
    let out = pack(env, dest).output().unwrap();
    assert!(
        out.status.success(),
        "zip-oss pack {dest} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A pack that must be refused because the same request's pack holds the upload.
fn assert_in_progress(out: Output, dest: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a second pack of {dest} ran: {stderr}"
    );
    assert!(
        stderr.contains("PackInProgress") && stderr.contains("HTTP 409"),
        "not refused with 409 PackInProgress: {stderr}"
    );
    assert!(
        stderr.contains(dest),
        "the refusal does not name {dest}: {stderr}"
    );
}

/// The open upload of `dest` and the parts the store lists for it (none before it exists).
fn listed_parts(env: &Env, dest: &str) -> Option<(String, Vec<u32>)> {
    let bucket = Bucket::new(BUCKET).unwrap();
    let cfg = env.direct_config();
    let a = env.store_request(ListMultipartUploads::new(&bucket).sign(&cfg, now()));
    let page = ListMultipartUploads::parse(&a.body).unwrap();
    let upload = page.uploads.into_iter().find(|u| u.key == dest)?;
    let key = ObjectKey::new(dest).unwrap();
    let a = env.store_request(ListParts::new(&bucket, &key, &upload.upload_id).sign(&cfg, now()));
    assert_eq!(a.status, 200, "ListParts: {}", a.text());
    let parts = ListParts::parse(&a.body).unwrap().parts;
    Some((upload.upload_id, parts.iter().map(|p| p.number).collect()))
}

/// Starts a pack of `dest`, checks that an identical request is refused while it runs, and
/// kills it with `SIGKILL` once at least half of `parts` are listed. Returns the upload and
/// the parts listed just before the kill.
fn pack_killed_halfway(env: &Env, dest: &str, parts: usize) -> (String, Vec<u32>) {
    let mut first: Child = pack(env, dest).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut checked_concurrent = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the pack never got half its parts up"
        );
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the pack ended ({status}) before it could be killed");
        }
        if let Some((upload_id, listed)) = listed_parts(env, dest) {
            if !checked_concurrent && !listed.is_empty() {
                // The checkpoint is written before the first part: a second live pack of
                // the same request must not take the upload over.
                assert_in_progress(pack(env, dest).output().unwrap(), dest);
                checked_concurrent = true;
                continue;
            }
            if checked_concurrent && listed.len() * 2 >= parts {
                first.kill().unwrap();
                first.wait().unwrap();
                return (upload_id, listed);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// UploadPart requests the proxy forwarded from log position `from` on, per upload id.
fn part_uploads_since(env: &Env, from: usize) -> Vec<String> {
    let m = Match::upload_part();
    env.proxy.seen()[from..]
        .iter()
        .filter(|s| m.matches(&s.method, &s.path_and_query))
        .map(|s| s.path_and_query.clone())
        .collect()
}

fn archive(env: &Env, key: &str) -> Vec<u8> {
    std::fs::read(env.root().join(BUCKET).join(key)).unwrap()
}

fn assert_nothing_left(env: &Env, dests: &[&str]) {
    assert_eq!(
        env.open_uploads(),
        Vec::<String>::new(),
        "uploads left open"
    );
    for dest in dests {
        let checkpoint = format!("{dest}.zip-oss-resume");
        assert!(!env.object_exists(&checkpoint), "{checkpoint} left behind");
    }
}

/// Waits out the dead pack's lease (its checkpoint was renewed until the kill).
fn wait_out_lease() {
    std::thread::sleep(Duration::from_secs(LEASE + 2));
}

#[test]
fn a_killed_pack_resumes_with_the_parts_it_uploaded() {
    let (env, paths) = slow_env();
    let whole = pack_done(&env, "out/whole.zip");
    let total = whole["parts"].as_u64().unwrap() as usize;
    assert_eq!(total, PARTS, "{whole}");

    let dest = "out/resumed.zip";
    let (upload_id, listed) = pack_killed_halfway(&env, dest, total);
    assert!(listed.len() < total, "every part was up before the kill");

    // Right after the kill the lease still holds: refused, not taken over or started over.
    assert_in_progress(pack(&env, dest).output().unwrap(), dest);
    assert_eq!(
        listed_parts(&env, dest).map(|(id, _)| id),
        Some(upload_id.clone()),
        "the refused pack touched the upload"
    );

    wait_out_lease();
    let from = env.proxy.seen().len();
    let summary = pack_done(&env, dest);
    let uploaded = part_uploads_since(&env, from);
    assert_eq!(summary["parts"].as_u64(), Some(total as u64), "{summary}");
    let resumed = summary["resumed_parts"].as_u64().unwrap() as usize;
    eprintln!(
        "listed at the kill: {listed:?}; kept {resumed}; uploaded again {} of {total}",
        uploaded.len()
    );
    assert!(
        resumed >= listed.len(),
        "kept {resumed} parts of the {} listed at the kill: {summary}",
        listed.len()
    );
    assert!(
        uploaded.len() <= total - listed.len() + 1,
        "{} parts uploaded again for {} missing: {uploaded:#?}",
        uploaded.len(),
        total - listed.len()
    );
    assert!(
        uploaded.iter().all(|p| p.contains(&upload_id)),
        "the resumed pack did not continue upload {upload_id}: {uploaded:#?}"
    );

    assert!(
        archive(&env, dest) == archive(&env, "out/whole.zip"),
        "the resumed archive differs from an uninterrupted pack"
    );
    let zip = env.root().join(BUCKET).join(dest);
    check_uploaded_archive(&zip, &manifest_under(&paths, "d/"));
    assert_nothing_left(&env, &[dest, "out/whole.zip"]);
}

#[test]
fn a_changed_object_starts_the_pack_over() {
    let (env, _) = slow_env();
    let dest = "out/changed.zip";
    let (stale, listed) = pack_killed_halfway(&env, dest, PARTS);
    assert!(!listed.is_empty());

    // One object changes between the two runs: same key and size, other bytes.
    let paths = env.put_files(&[("d/03.bin".into(), noise(OBJECT_BYTES, 999))]);
    assert_eq!(paths.len(), 1);

    wait_out_lease();
    let from = env.proxy.seen().len();
    let summary = pack_done(&env, dest);
    assert_eq!(summary["resumed_parts"].as_u64(), Some(0), "{summary}");
    let uploaded = part_uploads_since(&env, from);
    assert_eq!(uploaded.len() as u64, summary["parts"].as_u64().unwrap());
    assert!(
        uploaded.iter().all(|p| !p.contains(&stale)),
        "a part went into the stale upload {stale}"
    );
    let aborted = Match::abort_upload();
    let aborts: Vec<_> = env.proxy.seen()[from..]
        .iter()
        .filter(|s| aborted.matches(&s.method, &s.path_and_query))
        .map(|s| s.path_and_query.clone())
        .collect();
    assert!(
        aborts.iter().any(|p| p.contains(&stale)),
        "the stale upload {stale} was not aborted: {aborts:?}"
    );

    // The archive is the new version's, whole: the same bytes as a fresh pack of it.
    let fresh = pack_done(&env, "out/fresh.zip");
    assert_eq!(fresh["resumed_parts"].as_u64(), Some(0));
    assert!(
        archive(&env, dest) == archive(&env, "out/fresh.zip"),
        "the restarted archive differs from a fresh pack of the changed folder"
    );
    let all: BTreeMap<String, PathBuf> = (0..OBJECTS)
        .map(|i| format!("d/{i:02}.bin"))
        .map(|k| (k.clone(), env.root().join(BUCKET).join(&k)))
        .collect();
    let zip = env.root().join(BUCKET).join(dest);
    check_uploaded_archive(&zip, &manifest_under(&all, "d/"));
    assert_nothing_left(&env, &[dest, "out/fresh.zip"]);
}
