//! Lost answers (issue 9): the store executes a write, then the connection drops before
//! its answer arrives, so the client never learns the result. The proxy forwards the
//! request, waits for the store's whole answer, and closes the connection without a byte
//! of it (`Fault::LoseAnswer`).
//!
//! Whatever is lost, a pack must end in one of two clean states: a success whose archive is
//! whole, or a JSON error with nothing at the destination. Either way no multipart upload
//! may be left open (a lost CreateMultipartUpload answer must not leave its upload behind;
//! a lost CompleteMultipartUpload answer must not turn a written archive into a failure).

use std::collections::BTreeMap;
use std::path::PathBuf;

use zip_oss_tests::fault_proxy::{Fault, Match, RandomRule, Rule};
use zip_oss_tests::readers::{manifest_under, quick_check, Manifest};
use zip_oss_tests::{get, noise, save, Answer, Env};

const MIB: usize = 1 << 20;

/// Three source folders: one part, one part with a streamed object, several 5 MiB parts.
fn put_sources(env: &Env) -> Vec<(&'static str, Manifest)> {
    let mut sets = Vec::new();
    let small: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("small/f{i}.txt"), noise(1000 + i * 7919, i as u64)))
        .collect();
    sets.push(("small/", env.put_files(&small)));
    sets.push((
        "mixed/",
        env.put_files(&[
            ("mixed/stream.bin".into(), noise(3 * MIB / 2, 11)),
            ("mixed/read-ahead.bin".into(), noise(700 << 10, 12)),
            ("mixed/sub/a.txt".into(), b"a".to_vec()),
        ]),
    ));
    sets.push((
        "big/",
        env.put_files(&[
            ("big/ranged.bin".into(), noise(13 * MIB, 21)),
            ("big/second.bin".into(), noise(6 * MIB, 22)),
            ("big/tiny.txt".into(), b"tiny".to_vec()),
        ]),
    ));
    sets.into_iter()
        .map(|(prefix, paths): (&str, BTreeMap<String, PathBuf>)| {
            (prefix, manifest_under(&paths, prefix))
        })
        .collect()
}

/// Packs `prefix` into `dest`, answered as JSON or as a `302`.
fn pack(env: &Env, prefix: &str, dest: &str, json: bool) -> Answer {
    env.post(
        &format!(r#"{{"bucket":"bkt","source-dir":"{prefix}","dest-file":"{dest}"}}"#),
        json,
    )
}

/// How a pack ended, when it ended cleanly.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    /// A JSON error: status and code.
    Failure(u16, String),
}

/// Judges one pack's answer: a success whose archive the readers accept, or a JSON error
/// `{"error":{"code","message"}}` with a 4xx/5xx status and nothing at the destination.
/// `Err` describes anything else.
fn judge(
    env: &Env,
    answer: &Answer,
    dest: &str,
    manifest: &Manifest,
    json: bool,
) -> Result<Outcome, String> {
    let success = if json { 200 } else { 302 };
    if answer.status == success {
        let url = if json {
            let body: serde_json::Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("a {success} that is not JSON ({e}): {}", answer.text()))?;
            if body["key"] != dest {
                return Err(format!("answered for another key: {body}"));
            }
            body["url"].as_str().map(str::to_string)
        } else {
            answer.headers.get("location").cloned()
        }
        .ok_or_else(|| format!("a {success} without a link: {answer:?}"))?;
        let zip = get(&url);
        if zip.status != 200 {
            return Err(format!(
                "success, but the link answers {}: {}",
                zip.status,
                zip.text()
            ));
        }
        let name = dest.replace('/', "_");
        let path = save(env.dir.path(), &name, &zip.body);
        quick_check(&path, manifest)
            .map_err(|why| format!("success, but the archive is not whole: {why}"))?;
        return Ok(Outcome::Success);
    }
    if !(400..600).contains(&answer.status) {
        return Err(format!(
            "neither success nor an error: {} {}",
            answer.status,
            answer.text()
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|e| {
        format!(
            "error {} without a JSON body ({e}): {}",
            answer.status,
            answer.text()
        )
    })?;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    if code.is_empty() || message.is_empty() {
        return Err(format!(
            "error {} without a code and message: {body}",
            answer.status
        ));
    }
    if env.object_exists(dest) {
        return Err(format!(
            "answered {} {code} ({message}), yet the archive was written at `{dest}`",
            answer.status
        ));
    }
    Ok(Outcome::Failure(answer.status, code.to_string()))
}

/// A rule losing the answer to the first `times` requests matching `m`.
fn lose(m: Match, times: usize) -> Rule {
    Rule {
        method: m.method,
        contains: m.contains,
        fault: Fault::LoseAnswer,
        times,
    }
}

/// Asserts the premise of a deterministic case: the store answered `status` to exactly one
/// request matching `m`, and that answer was lost.
fn assert_one_answer_lost(env: &Env, m: &Match, status: u16) {
    let lost: Vec<u16> = env
        .proxy
        .seen()
        .iter()
        .filter(|s| m.matches(&s.method, &s.path_and_query))
        .filter_map(|s| s.lost_status)
        .collect();
    assert_eq!(
        lost,
        vec![status],
        "the answers lost to {m:?}: {:#?}",
        env.proxy.log()
    );
}

#[test]
fn packs_end_cleanly_while_a_third_of_the_write_answers_are_lost() {
    let env = Env::in_memory();
    let sets = put_sources(&env);
    env.proxy.add_random(RandomRule {
        matches: Match::multipart_writes(),
        fault: Fault::LoseAnswer,
        probability: 0.4,
        seed: 0x105e_a115,
    });

    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..12 {
        let (prefix, manifest) = &sets[i % sets.len()];
        let dest = format!("output/lost-{i}.zip");
        // Two packs fail on purpose after their upload began (the completion is refused,
        // without reaching the store), so aborts are among the writes whose answers go.
        let refused = i == 4 || i == 9;
        if refused {
            env.proxy.add(Rule {
                method: "POST",
                contains: vec!["?uploadId=".into()],
                fault: Fault::Status(400, "InvalidPart"),
                times: 1,
            });
        }
        let answer = pack(&env, prefix, &dest, i % 2 == 0);
        match judge(&env, &answer, &dest, manifest, i % 2 == 0) {
            Ok(outcome) => {
                if refused && outcome == Outcome::Success {
                    problems.push(format!(
                        "pack {i} ({prefix}): succeeded though its completion was refused"
                    ));
                }
                outcomes.push(format!("pack {i} ({prefix}): {outcome:?}"));
            }
            Err(p) => {
                outcomes.push(format!("pack {i} ({prefix}): PROBLEM"));
                problems.push(format!("pack {i} ({prefix}): {p}"));
            }
        }
    }
    env.proxy.clear_rules();

    let mut writes = 0;
    let mut lost = 0;
    let mut per_op = Vec::new();
    for (name, m) in [
        ("CreateMultipartUpload", Match::create_upload()),
        ("UploadPart", Match::upload_part()),
        ("CompleteMultipartUpload", Match::complete_upload()),
        ("AbortMultipartUpload", Match::abort_upload()),
    ] {
        let (n, l) = env.proxy.lost_answers(&m);
        writes += n;
        lost += l;
        let lost_successes = env
            .proxy
            .seen()
            .iter()
            .filter(|s| m.matches(&s.method, &s.path_and_query))
            .filter(|s| s.lost_status.is_some_and(|st| (200..300).contains(&st)))
            .count();
        per_op.push(format!(
            "{name}: {l} of {n} answers lost ({lost_successes} of them successes)"
        ));
    }
    let open = env.open_uploads();
    eprintln!(
        "{}\n{}\nwrites: {lost} of {writes} answers lost; uploads open: {}",
        outcomes.join("\n"),
        per_op.join("\n"),
        open.len()
    );

    // The premise: the store acted on every one of these writes, and ≥ 30% of its
    // answers never reached the pack.
    assert!(
        lost * 10 >= writes * 3,
        "only {lost} of {writes} write answers were lost"
    );
    for m in [
        Match::create_upload(),
        Match::upload_part(),
        Match::complete_upload(),
    ] {
        assert!(env.proxy.lost_answers(&m).1 > 0, "no answer lost to {m:?}");
    }

    if !open.is_empty() {
        problems.push(format!(
            "{} multipart uploads left open: {open:?}",
            open.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_lost_create_answer_leaves_no_upload_open() {
    let env = Env::with_dest_prefixes(&["out/"]);
    let sets = put_sources(&env);
    let (prefix, manifest) = &sets[0];
    env.proxy.add(lose(Match::create_upload(), 1));
    let answer = pack(&env, prefix, "out/create.zip", true);
    assert_one_answer_lost(&env, &Match::create_upload(), 200);
    let outcome = judge(&env, &answer, "out/create.zip", manifest, true);
    assert_eq!(
        (outcome, env.open_uploads()),
        (Ok(Outcome::Success), vec![]),
        "(outcome, uploads left open)"
    );
}

#[test]
fn a_lost_complete_answer_still_succeeds() {
    let env = Env::with_dest_prefixes(&["out/"]);
    let sets = put_sources(&env);
    let (prefix, manifest) = &sets[1];
    env.proxy.add(lose(Match::complete_upload(), 1));
    let answer = pack(&env, prefix, "out/complete.zip", true);
    assert_one_answer_lost(&env, &Match::complete_upload(), 200);
    let outcome = judge(&env, &answer, "out/complete.zip", manifest, true);
    // The archive was written: the pack must say so (NoSuchUpload on the retried
    // completion is settled by looking at the destination).
    assert_eq!(
        (outcome, env.open_uploads()),
        (Ok(Outcome::Success), vec![]),
        "(outcome, uploads left open)"
    );
}

/// A Complete the store is slow to carry out: its answer times out (store timeout 2 s; the
/// proxy holds it 4 s before the store sees it), the retry finds the upload gone, and the
/// archive is not there yet either. The pack looks again until it is, and succeeds.
#[test]
fn a_complete_still_under_way_when_its_retry_finds_no_upload_still_succeeds() {
    let env = Env::with_settings(|s| s.store_timeout = Some(2));
    let sets = put_sources(&env);
    let (prefix, manifest) = &sets[0];
    let complete = Match::complete_upload();
    for fault in [Fault::Delay(4000), Fault::Status(404, "NoSuchUpload")] {
        env.proxy.add(Rule {
            method: complete.method,
            contains: complete.contains.clone(),
            fault,
            times: 1,
        });
    }
    let answer = pack(&env, prefix, "output/late.zip", true);
    let outcome = judge(&env, &answer, "output/late.zip", manifest, true);
    assert_eq!(
        (outcome, env.open_uploads()),
        (Ok(Outcome::Success), vec![]),
        "(outcome, uploads left open): {:#?}",
        env.proxy.log()
    );
    let heads = env.proxy.count("HEAD", "output/late.zip");
    assert!(
        heads >= 2,
        "the archive was looked for once: {:#?}",
        env.proxy.log()
    );
}

#[test]
fn a_lost_abort_answer_leaves_no_upload_open() {
    let env = Env::with_dest_prefixes(&["out/"]);
    let sets = put_sources(&env);
    let (prefix, manifest) = &sets[0];
    // The completion is refused (without reaching the store), so the pack aborts its
    // upload; the store aborts it and that answer is lost.
    env.proxy.add(Rule {
        method: "POST",
        contains: vec!["?uploadId=".into()],
        fault: Fault::Status(400, "InvalidPart"),
        times: 1,
    });
    env.proxy.add(lose(Match::abort_upload(), 1));
    let answer = pack(&env, prefix, "out/abort.zip", true);
    assert_one_answer_lost(&env, &Match::abort_upload(), 204);
    let outcome = judge(&env, &answer, "out/abort.zip", manifest, true);
    assert_eq!(
        (outcome, env.open_uploads()),
        (Ok(Outcome::Failure(502, "InvalidPart".into())), vec![]),
        "(outcome, uploads left open)"
    );
}

#[test]
fn a_lost_part_answer_is_recovered() {
    let env = Env::with_dest_prefixes(&["out/"]);
    let sets = put_sources(&env);
    let (prefix, manifest) = &sets[2];
    let second_part = Match::new("PUT", &["partNumber=2&", "uploadId="]);
    env.proxy.add(lose(second_part.clone(), 1));
    let answer = pack(&env, prefix, "out/part.zip", true);
    assert_one_answer_lost(&env, &second_part, 200);
    let outcome = judge(&env, &answer, "out/part.zip", manifest, true);
    assert!(
        env.proxy.lost_answers(&Match::upload_part()).0 >= 3,
        "not several parts: {:#?}",
        env.proxy.log()
    );
    assert_eq!(
        (outcome, env.open_uploads()),
        (Ok(Outcome::Success), vec![]),
        "(outcome, uploads left open)"
    );
}

#[test]
fn the_proxy_answers_nothing_once_the_store_has_answered() {
    use std::io::{Read, Write};
    let env = Env::with_dest_prefixes(&["out/"]);
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    env.proxy.add(lose(Match::new("GET", &["/bkt/d/a.txt"]), 1));
    let mut tcp = std::net::TcpStream::connect(env.proxy.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    tcp.write_all(b"GET /bkt/d/a.txt HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let read = tcp.read_to_end(&mut got);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "{read:?}: {}",
        String::from_utf8_lossy(&got)
    );
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // The store did answer (an unsigned request: refused), and that answer was lost.
    let seen = env.proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].lost_status, Some(403), "{seen:?}");
}
