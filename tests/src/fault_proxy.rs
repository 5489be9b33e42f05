//! A fault-injecting HTTP proxy in front of the real store.
//!
//! It forwards every request unchanged (Host included, so signatures still verify)
//! and, for requests matching a rule, answers an error instead, cuts the response
//! body off midway, or lets the store act and then loses its answer — the failures a
//! real network and a busy store produce.
//!
//! It can also corrupt data in flight without changing its length: flip one byte of a
//! request body before forwarding it, or of a response body as it is relayed — what the
//! end-to-end checksums must catch.
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
    /// Forward, then send no more of the response body after this many bytes, keeping
    /// the connection open: a store that stops sending mid-answer.
    StallResponseBody(usize),
    /// Forward after waiting this many milliseconds (a slow store), even if the client has
    /// left meanwhile: the store has the request and goes on with it.
    Delay(u64),
    /// Answer this status and S3 error code after this many milliseconds, without forwarding
    /// (a failure that comes late, after other reads have moved on).
    LateStatus(u64, u16, &'static str),
    /// Forward, wait for the store's whole answer (so the store has acted), then close
    /// the connection without answering anything: the client sees a connection error
    /// (no status, not even a 502) for a request that did take effect.
    LoseAnswer,
    /// Forward the request with one byte of its body XORed with a random non-zero value, at
    /// a random position (the body is read whole first); same length, headers untouched.
    /// An empty body is forwarded as it is (no flip is counted).
    FlipRequestByte,
    /// Forward the request's body at this many bytes a second: a slow uplink.
    SlowRequestBody(u64),
    /// Forward this many bytes of the request's body, then take no more: a store that stops
    /// reading mid-upload, so that the client's writes back up.
    StallRequestBody(usize),
    /// Relay the response with one byte of its body XORed with a random non-zero value, at a
    /// random position below its `Content-Length` (streamed; a body without one is read
    /// whole first); same length, headers untouched. An empty body is relayed as it is.
    FlipResponseByte,
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
    /// Where its flips go: a generator of its own, so flipping takes no decision's draw.
    flip_rng: u64,
}

impl RandomState {
    /// A draw mapped to [0, 1).
    fn draw(&mut self) -> f64 {
        (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// splitmix64: the next value of the sequence seeded by `state`'s start.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a flip goes: `position % length` of the body, XORed with `xor` (never 0).
#[derive(Clone, Copy, Debug)]
struct FlipPlan {
    position: u64,
    xor: u8,
}

impl FlipPlan {
    fn draw(rng: &mut u64) -> FlipPlan {
        let r = splitmix64(rng);
        FlipPlan {
            position: r >> 8,
            xor: (r % 255) as u8 + 1,
        }
    }
}

/// A byte a flip fault changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flipped {
    /// Its offset in the body.
    pub offset: u64,
    /// What it was XORed with (never 0).
    pub xor: u8,
}

/// How many bytes the flip faults have changed so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flips {
    /// Request bodies changed before forwarding ([`Fault::FlipRequestByte`]).
    pub requests: usize,
    /// Response bodies changed as relayed ([`Fault::FlipResponseByte`]).
    pub responses: usize,
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
    /// It asked for a byte range (`Range`).
    pub ranged: bool,
    /// For the flip faults: the byte changed, once it has been (`None` for an empty body,
    /// or while a response is still being relayed).
    pub flipped: Option<Flipped>,
}

impl Seen {
    /// Whether the store answered this request and the answer was thrown away.
    pub fn answer_lost(&self) -> bool {
        self.lost_status.is_some()
    }
}

#[derive(Default)]
struct State {
    /// Each with whether it matches only requests for whole objects (no `Range`).
    rules: Vec<(Rule, bool)>,
    random: Vec<RandomState>,
    /// Where [`Rule`]s' flips go (see [`FaultProxy::seed_flips`]).
    flip_rng: u64,
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
        // A receive buffer of a WAN link's size rather than loopback's several MiB, so that
        // a slowed request body backs up into the sender as it would over a slow uplink.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(128 << 10)?;
        socket.bind("127.0.0.1:0".parse().unwrap())?;
        let listener = socket.listen(1024)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, ProxyBody> = Client::builder(TokioExecutor::new()).build(connector);
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
        self.state.lock().unwrap().rules.push((rule, false));
    }

    /// [`Self::add`], for requests that ask for no byte range only.
    pub fn add_whole(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push((rule, true));
    }

    /// Adds a rule faulting matching requests at random (see [`RandomRule`]). Its flips'
    /// positions and values come from its seed too.
    pub fn add_random(&self, rule: RandomRule) {
        let rng = rule.seed;
        let flip_rng = rule.seed ^ 0xF11F_F11F_F11F_F11F;
        self.state.lock().unwrap().random.push(RandomState {
            rule,
            rng,
            flip_rng,
        });
    }

    /// Seeds where [`Rule`]s' flips go (by default as if seeded with 0).
    pub fn seed_flips(&self, seed: u64) {
        self.state.lock().unwrap().flip_rng = seed;
    }

    /// How many bytes the flip faults have changed so far, by kind.
    pub fn flips(&self) -> Flips {
        let st = self.state.lock().unwrap();
        let mut flips = Flips::default();
        for s in st.log.iter().filter(|s| s.flipped.is_some()) {
            match s.fault {
                Some(Fault::FlipRequestByte) => flips.requests += 1,
                Some(Fault::FlipResponseByte) => flips.responses += 1,
                _ => {}
            }
        }
        flips
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

    /// How many requests of `method` whose path and query contain `part` were seen.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.count_where(method, part, |_| true)
    }

    /// [`Self::count`] of those asking for no byte range (whole objects).
    pub fn count_whole(&self, method: &str, part: &str) -> usize {
        self.count_where(method, part, |s| !s.ranged)
    }

    fn count_where(&self, method: &str, part: &str, keep: impl Fn(&Seen) -> bool) -> usize {
        let state = self.state.lock().unwrap();
        let seen = state.log.iter();
        seen.filter(|s| s.method == method && s.path_and_query.contains(part) && keep(s))
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
    client: Client<hyper_util::client::legacy::connect::HttpConnector, ProxyBody>,
    state: Arc<Mutex<State>>,
    lose: Arc<tokio::sync::Notify>,
) -> Result<Response<ProxyBody>, Infallible> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let ranged = req.headers().contains_key(hyper::header::RANGE);
    let (fault, flip, index) = {
        let mut st = state.lock().unwrap();
        let st = &mut *st;
        let hit = st
            .rules
            .iter_mut()
            .map(|(r, whole)| (r, *whole))
            .find(|(r, whole)| {
                r.times > 0
                    && r.method == method
                    && r.contains.iter().all(|c| pq.contains(c.as_str()))
                    && !(*whole && ranged)
            });
        let mut fault = hit.map(|(r, _)| {
            r.times -= 1;
            r.fault.clone()
        });
        let mut flip = FlipPlan {
            position: 0,
            xor: 1,
        };
        if fault.is_some() {
            flip = FlipPlan::draw(&mut st.flip_rng);
        } else {
            let random = st
                .random
                .iter_mut()
                .find(|r| r.rule.matches.iter().any(|m| m.matches(&method, &pq)));
            if let Some(r) = random {
                if r.draw() < r.rule.probability {
                    fault = Some(r.rule.fault.clone());
                    flip = FlipPlan::draw(&mut r.flip_rng);
                }
            }
        }
        st.log.push(Seen {
            method: method.clone(),
            path_and_query: pq.clone(),
            fault: fault.clone(),
            lost_status: None,
            ranged,
            flipped: None,
        });
        (fault, flip, st.log.len() - 1)
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
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{upstream}{pq}").parse().unwrap();
    let body: ProxyBody = match fault {
        Some(Fault::FlipRequestByte) => {
            let mut bytes = match body.collect().await {
                Ok(c) => c.to_bytes().to_vec(),
                Err(e) => return Ok(bad_gateway(format!("proxy: reading the request: {e}"))),
            };
            let length = bytes.len() as u64;
            if let Some(f) = flip_in(&mut bytes, 0, flip, length) {
                state.lock().unwrap().log[index].flipped = Some(f);
            }
            Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed()
        }
        // The store has the request and is slow with it: it goes on even if the client
        // gives up waiting and leaves.
        Some(Fault::Delay(_)) => match body.collect().await {
            Ok(c) => Full::new(c.to_bytes())
                .map_err(|never| match never {})
                .boxed(),
            Err(e) => return Ok(bad_gateway(format!("proxy: reading the request: {e}"))),
        },
        Some(Fault::SlowRequestBody(rate)) => paced_body(body, rate, usize::MAX),
        Some(Fault::StallRequestBody(after)) => paced_body(body, u64::MAX, after),
        _ => body.map_err(std::io::Error::other).boxed(),
    };
    let request = Request::from_parts(parts, body);
    let forwarded = match fault {
        Some(Fault::Delay(ms)) => {
            let client = client.clone();
            let delayed = tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                client.request(request).await
            });
            match delayed.await {
                Ok(forwarded) => forwarded,
                Err(e) => return Ok(bad_gateway(format!("proxy: the delayed forward: {e}"))),
            }
        }
        _ => client.request(request).await,
    };
    let upstream_resp = match forwarded {
        Ok(r) => r,
        Err(_) if matches!(fault, Some(Fault::LoseAnswer)) => return lose_answer(lose).await,
        Err(e) => return Ok(bad_gateway(format!("proxy: {e}"))),
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
        Some(Fault::CutBodyAfter(n) | Fault::StallResponseBody(n)) => {
            use futures_util::StreamExt as _;
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let head = stream::iter([Ok(Frame::data(bytes.slice(..n.min(bytes.len()))))]);
            match fault {
                Some(Fault::CutBodyAfter(_)) => {
                    let cut = std::io::Error::other("cut off by the test proxy");
                    BodyExt::boxed(StreamBody::new(head.chain(stream::iter([Err(cut)]))))
                }
                // Nothing more, and the connection held open.
                _ => BodyExt::boxed(StreamBody::new(head.chain(stream::pending()))),
            }
        }
        Some(Fault::FlipResponseByte) => {
            let length = parts
                .headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            flip_response(body, length, flip, state, index).await
        }
        _ => body.map_err(std::io::Error::other).boxed(),
    };
    Ok(Response::from_parts(parts, body))
}

/// A request body forwarded at `rate` bytes a second, and only its first `limit` bytes: after
/// those it takes no more, and the upload hangs.
fn paced_body(body: Incoming, rate: u64, limit: usize) -> ProxyBody {
    // At most a twentieth of a second's worth at a time, each due when the bytes before it
    // would have gone at `rate`.
    let per_step = usize::try_from(rate / 20).unwrap_or(usize::MAX).max(1);
    let start = tokio::time::Instant::now();
    let frames = stream::unfold(
        (body.into_data_stream(), Bytes::new(), 0usize),
        move |(mut data, mut left, mut sent)| async move {
            use futures_util::StreamExt as _;
            if sent >= limit {
                std::future::pending::<()>().await;
            }
            while left.is_empty() {
                match data.next().await? {
                    Ok(bytes) => left = bytes,
                    Err(e) => return Some((Err(std::io::Error::other(e)), (data, left, sent))),
                }
            }
            if rate != u64::MAX {
                let due = std::time::Duration::from_secs_f64(sent as f64 / rate as f64);
                tokio::time::sleep_until(start + due).await;
            }
            let n = left.len().min(per_step).min(limit - sent);
            let chunk = left.split_to(n);
            sent += n;
            Some((Ok(Frame::data(chunk)), (data, left, sent)))
        },
    );
    BodyExt::boxed(StreamBody::new(frames))
}

/// Flips the byte `plan` picks of a body of `length` bytes, if it falls in `chunk`, which
/// starts at `offset` in the body; returns the byte changed.
fn flip_in(chunk: &mut [u8], offset: u64, plan: FlipPlan, length: u64) -> Option<Flipped> {
    if length == 0 {
        return None;
    }
    let at = plan.position % length;
    let i = usize::try_from(at.checked_sub(offset)?).ok()?;
    let byte = chunk.get_mut(i)?;
    *byte ^= plan.xor;
    Some(Flipped {
        offset: at,
        xor: plan.xor,
    })
}

/// A response body with one byte flipped as it is relayed (see [`Fault::FlipResponseByte`]).
async fn flip_response(
    body: Incoming,
    length: Option<u64>,
    plan: FlipPlan,
    state: Arc<Mutex<State>>,
    index: usize,
) -> ProxyBody {
    let Some(length) = length else {
        // No length to pick a position below: read it whole.
        let mut bytes = match body.collect().await {
            Ok(c) => c.to_bytes().to_vec(),
            Err(e) => return full(format!("proxy: reading the answer: {e}")),
        };
        let length = bytes.len() as u64;
        if let Some(f) = flip_in(&mut bytes, 0, plan, length) {
            state.lock().unwrap().log[index].flipped = Some(f);
        }
        return Full::new(Bytes::from(bytes))
            .map_err(|never| match never {})
            .boxed();
    };
    let mut offset = 0u64;
    body.map_frame(move |frame| match frame.into_data() {
        Ok(data) => {
            let start = offset;
            offset += data.len() as u64;
            let at = plan.position % length.max(1);
            if length == 0 || !(start..offset).contains(&at) {
                return Frame::data(data);
            }
            let mut chunk = data.to_vec();
            if let Some(f) = flip_in(&mut chunk, start, plan, length) {
                state.lock().unwrap().log[index].flipped = Some(f);
            }
            Frame::data(Bytes::from(chunk))
        }
        Err(frame) => frame,
    })
    .map_err(std::io::Error::other)
    .boxed()
}

fn bad_gateway(message: String) -> Response<ProxyBody> {
    Response::builder().status(502).body(full(message)).unwrap()
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
