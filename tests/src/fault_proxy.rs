//! A fault-injecting HTTP proxy in front of the real store.
//!
//! It forwards every request unchanged (Host included, so signatures still verify)
//! and, for requests matching a rule, answers an error instead, cuts the response
//! body off midway, or lets the store act and then loses its answer — the failures a
//! real network and a busy store produce.
//!
//! A [`Rule`] faults the next `times` matching requests; a [`RandomRule`] faults each
//! matching request with a probability, decided by a seeded generator (the n-th matching
//! request gets the n-th draw, so a seed always gives the same sequence of decisions).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type ProxyBody = BoxBody<Bytes, std::io::Error>;

/// What to do to a matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status with an S3 error body of this code, without forwarding.
    Status(u16, &'static str),
    /// Forward, then cut the response body off after this many bytes.
    CutBodyAfter(usize),
    /// Forward after waiting this many milliseconds (a slow store).
    Delay(u64),
    /// Answer this status and S3 error code after this many milliseconds, without forwarding
    /// (a failure that comes late, after other reads have moved on).
    LateStatus(u64, u16, &'static str),
    /// Forward, wait for the store's whole answer (so the store has acted), then close
    /// the connection without answering anything: the client sees a connection error
    /// (no status, not even a 502) for a request that did take effect.
    LoseAnswer,
}

/// Which requests a rule applies to: this method, and a path-and-query containing every
/// one of `contains`.
#[derive(Clone, Debug)]
pub struct Match {
    pub method: &'static str,
    pub contains: Vec<String>,
}

impl Match {
    pub fn new(method: &'static str, contains: &[&str]) -> Match {
        Match {
            method,
            contains: contains.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// CreateMultipartUpload: `POST <key>?uploads=`.
    pub fn create_upload() -> Match {
        Match::new("POST", &["?uploads"])
    }

    /// UploadPart: `PUT <key>?partNumber=N&uploadId=…`.
    pub fn upload_part() -> Match {
        Match::new("PUT", &["partNumber=", "uploadId="])
    }

    /// CompleteMultipartUpload: `POST <key>?uploadId=…`.
    pub fn complete_upload() -> Match {
        Match::new("POST", &["?uploadId="])
    }

    /// AbortMultipartUpload: `DELETE <key>?uploadId=…`.
    pub fn abort_upload() -> Match {
        Match::new("DELETE", &["?uploadId="])
    }

    /// The four requests that write a multipart upload.
    pub fn multipart_writes() -> Vec<Match> {
        vec![
            Match::create_upload(),
            Match::upload_part(),
            Match::complete_upload(),
            Match::abort_upload(),
        ]
    }

    pub fn matches(&self, method: &str, path_and_query: &str) -> bool {
        self.method == method
            && self
                .contains
                .iter()
                .all(|c| path_and_query.contains(c.as_str()))
    }
}

/// A fault applied to the next `times` requests whose method matches and whose
/// path-and-query contains every one of `contains`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub contains: Vec<String>,
    pub fault: Fault,
    pub times: usize,
}

/// A fault applied to each request matching any of `matches` with `probability`
/// (0.0–1.0), decided by a generator seeded with `seed`: the n-th matching request gets
/// the n-th draw. Which request is n-th can vary with timing (parts race), the sequence
/// of decisions cannot. [`Rule`]s are tried first; a request a `Rule` faults takes no draw.
#[derive(Clone, Debug)]
pub struct RandomRule {
    pub matches: Vec<Match>,
    pub fault: Fault,
    pub probability: f64,
    pub seed: u64,
}

struct RandomState {
    rule: RandomRule,
    rng: u64,
}

impl RandomState {
    /// splitmix64, mapped to [0, 1).
    fn draw(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
    /// For [`Fault::LoseAnswer`]: the status of the store's answer that was lost (`None`
    /// while it is awaited, or when the store could not be reached).
    pub lost_status: Option<u16>,
}

impl Seen {
    /// Whether the store answered this request and the answer was thrown away.
    pub fn answer_lost(&self) -> bool {
        self.lost_status.is_some()
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    random: Vec<RandomState>,
    /// Every request seen.
    log: Vec<Seen>,
}

/// A running proxy; dropped with the test's runtime.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy on loopback forwarding to `upstream` (`127.0.0.1:port`).
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                let _ = tcp.set_nodelay(true);
                let (client, st) = (client.clone(), st.clone());
                // Pulled by `Fault::LoseAnswer`: the connection is dropped mid-request.
                let lose = Arc::new(tokio::sync::Notify::new());
                tokio::spawn(async move {
                    let kill = lose.clone();
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, upstream, client.clone(), st.clone(), lose.clone())
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc);
                    // Dropping the connection closes the socket with nothing written.
                    tokio::select! {
                        _ = conn => {}
                        _ = kill.notified() => {}
                    }
                });
            }
        });
        Ok(FaultProxy { addr, state })
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Adds a rule faulting matching requests at random (see [`RandomRule`]).
    pub fn add_random(&self, rule: RandomRule) {
        let rng = rule.seed;
        self.state
            .lock()
            .unwrap()
            .random
            .push(RandomState { rule, rng });
    }

    /// Removes every rule, fixed and random (what was seen stays in the log).
    pub fn clear_rules(&self) {
        let mut st = self.state.lock().unwrap();
        st.rules.clear();
        st.random.clear();
    }

    /// How many requests were faulted so far.
    pub fn faulted(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|s| s.fault.is_some())
            .count()
    }

    /// Every request seen, as `METHOD path?query`.
    pub fn log(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .map(|s| format!("{} {}", s.method, s.path_and_query))
            .collect()
    }

    /// Every request seen, with what was done to it.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    /// Of the requests seen matching `m`: `(how many, how many had their answer lost)`.
    pub fn lost_answers(&self, m: &Match) -> (usize, usize) {
        let st = self.state.lock().unwrap();
        let matching = st
            .log
            .iter()
            .filter(|s| m.matches(&s.method, &s.path_and_query));
        matching.fold((0, 0), |(n, lost), s| {
            (n + 1, lost + usize::from(s.answer_lost()))
        })
    }
}

async fn handle(
    req: Request<Incoming>,
    upstream: SocketAddr,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Incoming>,
    state: Arc<Mutex<State>>,
    lose: Arc<tokio::sync::Notify>,
) -> Result<Response<ProxyBody>, Infallible> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let (fault, index) = {
        let mut st = state.lock().unwrap();
        let hit = st.rules.iter_mut().find(|r| {
            r.times > 0 && r.method == method && r.contains.iter().all(|c| pq.contains(c.as_str()))
        });
        let mut fault = hit.map(|r| {
            r.times -= 1;
            r.fault.clone()
        });
        if fault.is_none() {
            let random = st
                .random
                .iter_mut()
                .find(|r| r.rule.matches.iter().any(|m| m.matches(&method, &pq)));
            if let Some(r) = random {
                if r.draw() < r.rule.probability {
                    fault = Some(r.rule.fault.clone());
                }
            }
        }
        st.log.push(Seen {
            method: method.clone(),
            path_and_query: pq.clone(),
            fault: fault.clone(),
            lost_status: None,
        });
        (fault, st.log.len() - 1)
    };
    let fault = match fault {
        Some(Fault::LateStatus(ms, code, s3_code)) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Some(Fault::Status(code, s3_code))
        }
        other => other,
    };
    if let Some(Fault::Status(code, s3_code)) = fault {
        let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{s3_code}</Code><Message>injected by the test proxy</Message></Error>");
        let resp = Response::builder()
            .status(code)
            .header("content-type", "application/xml")
            .body(full(body))
            .unwrap();
        return Ok(resp);
    }
    if let Some(Fault::Delay(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{upstream}{pq}").parse().unwrap();
    let upstream_resp = match client.request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(_) if matches!(fault, Some(Fault::LoseAnswer)) => return lose_answer(lose).await,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(full(format!("proxy: {e}")))
                .unwrap())
        }
    };
    if let Some(Fault::LoseAnswer) = fault {
        // The store has acted once its whole answer is in; then it is thrown away.
        let status = upstream_resp.status().as_u16();
        let _ = upstream_resp.into_body().collect().await;
        state.lock().unwrap().log[index].lost_status = Some(status);
        return lose_answer(lose).await;
    }
    let (parts, body) = upstream_resp.into_parts();
    let body: ProxyBody = match fault {
        Some(Fault::CutBodyAfter(n)) => {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let head = bytes.slice(..n.min(bytes.len()));
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(head)),
                Err(std::io::Error::other("cut off by the test proxy")),
            ];
            BodyExt::boxed(StreamBody::new(stream::iter(frames)))
        }
        _ => body.map_err(std::io::Error::other).boxed(),
    };
    Ok(Response::from_parts(parts, body))
}

/// Closes this request's connection without an answer: never returns.
async fn lose_answer(lose: Arc<tokio::sync::Notify>) -> Result<Response<ProxyBody>, Infallible> {
    lose.notify_one();
    std::future::pending().await
}

fn full(s: String) -> ProxyBody {
    Full::new(Bytes::from(s))
        .map_err(|never| match never {})
        .boxed()
}
