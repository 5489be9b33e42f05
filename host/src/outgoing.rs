//! Outgoing HTTP for the component: one shared, pooled client instead of wasmtime-wasi-http's
//! default sender, which opens a new TCP (and TLS) connection for every request.
//!
//! wasmtime-wasi-http 48 already runs each `outgoing-handler.handle` future as its own tokio
//! task (`p2/http_impl.rs`), so the component's concurrent requests (part uploads, prefetches)
//! run in parallel; this module adds keep-alive reuse, a concurrency limit and timeouts.
//! The component's progress reports are answered here and go nowhere ([`crate::progress`]).

use crate::hashed_body;
use crate::limits::{allowed_after_cancel, finish_once_sent, is_callback, reports_the_end};
use crate::metrics::{operation, Attempts, Metrics};
use crate::progress::{self, ProgressSink};
use crate::unsent_limit::UnsentLimit;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Longest timeout honoured; longer ones (or `u64::MAX` from a guest) mean "no timeout".
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Limits and timeouts of the shared client. Per-request `request-options` set by the guest
/// override the three timeouts.
#[derive(Clone, Debug)]
pub struct OutgoingOptions {
    /// Requests allowed between start and response head at once (connect + upload + wait).
    pub max_concurrency: usize,
    /// TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// From the request's body having been handed over (whole; plus as long again as that
    /// took, and at least the between-bytes time, for what the buffers still hold) to the
    /// response head; from the connection for a request without a body.
    pub first_byte_timeout: Duration,
    /// Between two frames of the response body, and while the request's body is sent, the
    /// longest the store may go without taking its next frame.
    pub between_bytes_timeout: Duration,
    /// Idle pooled connections are closed after this; keep it under the servers' keep-alive.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Behave as a plain wasi:http host (Spin, wasmtime's default sender), to test the
    /// component under one: the first-byte timeout runs from the request's start, its
    /// body's sending included (as `default_send_request` bounds the whole send), and the
    /// guest is not told the token that has its reads hashed.
    pub plain: bool,
}

impl Default for OutgoingOptions {
    fn default() -> Self {
        OutgoingOptions {
            max_concurrency: 64,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(300),
            between_bytes_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(15),
            pool_max_idle_per_host: 64,
            plain: false,
        }
    }
}

/// The connector stack: TCP (holding little unsent, `unsent_limit.rs`), then TLS for `https` URLs (webpki roots), under a connect timeout.
pub type Connector = TimeoutConnector<HttpsConnector<UnsentLimit<HttpConnector>>>;

/// Builds the http + https connector shared by the pooled client and the downloader.
pub fn connector(connect_timeout: Duration) -> Connector {
    let mut http = HttpConnector::new();
    http.enforce_http(false); // https URLs pass through to the TLS layer
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(30)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring provider supports the default TLS versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(UnsentLimit { inner: http });
    TimeoutConnector {
        inner: https,
        default: connect_timeout,
    }
}

/// The most a connection's read buffer grows to. hyper's default (~400 KiB) is kept by
/// every pooled connection that once read a large body; 256 KiB cut a pack's peak RSS by
/// ~4 MiB at the same CPU per byte, 128 KiB cost ~6 % more CPU (BENCHMARKS 2026-12-05).
const READ_BUFFER_MAX: usize = 256 << 10;

/// The pooled client every instance's `wasi:http/outgoing-handler` goes through.
pub struct OutgoingClient {
    client: Client<Connector, WasiBody>,
    limit: Arc<Semaphore>,
    options: OutgoingOptions,
}

impl OutgoingClient {
    /// Sending needs a tokio runtime (the pool spawns its connection tasks there).
    pub fn new(options: OutgoingOptions) -> Arc<Self> {
        let client = Client::builder(TokioExecutor::new())
            .http1_max_buf_size(READ_BUFFER_MAX)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new()) // without a timer the idle timeout is never enforced
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .build(connector(options.connect_timeout));
        Arc::new(OutgoingClient {
            client,
            limit: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
            options,
        })
    }

    pub fn options(&self) -> &OutgoingOptions {
        &self.options
    }

    /// Sends one request; the response body enforces the between-bytes timeout. Once
    /// `cancel` fires, the request (or its response body) fails with `HTTP-request-denied`.
    pub async fn send(
        &self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        cancel: Option<CancellationToken>,
    ) -> Result<Response<WasiBody>, Error> {
        let Some(cancel) = cancel else {
            return self.send_timed(request, options, None).await;
        };
        if cancel.is_cancelled() {
            return Err(Error::HttpRequestDenied);
        }
        tokio::select! {
            sent = self.send_timed(request, options, Some(cancel.clone())) => sent,
            _ = cancel.cancelled() => Err(Error::HttpRequestDenied),
        }
    }

    async fn send_timed(
        &self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        cancel: Option<CancellationToken>,
    ) -> Result<Response<WasiBody>, Error> {
        // Capped so that adding them to an `Instant` cannot overflow.
        let pick = |f: fn(&RequestOptions) -> Option<Duration>, default: Duration| {
            options
                .as_ref()
                .and_then(f)
                .unwrap_or(default)
                .min(MAX_TIMEOUT)
        };
        let connect = pick(|o| o.connect_timeout, self.options.connect_timeout);
        let first_byte = pick(|o| o.first_byte_timeout, self.options.first_byte_timeout);
        let between = pick(
            |o| o.between_bytes_timeout,
            self.options.between_bytes_timeout,
        );

        // The permit is held only until the response head: a guest that keeps many response
        // bodies open (prefetch) must still be able to start its next request.
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| Error::ConnectionLimitReached)?;
        let clock = Arc::new(Mutex::new(ConnectClock::default()));
        let sending = Arc::new(Mutex::new(Sending::NotYet));
        let length = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let request = request.map(|body| {
            SendClock {
                inner: body,
                first: None,
                taken: 0,
                length,
                sending: sending.clone(),
            }
            .boxed_unsync()
        });
        let started = Instant::now();
        let sent = CONNECT.scope((connect, clock.clone()), self.client.request(request));
        let mut sent = std::pin::pin!(sent);
        let response = loop {
            // The connect has its own timeout (given its time here too); then the store must
            // keep taking the request's body (a slow upload is fine, a stalled one is not),
            // then answer in time.
            let ready = {
                let clock = clock.lock().unwrap();
                match (clock.started, clock.finished) {
                    (_, Some(connected)) => connected,
                    (Some(connecting), None) => connecting + connect,
                    (None, None) => started,
                }
            };
            let now = Instant::now();
            let deadline = match *sending.lock().unwrap() {
                _ if self.options.plain => ready + first_byte,
                Sending::NotYet => ready + first_byte,
                Sending::Taken(at) => at + between,
                // The guest is slow to write: not the store's wait, but not for ever.
                Sending::WaitingOnGuest(since) => since + first_byte.max(between),
                // What hyper and the socket still hold of a body (~1 MiB at most) drains at
                // the pace the body went: as long again as it took, and at least the
                // between-bytes time (a small body is taken whole at once, telling nothing
                // of the pace). An empty one holds nothing.
                Sending::Done { at, took, empty } => match empty {
                    true => at + first_byte,
                    false => at + first_byte + took.max(between),
                },
            };
            if now >= deadline {
                return Err(Error::ConnectionReadTimeout);
            }
            // Looked at again every second: a body's progress moves the deadline either way.
            tokio::select! {
                result = &mut sent => break result.map_err(|err| map_client_error(&err))?,
                _ = tokio::time::sleep_until(deadline.min(now + Duration::from_secs(1))) => {}
            }
        };
        Ok(response.map(|body| TimedBody::new(body, between, cancel).boxed_unsync()))
    }
}

/// The `WasiHttpHooks` of every instance: routes `send_request` to the shared client.
#[derive(Clone)]
pub struct PooledHooks {
    pub client: Arc<OutgoingClient>,
    /// Once cancelled, only `AbortMultipartUpload` requests go out (see [`crate::limits`]).
    pub cancel: Option<CancellationToken>,
    /// Where every request, its answer, its bytes and its retries are counted.
    pub metrics: Arc<Metrics>,
    /// This instance's failed requests, to tell a retry (see [`Attempts`]).
    pub attempts: Attempts,
    /// Where this instance's progress reports go, if anywhere (see [`crate::progress`]).
    pub progress: Option<ProgressSink>,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The most one write to an outgoing body may hand over. The host buffers two such writes
/// per request (wasmtime's default is 1 MiB: 8 MiB for four parts uploading), and the guest
/// keeps each part whole until it is stored anyway.
const OUTGOING_BODY_CHUNK: usize = 256 << 10;

impl WasiHttpHooks for PooledHooks {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK
    }

    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(Response<WasiBody>, IoFuture), Error>> + Send> {
        let asked = hashed_body::take_ask(&mut request);
        let (method, uri) = (request.method(), request.uri());
        if progress::is_report(uri) {
            // Answered here, never sent: no store request, no metrics, no limits.
            let response = progress::answer(uri, self.progress.as_ref());
            let io: IoFuture = Box::new(async { Ok(()) });
            return Box::new(async move { Ok((response, io)) });
        }
        let client = self.client.clone();
        let cancel = self.cancel.clone().filter(|_| {
            !allowed_after_cancel(method, uri) && !reports_the_end(method, uri, request.headers())
        });
        // Refused if cancelled before it is sent, but not cut off once sent.
        let (refuse, cancel) = match cancel {
            Some(c) if finish_once_sent(method, uri) => (c.is_cancelled(), None),
            other => (false, other),
        };
        let operation = if is_callback(request.headers()) {
            "Callback"
        } else {
            operation(method, uri)
        };
        let key = Attempts::key(method, uri);
        let (metrics, attempts) = (self.metrics.clone(), self.attempts.clone());
        if attempts.sent(&key) {
            metrics.retry(operation);
        }
        // Every request with a body carries its length (the component sets it).
        let body_bytes = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        Box::new(async move {
            let started = Instant::now();
            let sent = if refuse {
                Err(Error::HttpRequestDenied)
            } else {
                client.send(request, options, cancel).await
            };
            let response = match sent {
                Ok(response) => response,
                Err(err) => {
                    let status = match err {
                        Error::HttpRequestDenied => "denied",
                        _ => {
                            attempts.failed(key);
                            "error"
                        }
                    };
                    metrics.store_request(operation, status.into(), started.elapsed());
                    return Err(err);
                }
            };
            let status = response.status();
            metrics.store_request(operation, status.as_str().into(), started.elapsed());
            if status.is_server_error() || status == hyper::StatusCode::TOO_MANY_REQUESTS {
                attempts.failed(key.clone());
            }
            if operation == "UploadPart" && status.is_success() {
                metrics.written("store", body_bytes);
            }
            let reads_object = operation == "GetObject" && status.is_success();
            // Counts the object bytes read; a body that breaks off is read again.
            let response = response.map(move |body| {
                body.map_frame(move |frame| {
                    if let (true, Some(data)) = (reads_object, frame.data_ref()) {
                        metrics.read(data.len() as u64);
                        if asked.is_some() {
                            metrics.hashed(data.len() as u64);
                        }
                    }
                    frame
                })
                .map_err(move |err| {
                    attempts.failed(key.clone());
                    err
                })
                .boxed_unsync()
            });
            let response = hashed_body::answer(response, asked);
            // The pool drives connection I/O itself; there is no per-request I/O future.
            let io: IoFuture = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

tokio::task_local! {
    /// Connect timeout of the request being sent, and where its connector notes when it
    /// connected: the pool's connector has no per-request argument, so the request's future
    /// carries them in a task-local.
    static CONNECT: (Duration, Arc<Mutex<ConnectClock>>);
}

/// When the connect made for a request started and finished (if one was made).
#[derive(Default)]
struct ConnectClock {
    started: Option<Instant>,
    finished: Option<Instant>,
}

/// Where the sending of a request's body stands, for its timeouts.
#[derive(Clone, Copy)]
enum Sending {
    /// Not asked for yet: the connection is not ready.
    NotYet,
    /// The last frame was taken at this time; the next is the store's to take.
    Taken(Instant),
    /// Asked, since this time, for a frame the guest has not written yet.
    WaitingOnGuest(Instant),
    /// All of it handed over at this time, after sending for so long (nothing to send if
    /// `empty`); the answer is due.
    Done {
        at: Instant,
        took: Duration,
        empty: bool,
    },
}

/// A request's body that notes how its sending goes: the upload of a large part over a slow
/// link may take minutes while each frame goes in seconds, so the first-byte timeout counts
/// from the body's end, and a body the store stops taking fails after the between-bytes one.
struct SendClock {
    inner: WasiBody,
    /// When the first frame was taken.
    first: Option<Instant>,
    /// Bytes taken so far.
    taken: u64,
    /// Its `content-length`: hyper stops asking once that much is taken.
    length: Option<u64>,
    sending: Arc<Mutex<Sending>>,
}

impl SendClock {
    /// All of it handed over, at `now`.
    fn done(&self, now: Instant) -> Sending {
        Sending::Done {
            at: now,
            took: self.first.map_or(Duration::ZERO, |first| now - first),
            empty: self.taken == 0,
        }
    }
}

impl Body for SendClock {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let taken = frame.data_ref().map_or(0, |d| d.len() as u64);
            this.taken += taken;
        }
        let now = Instant::now();
        this.first.get_or_insert(now);
        let ended = this.length == Some(this.taken) || this.inner.is_end_stream();
        let mut sending = this.sending.lock().unwrap();
        *sending = match (&polled, *sending) {
            (Poll::Pending, Sending::WaitingOnGuest(since)) => Sending::WaitingOnGuest(since),
            (Poll::Pending, _) => Sending::WaitingOnGuest(now),
            (Poll::Ready(Some(Ok(_))), _) if !ended => Sending::Taken(now),
            (Poll::Ready(_), _) => this.done(now),
        };
        drop(sending);
        polled
    }

    /// hyper asks before polling and after each frame; a body that says it has ended is
    /// done. (A guest's body never says so before it is polled; an empty body that does, or
    /// one never polled, keeps the first-byte timeout from the connection, as before.)
    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            let mut sending = self.sending.lock().unwrap();
            if !matches!(*sending, Sending::Done { .. }) {
                *sending = self.done(Instant::now());
            }
        }
        end
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Puts a timeout around another connector (TCP connect plus TLS handshake).
#[derive(Clone)]
pub struct TimeoutConnector<C> {
    inner: C,
    default: Duration,
}

#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timed out")
    }
}
impl std::error::Error for ConnectTimedOut {}

impl<C> tower_service::Service<Uri> for TimeoutConnector<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Read now: the future may later be polled from a pool task without the task-local.
        let (timeout, clock) = CONNECT
            .try_with(|(timeout, clock)| (*timeout, Some(clock.clone())))
            .unwrap_or((self.default, None));
        if let Some(clock) = &clock {
            clock.lock().unwrap().started = Some(Instant::now());
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let result = tokio::time::timeout(timeout, connecting).await;
            if let Some(clock) = clock {
                clock.lock().unwrap().finished = Some(Instant::now());
            }
            match result {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// Maps the pooled client's error onto the `wasi:http` error codes the guest sees.
fn map_client_error(err: &hyper_util::client::legacy::Error) -> Error {
    tracing::debug!("outgoing request failed: {err:?}");
    let chain = error_chain(err);
    if chain.iter().any(|e| e.is::<ConnectTimedOut>()) {
        return Error::ConnectionTimeout;
    }
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
            _ => Error::TlsProtocolError,
        };
    }
    if let Some(io) = chain
        .iter()
        .rev()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
    {
        if err.is_connect() {
            // wasmtime maps this to connection-refused, or to a DNS error for lookup failures.
            return Error::Connect(std::io::Error::new(io.kind(), io.to_string()));
        }
        return match io.kind() {
            std::io::ErrorKind::TimedOut => Error::ConnectionReadTimeout,
            _ => Error::ConnectionTerminated,
        };
    }
    if let Some(h) = chain.iter().find_map(|e| e.downcast_ref::<hyper::Error>()) {
        if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
            return Error::ConnectionTerminated;
        }
        if h.is_timeout() {
            return Error::ConnectionReadTimeout;
        }
        if h.is_parse() {
            return Error::HttpProtocolError;
        }
    }
    if err.is_connect() {
        return Error::ConnectionRefused;
    }
    Error::InternalError(Some(err.to_string()))
}

/// The causes of `err`, outermost first. `io::Error::source` skips the error an `io::Error`
/// wraps (it returns that error's source), so wrapped errors are visited explicitly.
fn error_chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        chain.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    chain
}

/// A response body that fails when a frame is awaited for longer than `between`.
///
/// The clock runs only while the reader waits on us (from a `Pending` to the next frame), so
/// a body the guest leaves unread for a while (a prefetch) does not time out.
///
/// It also fails once `cancel` fires, so a cancelled instance's reads stop at once.
struct TimedBody {
    inner: Incoming,
    between: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    cancel: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl TimedBody {
    fn new(inner: Incoming, between: Duration, cancel: Option<CancellationToken>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(between));
        TimedBody {
            inner,
            between,
            deadline,
            armed: false,
            cancel: cancel.map(|c| Box::pin(c.cancelled_owned())),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Some(cancel) = &mut this.cancel {
            if cancel.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(Error::HttpRequestDenied)));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.armed = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) if err.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(Error::Hyper(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !this.armed {
                    this.armed = true;
                    let at = tokio::time::Instant::now() + this.between;
                    this.deadline.as_mut().reset(at);
                }
                match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
