//! Who may pack what, and where it may write (issue 10), against the real servers: signed
//! pack links, bearer tokens, the refusal to serve beyond loopback without either, the
//! destination and source prefixes, no overwriting (S3 through the embedded store, OSS
//! through the gateway over moto), the README's signer, the logs, and the two hostile
//! requests (a climbing `dest-file`, a 64 MiB body).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use zip_oss::demo::ACCESS_KEY_SECRET;
use zip_oss::settings::{AccessSettings, ProviderKind};
use zip_oss::StoreSettings;
use zip_oss_core::auth::SigningKey;
use zip_oss_core::store::{Bucket, GetObject, HttpRequest, ListMultipartUploads, ObjectKey};
use zip_oss_tests::fault_proxy::{Fault, FaultProxy, Rule};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::readers::{check_archive, manifest_under};
use zip_oss_tests::served::Served;
use zip_oss_tests::{answer, binary, get, now, save, Answer, Env};

const SECRET: &str = "app-signing-secret-0123456789abcdef";
const OLD_SECRET: &str = "old-signing-secret-fedcba9876543210";
const TOKEN: &str = "server-token-0123456789abcdef";

/// Keys `app` and `old`, and one token.
fn guarded_env(adjust: impl FnOnce(&mut AccessSettings)) -> Env {
    Env::with_access(|a| {
        a.signing_keys = Some(format!("app:{SECRET}, old:{OLD_SECRET}"));
        a.tokens = Some(TOKEN.into());
        adjust(a);
    })
}

/// The query of a link for `json`, signed with `key_id`/`secret`.
fn link_query(key_id: &str, secret: &str, json: &str, expires: u64) -> String {
    SigningKey::new(key_id, secret)
        .unwrap()
        .sign_query(json, expires)
        .unwrap()
}

/// GETs `url` without following redirects, with `headers`.
fn fetch(url: &str, headers: &[(&str, &str)]) -> Answer {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.call())
}

/// POSTs `body` to the server with `headers`, without following redirects.
fn post(env: &Env, body: &str, headers: &[(&str, &str)]) -> Answer {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.post(&env.url());
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.send_string(body))
}

/// A query with parameter `name` set to `value` instead.
fn with_param(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((n, _)) if n == name => format!("{name}={value}"),
            _ => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_string()
}

fn assert_unauthorized(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {}", a.text());
    assert_eq!(a.error_code(401), "Unauthorized", "{what}");
    assert!(a.headers.contains_key("www-authenticate"), "{what}");
    for secret in [SECRET, OLD_SECRET, TOKEN] {
        assert!(!a.text().contains(secret), "{what}: {}", a.text());
    }
}

/// Follows a `302` with a plain client and checks the archive holds `paths` under `prefix`.
fn check_redirect(
    env: &Env,
    a: &Answer,
    paths: &std::collections::BTreeMap<String, PathBuf>,
    prefix: &str,
) {
    assert_eq!(a.status, 302, "{}", a.text());
    let zip = get(&a.headers["location"]);
    assert_eq!(zip.status, 200);
    let path = save(env.dir.path(), "link.zip", &zip.body);
    check_archive(&path, &manifest_under(&under(paths, prefix), prefix));
}

/// The objects of `paths` under `prefix`.
fn under(
    paths: &std::collections::BTreeMap<String, PathBuf>,
    prefix: &str,
) -> std::collections::BTreeMap<String, PathBuf> {
    paths
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn a_signed_link_packs_and_redirects_and_streams() {
    let env = guarded_env(|_| {});
    let paths = env.put_files(&[
        ("users/42/a.txt".into(), b"alpha".to_vec()),
        ("users/42/报告.txt".into(), "内容".as_bytes().to_vec()),
        ("users/43/secret.txt".into(), b"not yours".to_vec()),
    ]);
    let json = r#"{"bucket":"bkt","source-dir":"users/42/"}"#;
    // The link as `zip-oss sign` prints it.
    let url = sign_with_binary(&env.url(), "app", SECRET, json, now() + 300);
    let a = fetch(&url, &[]);
    check_redirect(&env, &a, &paths, "users/42/");
    assert!(
        a.headers["location"].contains("/bkt/output/"),
        "{:?}",
        a.headers
    );

    // The same link streams the archive when asked to.
    let streamed = fetch(&url, &[("accept", "application/zip")]);
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    let zip = save(env.dir.path(), "streamed.zip", &streamed.body);
    check_archive(
        &zip,
        &manifest_under(&under(&paths, "users/42/"), "users/42/"),
    );

    // Its holder cannot turn it into an asynchronous pack: the signature does not cover
    // `Prefer`, so the link packs synchronously, as it was signed to.
    let held = fetch(&url, &[("prefer", "respond-async")]);
    check_redirect(&env, &held, &paths, "users/42/");
    assert!(
        !held.headers.contains_key("preference-applied"),
        "{:?}",
        held.headers
    );

    // A link is a GET; a GET that is no link is not a pack.
    assert_eq!(fetch(&env.url(), &[]).error_code(405), "MethodNotAllowed");

    // Its holder cannot choose where the archive goes with a request id of its own: the
    // default destination is named at random off Function Compute.
    for header in ["x-request-id", "x-fc-request-id"] {
        let a = fetch(&url, &[(header, "attacker-chosen")]);
        assert_eq!(a.status, 302, "{}", a.text());
        let location = &a.headers["location"];
        assert!(location.contains("/bkt/output/"), "{location}");
        assert!(
            !location.contains("attacker-chosen"),
            "{header}: {location}"
        );
    }
}

/// A caller without a token is refused before its body is read: the server does not wait
/// for (or hold) a megabyte a stranger announces, and starts no instance for it.
#[test]
fn a_stranger_is_refused_before_its_body() {
    let env = guarded_env(|_| {});
    let addr = env.url();
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        1 << 20
    );
    conn.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut conn);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    assert!(answer.contains("Unauthorized"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("www-authenticate"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // A wrong token the same; the right one is let through to the component.
    let wrong = post(
        &env,
        "{}",
        &[("authorization", "Bearer not-the-token-0123456789")],
    );
    assert_unauthorized(&wrong, "a wrong token");
    let right = post(&env, "{}", &[("authorization", &format!("Bearer {TOKEN}"))]);
    assert_eq!(right.status, 400, "{}", right.text());
}

#[test]
fn every_single_field_alteration_of_a_signed_link_is_401() {
    let env = guarded_env(|_| {});
    let paths = env.put_files(&[
        ("users/42/a.txt".into(), b"alpha".to_vec()),
        ("users/42/b.txt".into(), b"beta".to_vec()),
    ]);
    let request = serde_json::json!({
        "region": "us-east-1",
        "bucket": "bkt",
        "source-dir": ["users/42/"],
        "source-files": ["users/42/a.txt", "users/42/b.txt"],
        "dest-file": "output/u42.zip",
        "url-expires": 300,
        "compression": "stored",
        "compression-level": 6,
        "name-encoding": "utf-8",
        "include": ["*.txt"],
        "exclude": ["tmp/**"],
        "folders": "markers",
    });
    let expires = now() + 600;
    let signed = link_query("app", SECRET, &request.to_string(), expires);

    // Each request field changed (to a value that is itself a valid request), removed, or
    // one added: the link's `pack` is replaced, its signature kept.
    let mut altered: Vec<(String, serde_json::Value)> = Vec::new();
    for (field, value) in [
        ("region", serde_json::json!("cn-shanghai")),
        ("bucket", serde_json::json!("other-bucket")),
        ("source-dir", serde_json::json!(["users/"])),
        ("source-files", serde_json::json!(["users/42/a.txt"])),
        ("dest-file", serde_json::json!("output/index.zip")),
        ("url-expires", serde_json::json!(604800)),
        ("compression", serde_json::json!("deflate")),
        ("compression-level", serde_json::json!(1)),
        ("name-encoding", serde_json::json!("gbk")),
        ("include", serde_json::json!(["*"])),
        ("exclude", serde_json::json!([])),
        ("folders", serde_json::json!("all")),
    ] {
        let mut r = request.clone();
        r[field] = value;
        altered.push((format!("{field} changed"), r));
        let mut r = request.clone();
        r.as_object_mut().unwrap().remove(field);
        altered.push((format!("{field} removed"), r));
    }
    let mut r = request.clone();
    r["extra"] = serde_json::json!(1);
    altered.push(("a field added".into(), r));
    for (what, r) in altered {
        // The altered request's own pack parameter (signed with the right key), spliced in.
        let pack = param(&link_query("app", SECRET, &r.to_string(), expires), "pack");
        let a = fetch(
            &format!("{}?{}", env.url(), with_param(&signed, "pack", &pack)),
            &[],
        );
        assert_unauthorized(&a, &what);
    }

    let sig = param(&signed, "signature");
    let flipped = format!(
        "{}{}",
        &sig[..63],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    for (what, query) in [
        (
            "expiry later",
            with_param(&signed, "expires", &(expires + 1).to_string()),
        ),
        (
            "expiry earlier",
            with_param(&signed, "expires", &(expires - 1).to_string()),
        ),
        ("another known key id", with_param(&signed, "key-id", "old")),
        ("an unknown key id", with_param(&signed, "key-id", "gone")),
        ("signature", with_param(&signed, "signature", &flipped)),
        (
            "signature upper-case",
            with_param(&signed, "signature", &sig.to_uppercase()),
        ),
        (
            "no signature",
            signed.replace(&format!("&signature={sig}"), ""),
        ),
        (
            "no expiry",
            signed.replace(&format!("&expires={expires}"), ""),
        ),
    ] {
        assert_unauthorized(&fetch(&format!("{}?{query}", env.url()), &[]), what);
    }

    // Expired.
    let expired = link_query("app", SECRET, &request.to_string(), now() - 1);
    let a = fetch(&format!("{}?{expired}", env.url()), &[]);
    assert_unauthorized(&a, "expired");
    assert!(a.text().contains("expired"), "{}", a.text());

    // Nothing reached the store; the untouched link packs.
    assert!(env.proxy.log().is_empty(), "{:#?}", env.proxy.log());
    let a = fetch(&format!("{}?{signed}", env.url()), &[]);
    check_redirect(&env, &a, &paths, "users/42/");
    assert!(a.headers["location"].contains("/bkt/output/u42.zip?"));
}

#[test]
fn a_rotated_out_key_is_401() {
    let json = r#"{"bucket":"bkt","source-dir":"d/"}"#;
    // Both keys configured: a link signed with the old one packs.
    let both = guarded_env(|_| {});
    let paths = both.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let old_link = link_query("old", OLD_SECRET, json, now() + 300);
    check_redirect(
        &both,
        &fetch(&format!("{}?{old_link}", both.url()), &[]),
        &paths,
        "d/",
    );
    drop(both);

    // The old key rotated out: its links stop working, the new key's work.
    let rotated = Env::with_access(|a| a.signing_keys = Some(format!("app:{SECRET}")));
    let paths = rotated.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let a = fetch(&format!("{}?{old_link}", rotated.url()), &[]);
    assert_unauthorized(&a, "rotated-out key");
    assert!(rotated.proxy.log().is_empty());
    let new_link = link_query("app", SECRET, json, now() + 300);
    check_redirect(
        &rotated,
        &fetch(&format!("{}?{new_link}", rotated.url()), &[]),
        &paths,
        "d/",
    );
}

#[test]
fn a_token_packs_a_wrong_or_missing_one_is_401() {
    let env = guarded_env(|_| {});
    let paths = env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let body = r#"{"bucket":"bkt","source-dir":"d/"}"#;
    let bearer = format!("Bearer {TOKEN}");
    check_redirect(
        &env,
        &post(&env, body, &[("authorization", &bearer)]),
        &paths,
        "d/",
    );
    let wrong = "Bearer server-token-0123456789abcdeX";
    assert_unauthorized(
        &post(&env, body, &[("authorization", wrong)]),
        "wrong token",
    );
    assert_unauthorized(&post(&env, body, &[]), "no token");
    // Another scheme is not a token.
    assert_unauthorized(
        &post(&env, body, &[("authorization", "Basic YTpi")]),
        "basic",
    );
    // A token does not sign links, nor a key's secret stand in for a token.
    let secret_as_token = format!("Bearer {SECRET}");
    assert_unauthorized(
        &post(&env, body, &[("authorization", &secret_as_token)]),
        "a signing secret as token",
    );
    let store_requests = env.proxy.log().len();
    assert!(store_requests > 0);

    // An anonymous service still checks a token that is presented.
    let open = Env::new();
    open.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    assert_unauthorized(
        &post(&open, body, &[("authorization", wrong)]),
        "token, anonymous",
    );
    assert_eq!(post(&open, body, &[]).status, 302);
}

#[test]
fn destinations_outside_the_prefix_are_403_and_climbing_keys_400() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    for dest in [
        "index.html",
        "outputs/a.zip",
        "reports/customer.pdf",
        "output",
    ] {
        let body = format!(r#"{{"bucket":"bkt","source-dir":"d/","dest-file":"{dest}"}}"#);
        assert_eq!(
            env.post(&body, false).error_code(403),
            "DestinationNotAllowed",
            "{dest}"
        );
    }
    for dest in [
        "../../x.zip",
        "output/../../x.zip",
        "output/./x.zip",
        "output//x.zip",
        "/output/x.zip",
        "output/x\\u0007.zip",
        "output\\\\..\\\\x.zip",
    ] {
        let body = format!(r#"{{"bucket":"bkt","source-dir":"d/","dest-file":"{dest}"}}"#);
        assert_eq!(
            env.post(&body, false).error_code(400),
            "InvalidRequest",
            "{dest}"
        );
    }
    // Streamed archives write nothing, but their name is checked the same way.
    let agent = ureq::AgentBuilder::new().build();
    let streamed = answer(
        agent
            .post(&env.url())
            .set("accept", "application/zip")
            .send_string(r#"{"bucket":"bkt","source-dir":"d/","dest-file":"../../x.zip"}"#),
    );
    assert_eq!(streamed.error_code(400), "InvalidRequest");
    assert!(env.proxy.log().is_empty(), "{:#?}", env.proxy.log());

    // Another configured prefix; the default destination follows the first one.
    let env = Env::with_dest_prefixes(&["zips/", "exports/"]);
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let a = env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, true);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.json()["key"].as_str().unwrap().starts_with("zips/"),
        "{}",
        a.text()
    );
    let a = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/a.zip"}"#,
        false,
    );
    assert_eq!(a.error_code(403), "DestinationNotAllowed");
}

#[test]
fn sources_outside_the_allowed_prefixes_are_403() {
    let env = Env::with_access(|a| a.source_prefix = vec!["public/".into(), "users/42/".into()]);
    let paths = env.put_files(&[
        ("public/a.txt".into(), b"a".to_vec()),
        ("users/43/b.txt".into(), b"b".to_vec()),
    ]);
    for body in [
        r#"{"bucket":"bkt","source-dir":"users/"}"#,
        r#"{"bucket":"bkt","source-dir":"users/43/"}"#,
        r#"{"bucket":"bkt","source-dir":"pub"}"#,
        r#"{"bucket":"bkt","source-dir":"public/../users/43/"}"#,
        r#"{"bucket":"bkt","source-files":["users/43/b.txt"]}"#,
        r#"{"bucket":"bkt","source-dir":"public/","source-files":["users/43/b.txt"]}"#,
    ] {
        assert_eq!(
            env.post(body, false).error_code(403),
            "SourceNotAllowed",
            "{body}"
        );
    }
    assert!(env.proxy.log().is_empty(), "{:#?}", env.proxy.log());
    let a = env.post(r#"{"bucket":"bkt","source-dir":"public/"}"#, false);
    check_redirect(&env, &a, &paths, "public/");
}

#[test]
fn an_existing_destination_is_409_and_unchanged_s3() {
    let env = Env::new();
    env.put_files(&[
        ("d/a.bin".into(), zip_oss_tests::noise(6 << 20, 3)),
        ("output/taken.zip".into(), b"precious".to_vec()),
    ]);
    // Caught before anything is uploaded.
    let a = env.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/taken.zip"}"#,
        false,
    );
    assert_eq!(a.error_code(409), "DestinationExists");
    assert_eq!(
        std::fs::read(env.root().join("bkt/output/taken.zip")).unwrap(),
        b"precious"
    );
    assert!(
        !env.proxy.log().iter().any(|l| l.contains("uploads")),
        "{:#?}",
        env.proxy.log()
    );

    // Created while the pack runs: the conditional completion (If-None-Match: *) refuses,
    // nothing changes and the upload is aborted.
    env.proxy.add(Rule {
        method: "POST",
        contains: vec!["uploadId=".into()],
        fault: Fault::Delay(1500),
        times: 1,
    });
    std::thread::scope(|s| {
        let pack = s.spawn(|| {
            env.post(
                r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/race.zip"}"#,
                false,
            )
        });
        wait_for(|| {
            env.proxy
                .log()
                .iter()
                .any(|l| l.starts_with("POST") && l.contains("uploadId="))
        });
        env.put_files(&[("output/race.zip".into(), b"first".to_vec())]);
        let a = pack.join().unwrap();
        assert_eq!(a.error_code(409), "DestinationExists");
    });
    assert_eq!(
        std::fs::read(env.root().join("bkt/output/race.zip")).unwrap(),
        b"first"
    );
    assert_eq!(env.open_uploads(), Vec::<String>::new());

    // The operator may allow overwriting.
    let open = Env::with_access(|a| a.allow_overwrite = true);
    open.put_files(&[
        ("d/a.txt".into(), b"a".to_vec()),
        ("output/taken.zip".into(), b"precious".to_vec()),
    ]);
    let a = open.post(
        r#"{"bucket":"bkt","source-dir":"d/","dest-file":"output/taken.zip"}"#,
        false,
    );
    assert_eq!(a.status, 302, "{}", a.text());
    assert_ne!(
        std::fs::read(open.root().join("bkt/output/taken.zip")).unwrap(),
        b"precious"
    );
}

#[test]
fn an_existing_destination_is_409_and_unchanged_oss() {
    const BUCKET: &str = "oss-bucket";
    let moto = Moto::start_for_oss();
    moto.create_bucket(BUCKET);
    moto.put(BUCKET, "files/a.bin", &zip_oss_tests::noise(300 << 10, 9));
    moto.put(BUCKET, "output/taken.zip", b"precious");
    let gateway = OssGateway::start(&moto.endpoint(), "AK", "SK", None);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (proxy, server, addr) = rt.block_on(async {
        let proxy = FaultProxy::start(gateway.addr).await.unwrap();
        let settings = StoreSettings {
            provider: ProviderKind::Oss,
            endpoint: Some(format!("http://{}", proxy.addr)),
            region: "cn-shanghai".into(),
            path_style: true,
            access_key_id: Some("AK".into()),
            access_key_secret: Some("SK".into()),
            ..StoreSettings::default()
        };
        let (addr, server) = zip_oss_tests::serve_open(&settings).await;
        (proxy, server, addr)
    });
    let pack = |dest: &str| {
        let body = format!(
            r#"{{"region":"cn-shanghai","bucket":"{BUCKET}","source-dir":"files/","dest-file":"{dest}"}}"#
        );
        answer(
            ureq::AgentBuilder::new()
                .redirects(0)
                .build()
                .post(&format!("http://{addr}/"))
                .send_string(&body),
        )
    };
    let object = |key: &str| {
        let (b, k) = (Bucket::new(BUCKET).unwrap(), ObjectKey::new(key).unwrap());
        call(GetObject::new(&b, &k).sign(&moto.config(), now())).body
    };
    let open_uploads = || {
        let b = Bucket::new(BUCKET).unwrap();
        let a = call(ListMultipartUploads::new(&b).sign(&moto.config(), now()));
        assert_eq!(a.status, 200, "{}", a.text());
        ListMultipartUploads::parse(&a.body).unwrap().uploads
    };

    // Caught before anything is uploaded.
    assert_eq!(
        pack("output/taken.zip").error_code(409),
        "DestinationExists"
    );
    assert_eq!(object("output/taken.zip"), b"precious");
    assert!(
        !proxy.log().iter().any(|l| l.contains("uploads")),
        "{:#?}",
        proxy.log()
    );

    // Created while the pack runs: OSS's x-oss-forbid-overwrite on the completion refuses
    // (409 FileAlreadyExists), nothing changes and the upload is aborted.
    proxy.add(Rule {
        method: "POST",
        contains: vec!["uploadId=".into()],
        fault: Fault::Delay(1500),
        times: 1,
    });
    std::thread::scope(|s| {
        let packing = s.spawn(|| pack("output/race.zip"));
        wait_for(|| {
            proxy
                .log()
                .iter()
                .any(|l| l.starts_with("POST") && l.contains("uploadId="))
        });
        moto.put(BUCKET, "output/race.zip", b"first");
        assert_eq!(packing.join().unwrap().error_code(409), "DestinationExists");
    });
    assert_eq!(object("output/race.zip"), b"first");
    assert!(open_uploads().is_empty(), "uploads left open");

    // A free destination packs, and the link (checked by the gateway) downloads it.
    let a = pack("output/new.zip");
    assert_eq!(a.status, 302, "{}", a.text());
    assert_eq!(get(&a.headers["location"]).status, 200);
    rt.block_on(server.shutdown());
}

/// A signed request straight to a store.
fn call(req: HttpRequest) -> Answer {
    let mut r = ureq::request(req.method, &req.url);
    for (k, v) in &req.headers {
        r = r.set(k, v);
    }
    answer(r.call())
}

fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_64_mib_body_is_413_json_with_or_without_content_length() {
    let env = Env::new();
    let body = vec![b' '; 64 << 20];
    let agent = ureq::AgentBuilder::new().build();
    let announced = answer(agent.post(&env.url()).send_bytes(&body));
    assert_eq!(announced.error_code(413), "RequestTooLarge");
    let chunked = answer(agent.post(&env.url()).send(std::io::Cursor::new(body)));
    assert_eq!(chunked.error_code(413), "RequestTooLarge");
    // The server goes on serving.
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    assert_eq!(
        env.post(r#"{"bucket":"bkt","source-dir":"d/"}"#, false)
            .status,
        302
    );
}

fn sign_with_binary(url: &str, key_id: &str, secret: &str, json: &str, expires: u64) -> String {
    let out = Command::new(binary())
        .args([
            "sign",
            "--key-id",
            key_id,
            "--expires",
            &expires.to_string(),
            "--url",
            url,
            json,
        ])
        .env("ZIP_OSS_SIGNING_SECRET", secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_readme_python_signer_makes_the_same_link_as_zip_oss_sign() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("```python\n# zip-oss pack link signer")
        .expect("the README's Python signer");
    let code = &readme[start + "```python\n".len()..];
    let code = &code[..code.find("```").unwrap()];
    assert!(code.lines().count() <= 20, "the snippet grew:\n{code}");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sign.py");
    std::fs::write(
        &script,
        format!("{code}\nimport sys, json as _j\nprint(pack_link(sys.argv[1], sys.argv[2], sys.argv[3], _j.loads(sys.argv[4]), expires=int(sys.argv[5])))\n"),
    )
    .unwrap();
    let python = |url: &str, key_id: &str, secret: &str, json: &str, expires: u64| {
        let out = Command::new("python3")
            .arg(&script)
            .args([url, key_id, secret, json, &expires.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    for (key_id, secret, json, expires) in [
        // The README's worked example.
        (
            "app1",
            "correct-horse-battery-staple-42",
            r#"{ "bucket": "my-bucket", "source-dir": "users/42/", "dest-file": "output/users-42.zip" }"#,
            1_767_225_600,
        ),
        (
            "k.2_x-y",
            "another secret: with spaces & symbols",
            r#"{"source-files":[{"name":"报告 2024.pdf","key":"users/42/r.pdf"},"users/42/a+b %.txt"],"bucket":"b","compression":"auto","include":["*.pdf"],"url-expires":60,"folders":"all","region":"cn-shanghai","name-encoding":"gbk","dest-file":"output/x\"y.zip"}"#,
            4_102_444_800,
        ),
    ] {
        let url = "http://127.0.0.1:8080/";
        let ours = sign_with_binary(url, key_id, secret, json, expires);
        assert_eq!(python(url, key_id, secret, json, expires), ours, "{json}");
        if key_id == "app1" {
            assert!(
                readme.contains(&ours),
                "the README's worked example is not the signer's:\n{ours}"
            );
        }
    }
}

/// `zip-oss serve` on `host` (port 0) with `args` and `envs`; its exit status and log if it
/// exited instead of listening.
fn serve(
    env: &Env,
    host: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<Served, (std::process::ExitStatus, String)> {
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--listen", &format!("{host}:0"), "--path-style"])
        .args(["--endpoint", &format!("http://{}", env.proxy.addr)])
        .args(["--access-key-id", zip_oss::demo::ACCESS_KEY_ID])
        .env_clear()
        .env("HOME", env.dir.path())
        .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Served::start(cmd)
}

#[test]
fn beyond_loopback_without_auth_refuses_to_start_unless_anonymous() {
    let env = Env::new();
    let Err((status, log)) = serve(&env, "0.0.0.0", &[], &[]) else {
        panic!("served 0.0.0.0 without authentication");
    };
    assert!(!status.success());
    for option in [
        "--signing-keys",
        "--tokens",
        "--anonymous",
        "ZIP_OSS_ANONYMOUS",
    ] {
        assert!(
            log.contains(option),
            "the refusal does not name {option}:\n{log}"
        );
    }

    let open = serve(&env, "0.0.0.0", &["--anonymous"], &[])
        .unwrap_or_else(|(_, log)| panic!("--anonymous did not start:\n{log}"));
    assert_eq!(get(&format!("{}healthz", open.url())).status, 200);
    let (status, _) = open.stop();
    assert!(status.success(), "{status}");

    let keyed = serve(
        &env,
        "0.0.0.0",
        &[],
        &[("ZIP_OSS_SIGNING_KEYS", &format!("app:{SECRET}"))],
    )
    .unwrap_or_else(|(_, log)| panic!("keys did not start it:\n{log}"));
    keyed.stop();
}

#[test]
fn no_key_token_or_signature_in_any_log_line() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let server = serve(
        &env,
        "127.0.0.1",
        &[],
        &[
            (
                "ZIP_OSS_SIGNING_KEYS",
                &format!("app:{SECRET},old:{OLD_SECRET}"),
            ),
            ("ZIP_OSS_TOKENS", TOKEN),
            ("RUST_LOG", "zip_oss=debug,info"),
        ],
    )
    .unwrap_or_else(|(_, log)| panic!("zip-oss serve exited:\n{log}"));
    let json = r#"{"bucket":"bkt","source-dir":"d/"}"#;
    let good = link_query("app", SECRET, json, now() + 300);
    let bad = with_param(&good, "signature", &"0".repeat(64));
    let wrong_token = "Bearer wrong-token-0123456789abcdef";
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let req = |r: ureq::Request| answer(r.call());
    assert_eq!(
        req(agent.get(&format!("{}?{good}", server.url()))).status,
        302
    );
    assert_eq!(
        req(agent.get(&format!("{}?{bad}", server.url()))).status,
        401
    );
    let post = |auth: &str| {
        answer(
            agent
                .post(&server.url())
                .set("authorization", auth)
                .send_string(json),
        )
    };
    assert_eq!(post(&format!("Bearer {TOKEN}")).status, 302);
    assert_eq!(post(wrong_token).status, 401);
    let (_, log) = server.stop();
    assert!(
        log.contains("status=302") && log.contains("status=401"),
        "{log}"
    );
    for secret in [
        SECRET,
        OLD_SECRET,
        TOKEN,
        "wrong-token-0123456789abcdef",
        ACCESS_KEY_SECRET,
        &param(&good, "signature"),
        &param(&good, "pack"),
        &"0".repeat(64),
    ] {
        assert!(!log.contains(secret), "`{secret}` was logged:\n{log}");
    }
}

/// Open only because it listens on loopback, the server answers only this machine's own
/// requests: a page re-pointed at 127.0.0.1 (DNS rebinding: its own name in `Host`) or
/// posting from another site (`Origin`, `Sec-Fetch-Site`) is refused, before any store
/// request; `curl`-like requests to 127.0.0.1 or localhost pack as before.
#[test]
fn open_on_loopback_answers_only_this_machine() {
    let env = Env::new();
    env.put_files(&[("d/a.txt".into(), b"a".to_vec())]);
    let server = serve(&env, "127.0.0.1", &[], &[])
        .unwrap_or_else(|(_, log)| panic!("zip-oss serve exited:\n{log}"));
    let port = server
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let json = r#"{"bucket":"bkt","source-dir":"d/"}"#;
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let post = |headers: &[(&str, &str)]| {
        let mut req = agent.post(&server.url());
        for (k, v) in headers {
            req = req.set(k, v);
        }
        answer(req.send_string(json))
    };
    let rebound = format!("rebind.attacker.example:{port}");
    for headers in [
        vec![("host", rebound.as_str())],
        vec![("origin", "https://attacker.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("x-forwarded-for", "203.0.113.7")],
    ] {
        let refused = post(&headers);
        let body = String::from_utf8_lossy(&refused.body);
        assert_eq!(refused.status, 403, "{headers:?}: {body}");
        assert!(body.contains("NotLocal"), "{body}");
    }
    let listing = format!("{}list?bucket=bkt&prefix=d/", server.url());
    assert_eq!(fetch(&listing, &[("host", rebound.as_str())]).status, 403);
    assert_eq!(fetch(&listing, &[]).status, 200);
    let local = format!("localhost:{port}");
    assert_eq!(post(&[]).status, 302);
    assert_eq!(post(&[("host", local.as_str())]).status, 302);
    let same_page = format!("http://127.0.0.1:{port}");
    assert_eq!(post(&[("origin", same_page.as_str())]).status, 302);
    refused_body_sent_late_keeps_the_connection(&port);
    server.stop();
}

/// A refused request whose body arrives after the answer leaves the connection usable:
/// a client reusing it for its next request (as `ureq` and browsers do) gets an answer,
/// not an EOF.
fn refused_body_sent_late_keeps_the_connection(port: &str) {
    let mut conn = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = r#"{"bucket":"bkt","source-dir":"d/"}"#;
    let head = format!(
        "POST / HTTP/1.1\r\nhost: rebind.attacker.example:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    let first = read_answer(&mut conn);
    assert!(first.starts_with("HTTP/1.1 403"), "{first}");
    conn.write_all(body.as_bytes()).unwrap();
    let next = format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n");
    conn.write_all(next.as_bytes()).unwrap();
    let second = read_answer(&mut conn);
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "second answer on the connection: {second:?}"
    );
}

/// One answer with a `content-length`, read off the connection.
fn read_answer(conn: &mut std::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => return String::from_utf8_lossy(&got).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut rest = vec![0u8; length];
    conn.read_exact(&mut rest).unwrap();
    head + &String::from_utf8_lossy(&rest)
}
