//! Carries out what the pack engine asks, over `wasi:http`: each request is a future in
//! flight beside the others (`exchanges.rs`; the host runs them in parallel), its answer
//! flows back as events, its body only as far as the engine granted credit. It decides
//! nothing.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_channel::mpsc;
use futures_lite::StreamExt;
use wstd::http::body::{Body, Bytes};
use wstd::http::{Client, Method, Request};
use zip_oss_core::pack::{Action, Engine, Event, NetError, Now, PackError, Rope, Summary, Token};
use zip_oss_core::store::host_hashes::{self, Hashed};
use zip_oss_core::store::HttpRequest;

use crate::exchanges::Exchanges;
use crate::progress::Reporter;
use crate::store_http;

/// Where a run stopped.
pub enum Stop {
    /// A streamed archive's head: its length when known. Call [`Executor::run`] again.
    Head(Option<u64>),
    Done(Summary),
    Failed(PackError),
}

/// How far one request's body may be read.
#[derive(Default)]
struct Credit {
    bytes: u64,
    waker: Option<Waker>,
}

pub struct Executor {
    engine: Engine,
    timeout: Duration,
    exchanges: Exchanges,
    credits: HashMap<Token, Rc<RefCell<Credit>>>,
    /// What the requests in flight have to tell, in the order they told it.
    answers: Rc<RefCell<VecDeque<Event>>>,
    /// The timer of the next deadline (monotonic ms since `started`), while it stands.
    wake: Option<(u64, wstd::time::Timer)>,
    /// Events from other tasks (a streamed body's pieces taken).
    events: mpsc::UnboundedSender<Event>,
    incoming: mpsc::UnboundedReceiver<Event>,
    started: Instant,
    /// Streamed mode: where the archive's pieces go, and then a failure, if any.
    body: Option<mpsc::UnboundedSender<Result<Bytes, PackError>>>,
    /// Progress reports: to the host when it asked for them, into the status object of an
    /// asynchronous pack.
    progress: Vec<Reporter>,
}

impl Executor {
    /// Runs `engine`, letting the store keep a request waiting at most `timeout` (see
    /// [`crate::config::Settings::store_timeout`]).
    pub fn new(engine: Engine, timeout: Duration) -> Executor {
        let mut http = Client::new();
        http.set_first_byte_timeout(timeout);
        http.set_between_bytes_timeout(timeout);
        let (events, incoming) = mpsc::unbounded();
        Executor {
            engine,
            timeout,
            progress: Reporter::from_config(Rc::new(http)).into_iter().collect(),
            exchanges: Exchanges::default(),
            credits: HashMap::new(),
            answers: Rc::default(),
            wake: None,
            events,
            incoming,
            started: Instant::now(),
            body: None,
        }
    }

    /// Also reports progress into this status object (an asynchronous pack's).
    pub fn report_status(&mut self, status: std::rc::Rc<crate::notify::StatusObject>) {
        self.progress.push(Reporter::to_status(status));
    }

    /// The time as the engine takes it.
    pub fn now(&self) -> Now {
        self.now_with(now_unix())
    }

    /// The time, with the wall clock as already read.
    fn now_with(&self, unix: u64) -> Now {
        Now {
            mono_ms: self.started.elapsed().as_millis() as u64,
            unix,
        }
    }

    /// Streamed mode: the archive's pieces go to the receiver, and a failure last; the body
    /// reports each piece taken through the sender.
    #[allow(clippy::type_complexity)]
    pub fn stream_to(
        &mut self,
    ) -> (
        mpsc::UnboundedReceiver<Result<Bytes, PackError>>,
        mpsc::UnboundedSender<Event>,
    ) {
        let (tx, rx) = mpsc::unbounded();
        self.body = Some(tx);
        (rx, self.events.clone())
    }

    /// Runs to the end of a streamed archive: a failure goes into the body, which it aborts.
    pub async fn finish_stream(mut self) {
        if let Stop::Failed(e) = self.run().await {
            if let Some(body) = &self.body {
                let _ = body.unbounded_send(Err(e));
            }
        }
    }

    pub async fn run(&mut self) -> Stop {
        let runner = self.exchanges.runner();
        runner.run(self.rounds()).await
    }

    async fn rounds(&mut self) -> Stop {
        loop {
            // Each reading of a clock is a host call, and a small object makes several
            // actions and events. The wall clock (whole seconds: signing, leases) is read
            // once for the actions of a round and once for the events that came in
            // together; the monotonic one before each action and each event, as the read
            // window measures the latency and the pace of answers by those stamps (one
            // stamp for a batch of answers would show them coming faster than the packer
            // takes them).
            let unix = now_unix();
            while let Some(action) = self.engine.poll(self.now_with(unix)) {
                if let Some(stop) = self.act(action) {
                    return stop;
                }
            }
            let now_ms = self.started.elapsed().as_millis() as u64;
            for progress in &mut self.progress {
                progress.tick(now_ms, &self.engine);
            }
            let report_due = self.progress.iter().map(|p| p.due_ms(now_ms)).min();
            let due = [self.engine.deadline(), report_due]
                .into_iter()
                .flatten()
                .min();
            // One timer while the deadline stays (a pack's lease renewal is due for its whole
            // length): a timer made for every round was two host calls more per event.
            if self.wake.as_ref().map(|(at, _)| *at) != due {
                self.wake = due.map(|due| {
                    let wait = wstd::time::Duration::from_millis(due.saturating_sub(now_ms));
                    (due, wstd::time::Timer::after(wait))
                });
            }
            // The requests woken are polled first, and what they tell comes first.
            let (exchanges, answers, incoming) =
                (&mut self.exchanges, &self.answers, &mut self.incoming);
            let next = std::future::poll_fn(|cx| {
                exchanges.poll_woken();
                let answer = answers.borrow_mut().pop_front();
                match answer {
                    Some(event) => Poll::Ready(Some(event)),
                    None => incoming.poll_next(cx),
                }
            });
            let event = match &self.wake {
                Some((_, timer)) => {
                    let woken = async {
                        timer.wait().await;
                        None
                    };
                    futures_lite::future::or(next, woken).await
                }
                None => next.await,
            };
            let Some(event) = event else { continue };
            let unix = now_unix();
            self.take(event, self.now_with(unix));
            // Everything that arrived meanwhile, before the engine acts again.
            loop {
                let next = self.answers.borrow_mut().pop_front();
                match next.or_else(|| self.incoming.try_recv().ok()) {
                    Some(event) => self.take(event, self.now_with(unix)),
                    None => break,
                }
            }
        }
    }

    fn take(&mut self, event: Event, now: Now) {
        if let Event::End { token } | Event::Failed { token, .. } = &event {
            self.credits.remove(token);
        }
        self.engine.handle(event, now);
    }

    fn act(&mut self, action: Action) -> Option<Stop> {
        let over = matches!(action, Action::Done(_) | Action::Failed(_));
        if over && self.engine.upload_may_be_left_open() {
            eprintln!(
                "zip-oss: cleanup gave up after repeated store failures; a multipart upload \
                 may be left open (its checkpoint, if one was written, is kept: the same request \
                 made again takes the upload over; a lifecycle rule removes it otherwise)"
            );
        }
        match action {
            Action::Send {
                token,
                request,
                body,
                credit,
            } => {
                let credit = Rc::new(RefCell::new(Credit {
                    bytes: credit,
                    waker: None,
                }));
                let exchange = exchange(
                    token,
                    (request, body),
                    self.timeout,
                    credit.clone(),
                    self.answers.clone(),
                );
                self.exchanges.start(token, exchange);
                self.credits.insert(token, credit);
            }
            Action::Credit { token, bytes } => {
                if let Some(credit) = self.credits.get(&token) {
                    let mut c = credit.borrow_mut();
                    // Saturating: a request sent with unbounded credit stays unbounded.
                    c.bytes = c.bytes.saturating_add(bytes);
                    if let Some(w) = c.waker.take() {
                        w.wake();
                    }
                }
            }
            // Dropping the exchange drops its request.
            Action::Cancel { token } => {
                self.exchanges.cancel(token);
                self.credits.remove(&token);
            }
            Action::Reserve { bytes } => {
                let ok = reserve(bytes);
                let now = self.now();
                self.engine.handle(Event::Reserved { ok }, now);
            }
            Action::StreamHead { content_length } => return Some(Stop::Head(content_length)),
            Action::Output(piece) => {
                let sent = self
                    .body
                    .as_ref()
                    .is_some_and(|b| b.unbounded_send(Ok(piece)).is_ok());
                if !sent {
                    return Some(Stop::Failed(PackError::ClientGone));
                }
            }
            Action::Done(summary) => return Some(Stop::Done(summary)),
            Action::Failed(error) => return Some(Stop::Failed(error)),
        }
        None
    }
}

/// Grows the instance's memory to `bytes` and frees it again: under a host memory limit a
/// pack that cannot fit is refused now, cleanly, rather than trapped halfway (with an upload
/// open). The memory, freed, is what the pack then allocates from.
fn reserve(bytes: u64) -> bool {
    let mut probe: Vec<u8> = Vec::new();
    usize::try_from(bytes)
        .ok()
        .is_some_and(|n| probe.try_reserve_exact(n).is_ok())
}

/// One request: sends it, reports its head, then its body as far as credit allows.
async fn exchange(
    token: Token,
    (request, body): (HttpRequest, Rope),
    timeout: Duration,
    credit: Rc<RefCell<Credit>>,
    answers: Rc<RefCell<VecDeque<Event>>>,
) {
    let send = |e: Event| answers.borrow_mut().push_back(e);
    let answer = match store_http::send(request, body, timeout).await {
        Ok(answer) => answer,
        Err(failed) => {
            let error = match failed {
                store_http::Failed::Denied => NetError::denied(),
                store_http::Failed::Other(message) => NetError::new(message),
            };
            return send(Event::Failed { token, error });
        }
    };
    send(Event::Response {
        token,
        status: answer.status,
        headers: answer.headers,
    });
    let mut body = answer.body;
    // One chunk may be read ahead of the credit: how the end of a body is seen.
    let mut carry: Option<(Bytes, Option<Hashed>)> = None;
    loop {
        let (mut chunk, mut hashed) = match carry.take() {
            Some(chunk) => chunk,
            None => match body.next().await {
                None => return send(Event::End { token }),
                Some(Err(message)) => {
                    return send(Event::Failed {
                        token,
                        error: NetError::new(message),
                    })
                }
                Some(Ok(data)) => data,
            },
        };
        let allowed = std::future::poll_fn(|cx| {
            let mut c = credit.borrow_mut();
            if c.bytes > 0 {
                Poll::Ready(c.bytes)
            } else {
                c.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if chunk.len() as u64 > allowed {
            let (head, tail) = host_hashes::split(chunk, hashed, allowed as usize);
            (chunk, hashed) = head;
            carry = Some(tail);
        }
        credit.borrow_mut().bytes -= chunk.len() as u64;
        send(Event::Data {
            token,
            bytes: chunk,
            hashed,
        });
    }
}

pub(crate) fn to_wstd(req: HttpRequest, body: Bytes) -> Result<Request<Body>, String> {
    let method = Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = Request::builder().method(method).uri(req.url.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    // wstd sends no Content-Length of its own.
    if req.needs_content_length() {
        builder = builder.header("content-length", body.len());
    }
    let body = if body.is_empty() {
        // Not `Body::empty()`: wstd writes even an empty body, and once the host has sent a
        // bodiless request it may already have closed the stream, so that write fails
        // ("connection reset"). A streamed body with no frames writes nothing.
        Body::from_http_body(wstd::http::body::util::Empty::<Bytes>::new())
    } else {
        Body::from(body)
    };
    builder
        .body(body)
        .map_err(|e| format!("building a store request: {e}"))
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
