//! A fault-injecting HTTP proxy in front of the real store.
//!
//! It forwards every request unchanged (Host included, so signatures still verify)
//! and, for requests matching a rule, answers an error instead or cuts the response
//! body off midway — the failures a real network and a busy store produce.

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

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// `(method, path-and-query, faulted)` of every request seen.
    log: Vec<(String, String, bool)>,
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
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, upstream, client.clone(), st.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(FaultProxy { addr, state })
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// How many requests were faulted so far.
    pub fn faulted(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(_, _, f)| *f)
            .count()
    }

    /// Every request seen, as `METHOD path?query`.
    pub fn log(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect()
    }
}

async fn handle(
    req: Request<Incoming>,
    upstream: SocketAddr,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<ProxyBody>, Infallible> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let fault = {
        let mut st = state.lock().unwrap();
        let hit = st.rules.iter_mut().find(|r| {
            r.times > 0 && r.method == method && r.contains.iter().all(|c| pq.contains(c.as_str()))
        });
        let fault = hit.map(|r| {
            r.times -= 1;
            r.fault.clone()
        });
        st.log.push((method.clone(), pq.clone(), fault.is_some()));
        fault
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
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(full(format!("proxy: {e}")))
                .unwrap())
        }
    };
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

fn full(s: String) -> ProxyBody {
    Full::new(Bytes::from(s))
        .map_err(|never| match never {})
        .boxed()
}
