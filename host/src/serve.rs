//! `zip-oss serve`: an HTTP/1.1 server handing each request to a fresh instance's
//! `wasi:http/incoming-handler`, the way `wasmtime serve` does.

use crate::engine::Runtime;
use crate::limits::{run_bounded, Stopped};
use crate::metrics::PackGuard;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::future::Future as _;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

pub use crate::listener::ServerHandle;

/// How the server treats load.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Requests handled at once; more are answered `503` with `Retry-After`.
    pub max_concurrent: usize,
    /// On SIGTERM, how long running packs may take to finish after accepting stops.
    pub shutdown_grace: std::time::Duration,
    /// Serve the page (`GET /`) and its download form (`POST /ui/zip`): `crate::ui`.
    pub ui: bool,
    /// Open to anyone only because it listens on loopback: answer only requests that are
    /// this machine's own (`crate::local_only`).
    pub local_only: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_concurrent: 16,
            shutdown_grace: std::time::Duration::from_secs(30),
            ui: false,
            local_only: false,
        }
    }
}

/// Binds `addr` (port 0 picks one) and serves in the background.
pub async fn start(
    runtime: Runtime,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    start_with(runtime, addr, ServeOptions::default()).await
}

/// As [`start`], with options.
pub async fn start_with(
    runtime: Runtime,
    addr: SocketAddr,
    options: ServeOptions,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(options.max_concurrent.max(1)));
    start_with_slots(runtime, addr, slots, options).await
}

/// As [`start_with`], counting requests in flight with `slots`.
async fn start_with_slots(
    runtime: Runtime,
    addr: SocketAddr,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    options: ServeOptions,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    runtime.proxy_pre()?; // fail now, not at the first request
    let limits = crate::listener::Limits {
        write_within: write_within(&runtime),
        ..Default::default()
    };
    let gate = std::sync::Arc::new(crate::gate::from_config(runtime.config()));
    let service = hyper::service::service_fn(move |req| {
        handle(runtime.clone(), slots.clone(), gate.clone(), options, req)
    });
    let handle = crate::listener::serve(addr, service, limits).await?;
    Ok((handle.addr(), handle))
}

/// How long a client may take no bytes of an answer: twice what the store gets to take
/// the next bytes of an upload (`store_timeout`, 60 s by default), which no client that
/// reads comes near.
fn write_within(runtime: &Runtime) -> std::time::Duration {
    let store_timeout = (runtime.config().get(crate::settings::keys::STORE_TIMEOUT))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(60);
    std::time::Duration::from_secs(store_timeout * 2)
}

/// Serves until Ctrl-C or SIGTERM (how containers, Function Compute included, are stopped),
/// then stops accepting and lets running packs finish within the grace period; packs still
/// running then are stopped (their uploads aborted) and answered `503`.
pub async fn run(runtime: Runtime, addr: SocketAddr, options: ServeOptions) -> anyhow::Result<()> {
    let slots_total = options.max_concurrent.max(1);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(slots_total));
    let (addr, server) = start_with_slots(runtime.clone(), addr, slots.clone(), options).await?;
    tracing::info!("zip-oss listening on http://{addr}");
    if options.ui {
        tracing::info!("the page: http://{addr}/");
    }
    shutdown_signal().await;
    let running = slots_total - slots.available_permits();
    tracing::info!(
        running,
        grace_s = options.shutdown_grace.as_secs(),
        "stopped accepting; letting running packs finish"
    );
    // Done when every connection has sent its last answer and closed, and every guest has
    // returned: an asynchronous pack (or a callback) runs on after its answer, holding its
    // slot until it ends.
    let guests = slots.clone();
    let drained = async move {
        server.shutdown().await;
        let _all = guests.acquire_many(slots_total as u32).await;
    };
    let mut drained = std::pin::pin!(drained);
    if tokio::time::timeout(options.shutdown_grace, &mut drained)
        .await
        .is_err()
    {
        let cut = slots_total - slots.available_permits();
        tracing::warn!(
            cut,
            "grace period over; stopping running packs and aborting their uploads"
        );
        runtime.stop_all();
        // Each stopped instance gets the abort grace to clean up, then is dropped.
        let wait = runtime
            .limits()
            .abort_grace
            .saturating_add(std::time::Duration::from_secs(2));
        if tokio::time::timeout(wait, drained).await.is_err() {
            tracing::warn!("some packs did not stop in time; their uploads may remain open");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(err) => tracing::warn!("cannot watch SIGTERM: {err}"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// One request: `GET /healthz`, `GET /metrics` and, with `ui`, the page answered here (no
/// instance, no store); others (packs; with `ui`, the page's download form) have their
/// body read (`413` past 1 MiB), wait for no slot — a full server answers `503` with
/// `Retry-After` — and go to a fresh instance. One
/// log line each: method, path, status, time to the response head, and Function
/// Compute's request id when there is one.
async fn handle(
    runtime: Runtime,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    gate: std::sync::Arc<Option<zip_oss_core::auth::Gate>>,
    options: ServeOptions,
    req: Request<Incoming>,
) -> Result<Response<HyperOutgoingBody>, std::convert::Infallible> {
    let ui = options.ui;
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string(); // no query: it may carry signatures
    let request_id = req
        .headers()
        .get("x-fc-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let response = if options.local_only && !crate::local_only::addressed_here(&req) {
        // Read the body even so: a body left unread closes the connection under a client
        // that may already be sending its next request on it.
        drain_body(req.into_body());
        error_response(
            StatusCode::FORBIDDEN,
            "NotLocal",
            "this server is open without keys or tokens only to this machine: a request must \
             name it as localhost, 127.0.0.1 or [::1], and come from no other site's page \
             nor through a proxy",
        )
    } else if method == hyper::Method::GET && path == "/healthz" {
        text_response(StatusCode::OK, "ok\n")
    } else if method == hyper::Method::GET && path == "/metrics" {
        metrics_response(&runtime, &req)
    } else if ui && crate::ui::is_page(&req) {
        crate::ui::page()
    } else {
        // A file browser's listing or size is not a pack: not counted as one.
        let browsing = (method == hyper::Method::GET && path == "/list")
            || (method == hyper::Method::POST && path == "/size");
        let pack = (!browsing).then(|| runtime.metrics().pack_started());
        let download = ui && crate::ui::is_download(&req);
        // A caller the component would refuse is refused before its body (the page's
        // download carries its token in the form: once that is read).
        let gate = gate.as_ref().as_ref();
        let early = gate
            .filter(|_| !download)
            .and_then(|g| crate::gate::refusal(g, &req, unix_now()));
        let response = match early {
            Some(refused) => {
                // A client waiting for `100 Continue` sends nothing more: nothing to read.
                if !req.headers().contains_key(hyper::header::EXPECT) {
                    drain_body(req.into_body());
                }
                Err(refused)
            }
            None => read_body(req).await,
        };
        let response = match response {
            Err(refused) => refused,
            Ok(req) => {
                let req = if download {
                    crate::ui::download_request(req).await
                } else {
                    req
                };
                let refused = gate
                    .filter(|_| download)
                    .and_then(|g| crate::gate::refusal(g, &req, unix_now()));
                match refused {
                    Some(refused) => refused,
                    None => match slots.try_acquire_owned() {
                        Err(_) => {
                            let mut r = error_response(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "Busy",
                                "the server is packing as many archives as it is configured to; retry shortly",
                            );
                            r.headers_mut().insert(
                                "retry-after",
                                hyper::header::HeaderValue::from_static("5"),
                            );
                            r
                        }
                        Ok(slot) => match call_guest(runtime, req, slot).await {
                            Ok(response) => response,
                            Err(err) => {
                                tracing::error!(%method, %path, request_id, "component failed: {err:#}");
                                error_response(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "InternalError",
                                    "the component failed",
                                )
                            }
                        },
                    },
                }
            }
        };
        match pack {
            Some(pack) => metered(response, pack),
            None => response,
        }
    };
    tracing::info!(
        %method,
        %path,
        request_id,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(response)
}

/// The largest request body the component takes: pack requests are small JSON documents.
pub const MAX_REQUEST_BODY: usize = 1 << 20;
/// How long a body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long the rest of a refused body is read and dropped.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// The request with its body read, up to [`MAX_REQUEST_BODY`] bytes, before it takes a
/// slot or an instance. A larger body, announced or not (chunked), is answered `413
/// RequestTooLarge` at once, and the rest of it is read and dropped for a while: a client
/// still sending would otherwise find the connection reset and never see the answer.
async fn read_body(
    req: Request<Incoming>,
) -> Result<Request<Full<Bytes>>, Response<HyperOutgoingBody>> {
    let (parts, mut body) = req.into_parts();
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            "the request body is over 1 MiB",
        )
    };
    // A client waiting for `100 Continue` sends nothing more: no need to read it.
    let drain = !parts.headers.contains_key(hyper::header::EXPECT);
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        if drain {
            drain_body(body);
        }
        return Err(too_large());
    }
    let mut buffer = bytes::BytesMut::new();
    let read = tokio::time::timeout(BODY_TIMEOUT, async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            if buffer.len() + data.len() > MAX_REQUEST_BODY {
                return Ok(false);
            }
            buffer.extend_from_slice(&data);
        }
        Ok::<_, hyper::Error>(true)
    })
    .await;
    match read {
        Ok(Ok(true)) => Ok(Request::from_parts(parts, Full::new(buffer.freeze()))),
        Ok(Ok(false)) => {
            if drain {
                drain_body(body);
            }
            Err(too_large())
        }
        Ok(Err(_)) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "the request body could not be read",
        )),
        Err(_) => Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            "the request body did not arrive in time",
        )),
    }
}

/// Reads and drops what is left of a refused body, for at most [`DRAIN_TIME`].
fn drain_body(mut body: Incoming) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DRAIN_TIME, async move {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}

/// Runs the guest within the runtime's limits; `slot` is held until the guest is done,
/// body streaming included. A guest stopped by a limit is answered for: `504` on timeout,
/// `503` on shutdown or when it ran out of memory.
async fn call_guest(
    runtime: Runtime,
    req: Request<Full<Bytes>>,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let pre = runtime.proxy_pre()?.clone();
    let bounds = runtime.bounds();
    let mut store = runtime.new_store(&bounds);
    let (sender, receiver) = oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;

    // The guest keeps running after it sets the response head (it streams the body), so it
    // runs in its own task.
    // The slot is free only when both the guest and the response body are done, so a
    // graceful shutdown never cuts off an answer still being written.
    let slot = std::sync::Arc::new(slot);
    let guest_slot = slot.clone();
    let (guest_bounds, limits) = (bounds.clone(), *runtime.limits());
    // Whether the guest ended cleanly, for the response body to know how it ends.
    let (ended_tx, ended_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _slot = guest_slot;
        // Declared after the slot, so dropped before it: a pooled instance slot is free
        // again before the next request can take this request's slot.
        let mut store = store;
        let run = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let ended = run_bounded(run, &guest_bounds, &limits).await;
        let _ = ended_tx.send(matches!(ended, Some(Ok(()))));
        ended
    });

    let stopped = |stopped: Stopped| {
        let (status, code, message) = stopped.answer(runtime.limits());
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = error_response(status, code, &message);
        if stopped == Stopped::Shutdown {
            response
                .headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("5"));
        }
        response
    };
    match receiver.await {
        // A failure answered after the guest was stopped is the stop's doing; a success
        // stands (the archive is complete).
        Ok(Ok(response)) => match bounds.stopped() {
            Some(why) if response.status().as_u16() >= 400 => Ok(stopped(why)),
            _ => Ok(response.map(|body| {
                SlotBody {
                    body,
                    guest_ended: Some(ended_rx),
                    _slot: slot,
                }
                .boxed_unsync()
            })),
        },
        Ok(Err(code)) => anyhow::bail!("guest answered with error code {code:?}"),
        Err(_) => match task.await {
            Ok(ended) => match (ended, bounds.trap_cause()) {
                (ended, Some(why)) => {
                    if let Some(Err(trap)) = ended {
                        tracing::debug!("guest stopped ({why:?}): {trap:#}");
                    }
                    Ok(stopped(why))
                }
                (Some(Ok(())), None) => anyhow::bail!("guest never set a response"),
                (Some(Err(err)), None) => {
                    Err(anyhow::Error::from(err).context("guest trapped before setting a response"))
                }
                (None, None) => anyhow::bail!("guest dropped without a cause"),
            },
            Err(err) => Err(anyhow::Error::new(err).context("guest task failed")),
        },
    }
}

/// A JSON error as the HTTP API shapes them: `{"error": {"code", "message"}}`.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let length = body.len();
    let body = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    // With its length: an answer counted by its code once its last byte is out (`metered`)
    // must say where that is.
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", length)
        .body(body)
        .expect("static response parts are valid")
}

fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .expect("static response parts are valid")
}

/// The guest's response body, holding its request's slot until it has been sent.
///
/// It ends cleanly only if the guest did: when the host drops an instance (a time limit
/// past its abort grace, a trap), wasmtime ends the body as if it were complete, and a
/// chunked body would then look whole to the client. Here it fails instead, so the
/// connection is broken off.
struct SlotBody {
    body: HyperOutgoingBody,
    /// Resolves to whether the guest ended cleanly; `None` once consulted.
    guest_ended: Option<oneshot::Receiver<bool>>,
    _slot: std::sync::Arc<tokio::sync::OwnedSemaphorePermit>,
}

impl hyper::body::Body for SlotBody {
    type Data = Bytes;
    type Error = <HyperOutgoingBody as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {}
            other => return other,
        }
        let Some(ended) = this.guest_ended.as_mut() else {
            return Poll::Ready(None);
        };
        let clean = match std::pin::Pin::new(ended).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result.unwrap_or(false),
        };
        this.guest_ended = None;
        if clean {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Err(
                wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::InternalError(Some(
                    "the component stopped before finishing its answer".into(),
                ))
                .into(),
            )))
        }
    }

    fn is_end_stream(&self) -> bool {
        self.guest_ended.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// `GET /metrics`: the Prometheus text format, or OpenMetrics when the scraper accepts it
/// (Prometheus itself asks for OpenMetrics first).
fn metrics_response(runtime: &Runtime, req: &Request<Incoming>) -> Response<HyperOutgoingBody> {
    let openmetrics = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, text) = if openmetrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            runtime.metrics().openmetrics_text(),
        )
    } else {
        (
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            runtime.metrics().prometheus_text(),
        )
    };
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .body(body)
        .expect("static response parts are valid")
}

/// A pack's answer, counted when its last byte has gone (or it broke off, or the client
/// left): an error answer by the `code` of its JSON body, a streamed archive's bytes as
/// written to the client.
fn metered(response: Response<HyperOutgoingBody>, pack: PackGuard) -> Response<HyperOutgoingBody> {
    let status = response.status().as_u16();
    let to_client = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/zip"));
    let remaining = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    response.map(|body| {
        let mut metered = MeteredBody {
            body,
            pack,
            to_client,
            status,
            error_body: (status >= 400).then(Vec::new),
            remaining,
        };
        if remaining == Some(0) {
            let code = metered.code();
            metered.pack.finish(code.as_deref());
        }
        metered.boxed_unsync()
    })
}

/// Error bodies are small JSON documents; more than this is not looked at.
const ERROR_BODY_SNIFF: usize = 64 << 10;

struct MeteredBody {
    body: HyperOutgoingBody,
    pack: PackGuard,
    to_client: bool,
    status: u16,
    /// An error answer's body so far, for its code.
    error_body: Option<Vec<u8>>,
    /// Bytes still to come of a body with a `Content-Length`: hyper stops polling such a
    /// body once it has them all (it never sees its end), so the answer is counted then.
    remaining: Option<u64>,
}

impl MeteredBody {
    /// The error code an error answer carries (`{"error":{"code":...}}`), else `HTTP<status>`.
    fn code(&self) -> Option<String> {
        let body = self.error_body.as_ref()?;
        let code = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
        Some(code.unwrap_or_else(|| format!("HTTP{}", self.status)))
    }
}

impl hyper::body::Body for MeteredBody {
    type Data = Bytes;
    type Error = <HyperOutgoingBody as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.to_client {
                        this.pack.metrics().written("client", data.len() as u64);
                    }
                    if let Some(seen) = this.error_body.as_mut() {
                        let room = ERROR_BODY_SNIFF.saturating_sub(seen.len());
                        seen.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    if let Some(remaining) = this.remaining.as_mut() {
                        *remaining = remaining.saturating_sub(data.len() as u64);
                        if *remaining == 0 {
                            let code = this.code();
                            this.pack.finish(code.as_deref());
                        }
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                let code = this.code().unwrap_or_else(|| "Interrupted".into());
                this.pack.finish(Some(&code));
            }
            Poll::Ready(None) => {
                let code = this.code();
                this.pack.finish(code.as_deref());
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Always polled to its end, where the pack is counted.
        false
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Seconds since the epoch, by this machine's clock (the component's is the same).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
