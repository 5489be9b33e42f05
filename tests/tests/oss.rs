//! Aliyun OSS natively, end to end on loopback: our host serving the component with
//! `provider = oss`, in front of an OSS-protocol gateway that verifies every request's OSS
//! V4 signature with the official Aliyun SDK (and answers in OSS's XML shapes), over moto.
//! The original's `event.json` packs unchanged and its `302` link (also checked by the
//! gateway) downloads a valid zip.

use zip_oss::settings::ProviderKind;
use zip_oss::StoreSettings;
use zip_oss_core::store::{
    Bucket, Credentials, Endpoint, HttpRequest, ListObjectsV2, Provider, StoreConfig,
};
use zip_oss_tests::moto::Moto;
use zip_oss_tests::oss_gateway::OssGateway;
use zip_oss_tests::readers::{check_uploaded_archive, Manifest};
use zip_oss_tests::{save, Answer};

const BUCKET: &str = "fc-test-bucket";
const EVENT: &str =
    r#"{"region": "cn-shanghai", "bucket": "fc-test-bucket", "source-dir": "files/"}"#;

fn files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("files/readme.txt".into(), b"hello from OSS\n".to_vec()),
        (
            "files/报告/2024 年度.txt".into(),
            "中文内容".as_bytes().to_vec(),
        ),
        ("files/a+b %.txt".into(), b"symbols".to_vec()),
        ("files/big.bin".into(), zip_oss_tests::noise(9 << 20, 5)),
    ]
}

struct Oss {
    _moto: Moto,
    gateway: OssGateway,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    manifest: Manifest,
}

impl Oss {
    fn start(token: Option<&str>) -> Oss {
        Oss::start_with(token, files(), &[])
    }

    /// Puts `files` (keys under `files/`) in moto, and starts the gateway with `gateway_flags`.
    fn start_with(
        token: Option<&str>,
        files: Vec<(String, Vec<u8>)>,
        gateway_flags: &[&str],
    ) -> Oss {
        let moto = Moto::start_for_oss();
        moto.create_bucket(BUCKET);
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::new();
        for (i, (key, data)) in files.into_iter().enumerate() {
            moto.put(BUCKET, &key, &data);
            manifest.insert(
                key.strip_prefix("files/").unwrap().to_string(),
                Some(save(dir.path(), &format!("src{i}"), &data)),
            );
        }
        let gateway = OssGateway::start_with(&moto.endpoint(), "AK", "SK", token, gateway_flags);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Oss {
            _moto: moto,
            gateway,
            rt,
            dir,
            manifest,
        }
    }

    fn settings(&self, secret: Option<&str>) -> StoreSettings {
        StoreSettings {
            provider: ProviderKind::Oss,
            endpoint: Some(self.gateway.endpoint()),
            region: "cn-shanghai".into(),
            path_style: true,
            access_key_id: secret.map(|_| "AK".into()),
            access_key_secret: secret.map(str::to_string),
            ..StoreSettings::default()
        }
    }

    /// Serves with `settings`, POSTs `body` with `headers`; returns the answer.
    fn post(&self, settings: StoreSettings, body: &str, headers: &[(&str, &str)]) -> Answer {
        let (addr, server) = self.rt.block_on(zip_oss_tests::serve_open(&settings));
        let mut req = ureq::AgentBuilder::new()
            .redirects(0)
            .build()
            .post(&format!("http://{addr}/"));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let answer = zip_oss_tests::answer(req.send_string(body));
        self.rt.block_on(server.shutdown());
        answer
    }

    /// Follows a `302` with a plain client and judges the zip.
    fn check_redirect(&self, answer: &Answer) {
        assert_eq!(answer.status, 302, "{}", answer.text());
        let location = &answer.headers["location"];
        assert!(
            location.contains("x-oss-signature-version=OSS4-HMAC-SHA256"),
            "{location}"
        );
        let zip = zip_oss_tests::get(location);
        assert_eq!(
            zip.status,
            200,
            "the gateway refused the link: {}",
            zip.text()
        );
        let path = save(self.dir.path(), "oss.zip", &zip.body);
        check_uploaded_archive(&path, &self.manifest);
    }
}

#[test]
fn the_originals_event_json_packs_over_oss_v4() {
    let oss = Oss::start(None);
    let answer = oss.post(oss.settings(Some("SK")), EVENT, &[]);
    oss.check_redirect(&answer);

    // The gateway refuses a wrong secret with OSS's error; the API answers 403.
    let refused = oss.post(oss.settings(Some("wrong")), EVENT, &[]);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(!refused.text().contains("wrong"), "{}", refused.text());

    // A region or bucket outside the allow-lists is refused before any store request.
    let other_region = EVENT.replace("cn-shanghai", "cn-beijing");
    assert_eq!(
        oss.post(oss.settings(Some("SK")), &other_region, &[])
            .status,
        403
    );
    let mut only_one = oss.settings(Some("SK"));
    only_one.allowed_buckets = Some("another-bucket".into());
    assert_eq!(oss.post(only_one, EVENT, &[]).status, 403);
}

#[test]
fn function_compute_credentials_and_request_id() {
    let token = "STS.token/with+special=";
    let oss = Oss::start(Some(token));
    let mut settings = oss.settings(None);
    settings.fc_credentials = true;
    let headers = [
        ("x-fc-access-key-id", "AK"),
        ("x-fc-access-key-secret", "SK"),
        ("x-fc-security-token", token),
        ("x-fc-request-id", "req-1234"),
    ];
    let answer = oss.post(settings.clone(), EVENT, &headers);
    assert!(
        answer.headers["location"].contains("/output/req-1234.zip?"),
        "{:?}",
        answer.headers
    );
    oss.check_redirect(&answer);
    // Without the token the gateway refuses.
    assert_eq!(oss.post(settings, EVENT, &headers[..2]).status, 403);
}

/// A folder of subfolders over OSS (the gateway over moto, 10 keys a page): a delimited
/// sample names them, the ranges they bound are listed from their `start-after` with OSS's
/// encoded tokens, and the archive holds every object.
#[test]
fn a_folder_of_subfolders_lists_in_ranges_over_oss() {
    let mut files: Vec<(String, Vec<u8>)> = vec![("files/z.txt".into(), b"z".to_vec())];
    for folder in ["a", "b", "c d"] {
        for i in 0..25 {
            let key = format!("files/{folder}/{i:02}+=.txt");
            files.push((key.clone(), key.into_bytes()));
        }
    }
    let oss = Oss::start_with(None, files, &["--max-page", "10"]);
    let answer = oss.post(oss.settings(Some("SK")), EVENT, &[]);
    oss.check_redirect(&answer);
    let lists = oss.gateway.list_requests();
    let first = lists.iter().filter(|l| l.ends_with("200 first")).count();
    let continued = lists
        .iter()
        .filter(|l| l.ends_with("200 continued"))
        .count();
    // The flat listing, cut where the ranges the sample bounds begin (two, or one if the
    // listing had passed the first bound by the time the sample answered), and once three
    // pages are in, ranges guessed by name inside them (at most two a page listed after
    // the second: the folder's eight pages allow twelve).
    assert!(
        (3..=16).contains(&first) && lists.len() == first + continued,
        "{lists:?}"
    );
}

/// OSS URL-encodes the continuation tokens of an `encoding-type=url` listing, as it does the
/// keys (S3 never does). The gateway hands out tokens holding `+`, `/` and `=` and, as OSS,
/// answers `400 InvalidArgument` to one sent back encoded twice. With 10 objects a page, a
/// folder of 35 lists in 4 pages and packs whole (beside them, one or two samples: the
/// folder's, and its one subfolder's unless the listing was over first; neither finds
/// anything to split it by; and after the third page, up to two ranges guessed by the
/// names, past the last of them).
#[test]
fn a_folder_of_many_pages_lists_through_oss_encoded_tokens() {
    let files: Vec<(String, Vec<u8>)> = (0..35)
        .map(|i| {
            let key = format!("files/page/{i:03} a+b=.txt");
            (key, format!("object {i}\n").into_bytes())
        })
        .collect();
    let oss = Oss::start_with(None, files, &["--max-page", "10"]);
    let answer = oss.post(oss.settings(Some("SK")), EVENT, &[]);
    let lists = oss.gateway.list_requests();
    let first = lists
        .iter()
        .filter(|l| *l == "ListObjectsV2 200 first")
        .count();
    let continued = (lists.iter())
        .filter(|l| *l == "ListObjectsV2 200 continued")
        .count();
    assert!(
        (2..=5).contains(&first) && continued == 3 && lists.len() == first + continued,
        "{lists:?}: {}",
        answer.text()
    );
    oss.check_redirect(&answer);

    // The gateway is as strict as OSS: the token as the page held it is encoded once more
    // on the way (what zip-oss once sent) and refused; decoded, it is taken.
    let mut cfg = StoreConfig::new(
        Endpoint::parse(&oss.gateway.endpoint()).unwrap(),
        "cn-shanghai",
        Credentials::new("AK", "SK"),
    );
    cfg.provider = Provider::Oss;
    cfg.path_style = true;
    let bucket = Bucket::new(BUCKET).unwrap();
    let list = |token: Option<&str>| {
        send(
            ListObjectsV2::new(&bucket, "files/")
                .continuation_token(token)
                .sign(&cfg, zip_oss_tests::now()),
        )
    };
    let first = list(None);
    assert_eq!(first.status, 200, "{}", first.text());
    let xml = first.text();
    let as_sent = xml
        .split("<NextContinuationToken>")
        .nth(1)
        .and_then(|t| t.split("</NextContinuationToken>").next())
        .unwrap();
    let token = ListObjectsV2::parse(&first.body, Provider::Oss)
        .unwrap()
        .next_continuation_token
        .unwrap();
    assert!(
        token.contains('+') && token.contains('/') && token.contains('='),
        "{token}"
    );
    assert_ne!(as_sent, token);
    let twice = list(Some(as_sent));
    assert_eq!(twice.status, 400, "{}", twice.text());
    assert!(
        twice.text().contains("<Code>InvalidArgument</Code>"),
        "{}",
        twice.text()
    );
    let unknown = list(Some("Cg+/bogus=="));
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let once = list(Some(&token));
    assert_eq!(once.status, 200, "{}", once.text());
    let second = ListObjectsV2::parse(&once.body, Provider::Oss).unwrap();
    assert_eq!(second.objects[0].key, "files/page/010 a+b=.txt");
}

/// Sends a signed store request as it stands.
fn send(req: HttpRequest) -> zip_oss_tests::Answer {
    let mut r = ureq::request(req.method, &req.url);
    for (k, v) in &req.headers {
        r = r.set(k, v);
    }
    zip_oss_tests::answer(r.call())
}
