//! Differential test of the OSS V4 signer against Aliyun's own: the signer
//! of the official Python SDK v2 (`alibabacloud-oss-v2`), run locally at a
//! fixed time. Pseudo-random header-signed and presigned requests with
//! awkward keys, query parameters (empty values too), extra headers,
//! additional headers and STS tokens; the canonical requests and the
//! signatures must match exactly.
//!
//! Skipped (passing, with a note) when `python3` or the package is missing;
//! set `ZIP_OSS_REQUIRE_OSS_SDK=1` to make that a failure instead.

mod oracle;

use serde_json::{json, Value};
use zip_oss_core::store::decode_form;
use zip_oss_core::store::signing::oss_v4::{self, Request};
use zip_oss_core::store::Credentials;

/// Reads cases as JSON on stdin, signs each with the SDK's `SignerV4` at the
/// case's time, and prints what it signed as JSON. The query is put in the
/// URL RFC 3986-encoded (`quote(safe='')`), as we send it; the SDK signs
/// the query exactly as it finds it in the URL.
const ORACLE: &str = r#"
import datetime, json, sys
from urllib.parse import quote, urlsplit
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

class Recording(SignerV4):
    def _calc_canonical_request(self, *args, **kwargs):
        self.canonical_request = super()._calc_canonical_request(*args, **kwargs)
        return self.canonical_request

def at(unix):
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc)

out = []
for c in json.load(sys.stdin):
    query = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in c["params"])
    url = "https://example.oss-" + c["region"] + ".aliyuncs.com/"
    if query:
        url += "?" + query
    req = HttpRequest(method=c["method"], url=url, headers=dict(c["headers"]))
    creds = StaticCredentialsProvider(c["akid"], c["secret"], c["token"]).get_credentials()
    ctx = SigningContext(
        product="oss",
        region=c["region"],
        bucket=c["bucket"],
        key=c["key"],
        request=req,
        credentials=creds,
        signing_time=at(c["now"]),
        additional_headers=set(c["additional"]) if c["additional"] else None,
    )
    if c["mode"] == "presign":
        ctx.auth_method_query = True
        ctx.expiration_time = at(c["now"] + c["expires"])
    signer = Recording()
    signer.sign(ctx)
    res = {"canonical_request": signer.canonical_request, "string_to_sign": ctx.string_to_sign}
    if c["mode"] == "header":
        res["authorization"] = req.headers.get("Authorization")
        res["x-oss-date"] = req.headers.get("x-oss-date")
        res["x-oss-security-token"] = req.headers.get("x-oss-security-token")
    else:
        res["query"] = sorted(urlsplit(req.url).query.split("&"))
    out.append(res)
json.dump(out, sys.stdout)
"#;

/// A small deterministic generator (PCG-style LCG), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of 0..=max characters from `alphabet`.
    fn string(&mut self, alphabet: &[char], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

/// Characters for keys and query text: unreserved, reserved, `%`, `+`,
/// space, `~`, `/`, and multi-byte UTF-8.
fn alphabet() -> Vec<char> {
    "aZ09 -_.~/+%=&?#中é😀!*'();:@$,[]|^`\"<>{}\\"
        .chars()
        .collect()
}

fn keys(rng: &mut Rng) -> Vec<String> {
    let mut keys: Vec<String> = [
        "test.txt",
        "1234+-/123/1.txt",
        "files/中文 a+b%c.txt",
        "a b/c+d=e&f?g#h",
        "~tilde/*star'(paren)!",
        "emoji/😀.bin",
        "/leading/slash",
        "trailing/",
        "dots/../x/./y",
        "%2F already encoded",
        "100% + 50%~",
        "tab\tnew\nline",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let a = alphabet();
    for _ in 0..36 {
        keys.push(rng.string(&a, 1, 24));
    }
    keys
}

/// Query parameters: the ones zip-oss sends plus random names, with empty
/// and non-empty values. Header-signed cases may repeat a name (the SDK
/// sorts repeats by value, as we do); presigned ones don't, as the SDK keeps
/// only the last of a repeated name there.
fn params(rng: &mut Rng, allow_repeats: bool) -> Vec<(String, String)> {
    const NAMES: [&str; 10] = [
        "uploads",
        "partNumber",
        "uploadId",
        "prefix",
        "continuation-token",
        "list-type",
        "encoding-type",
        "response-content-disposition",
        "delimiter",
        "max-keys",
    ];
    let a = alphabet();
    let mut out: Vec<(String, String)> = Vec::new();
    for _ in 0..rng.below(6) {
        let name = if rng.chance(3) {
            rng.string(&a, 1, 8)
        } else {
            rng.pick(&NAMES).to_string()
        };
        if name.to_ascii_lowercase().starts_with("x-oss-") {
            continue;
        }
        let value = if rng.chance(3) {
            String::new()
        } else {
            rng.string(&a, 1, 16)
        };
        if !allow_repeats && out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        out.push((name, value));
    }
    if allow_repeats && rng.chance(4) {
        if let Some((n, _)) = out.first().cloned() {
            out.push((n, rng.string(&a, 0, 6)));
        }
    }
    out
}

/// Headers (unique names, no surrounding whitespace: the SDK neither merges
/// nor trims) and the additional headers to list.
fn headers(rng: &mut Rng) -> (Vec<(String, String)>, Vec<String>) {
    let text: Vec<char> = "aZ09 -_.~/+=;:,()中é".chars().collect();
    let mut h: Vec<(String, String)> = Vec::new();
    let mut put = |rng: &mut Rng, name: &str, value: String| {
        if rng.chance(2) {
            let value = value.trim().to_string();
            h.push((name.to_string(), value));
        }
    };
    put(rng, "Content-Type", "application/zip".into());
    put(rng, "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==".into());
    let v = rng.string(&text, 1, 12);
    put(rng, "x-oss-meta-Note", v);
    put(rng, "X-Oss-Storage-Class", "IA".into());
    put(rng, "x-oss-forbid-overwrite", "true".into());
    put(rng, "Range", "bytes=0-9".into());
    let v = rng.string(&text, 1, 12);
    put(rng, "X-Custom", v);
    put(rng, "Cache-Control", "no-cache".into());
    put(rng, "x-empty", String::new());
    const LISTABLE: [&str; 9] = [
        "range",
        "X-Custom",
        "x-custom",
        "cache-control",
        "x-oss-meta-note",
        "Content-Type",
        "missing",
        "x-empty",
        "Host",
    ];
    let additional = (0..rng.below(4))
        .map(|_| rng.pick(&LISTABLE).to_string())
        .collect();
    (h, additional)
}

struct Case {
    input: Value,
    ours: Ours,
    /// Our canonical request, rebuilt from what we send.
    canonical: String,
}

enum Ours {
    Header(Vec<(String, String)>),
    Presigned(String),
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn build_cases() -> Vec<Case> {
    const REGIONS: [&str; 4] = ["cn-hangzhou", "cn-shanghai", "us-west-1", "ap-southeast-1"];
    const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
    let mut rng = Rng(0x0551_4a11_7e57_2024);
    let mut cases = Vec::new();
    for (i, key) in keys(&mut rng).iter().enumerate() {
        for mode in ["header", "presign"] {
            // Mostly objects; some bucket-level and service-level requests.
            let (bucket, key) = match rng.below(8) {
                0 => (None, None),
                1 => (Some("my-bucket-1"), None),
                _ => (
                    Some(*rng.pick(&["bucket", "my-bucket-1", "zip0"])),
                    Some(key.as_str()),
                ),
            };
            let region = *rng.pick(&REGIONS);
            let method = *rng.pick(&METHODS);
            let query = params(&mut rng, mode == "header");
            let (headers, additional) = headers(&mut rng);
            let token = rng.chance(2).then(|| format!("CAIS/+{i}=tok en~"));
            let mut creds = Credentials::new(format!("LTAI{i}"), format!("secret/{i}+KEY="));
            if let Some(t) = &token {
                creds = creds.with_security_token(t.clone());
            }
            // Spread over 1970..2100, down to the second.
            let now = rng.next() % 4_102_444_800;
            let expires = 1 + rng.next() % oss_v4::MAX_EXPIRES_SECS;
            let listed: Vec<&str> = additional.iter().map(String::as_str).collect();
            let req = Request {
                method,
                bucket,
                key,
                query: &query,
                headers: &headers,
                additional_headers: &listed,
            };
            let input = json!({
                "mode": mode, "method": method, "bucket": bucket, "key": key,
                "region": region, "params": query, "headers": headers,
                "additional": additional, "akid": creds.access_key_id,
                "secret": creds.access_key_secret, "token": token,
                "now": now, "expires": expires,
            });
            let (ours, canonical) = if mode == "header" {
                let signed = oss_v4::sign_headers(&creds, region, &req, now);
                let sent: Vec<(String, String)> = signed
                    .iter()
                    .filter(|(n, _)| n != "authorization")
                    .cloned()
                    .collect();
                let (creq, _) = oss_v4::canonical_request_for(&Request {
                    headers: &sent,
                    ..req
                });
                (Ours::Header(signed), creq)
            } else {
                let q = oss_v4::presign(&creds, region, &req, expires, now);
                // Decode what we send (we never write `+`) and sign it again
                // without the signature: the canonical request we signed.
                let sent: Vec<(String, String)> = q
                    .split('&')
                    .map(|p| {
                        let (n, v) = p.split_once('=').unwrap_or((p, ""));
                        (decode_form(n).unwrap(), decode_form(v).unwrap())
                    })
                    .filter(|(n, _)| n != "x-oss-signature")
                    .collect();
                let (creq, _) = oss_v4::canonical_request_for(&Request {
                    query: &sent,
                    ..req
                });
                (Ours::Presigned(q), creq)
            };
            cases.push(Case {
                input,
                ours,
                canonical,
            });
        }
    }
    cases
}

#[test]
fn signatures_match_aliyun_python_sdk() {
    let cases = build_cases();
    let input = Value::Array(cases.iter().map(|c| c.input.clone()).collect());
    let Some(results) = oracle::run_or_skip(
        "alibabacloud_oss_v2.signer.v4",
        ORACLE,
        &input,
        "ZIP_OSS_REQUIRE_OSS_SDK",
    ) else {
        return;
    };
    assert_eq!(results.len(), cases.len());
    let (mut headers, mut presigned, mut tokens, mut additional) = (0, 0, 0, 0);
    let (mut no_key, mut empty_values) = (0, 0);
    for (case, theirs) in cases.iter().zip(&results) {
        let ctx = || format!("case {}\nSDK: {theirs}", case.input);
        assert_eq!(
            case.canonical,
            theirs["canonical_request"].as_str().unwrap(),
            "canonical request: {}",
            ctx()
        );
        if case.input["token"].is_string() {
            tokens += 1;
        }
        if case.input["key"].is_null() {
            no_key += 1;
        }
        if case.input["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[1] == "")
        {
            empty_values += 1;
        }
        if theirs["canonical_request"]
            .as_str()
            .unwrap()
            .rsplit('\n')
            .nth(1)
            .is_some_and(|l| !l.is_empty())
        {
            additional += 1;
        }
        match &case.ours {
            Ours::Header(h) => {
                headers += 1;
                for name in ["authorization", "x-oss-date", "x-oss-security-token"] {
                    assert_eq!(header(h, name), theirs[name].as_str(), "{name}: {}", ctx());
                }
            }
            Ours::Presigned(q) => {
                presigned += 1;
                let mut ours: Vec<&str> = q.split('&').collect();
                ours.sort();
                let theirs: Vec<&str> = theirs["query"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(ours, theirs, "query: {}", ctx());
            }
        }
    }
    eprintln!(
        "{} requests match alibabacloud-oss-v2 ({headers} header-signed, {presigned} presigned, \
         {tokens} with a token, {additional} with additional headers, \
         {no_key} bucket- or service-level, {empty_values} with an empty query value)",
        cases.len()
    );
}
