//! Progress reports: to the host, for hosts that show them (`zip-oss pack`'s bar), and
//! into an asynchronous pack's status object (`notify`). One hook, fed by the executor
//! after each batch of events, and woken by it when a report is due even if no event
//! comes (a pack waiting on one slow read still shows what it did before); each
//! destination has its own pace.
//!
//! Why requests and not an import: the component must stay loadable by Spin 4 and jco,
//! which know no zip-oss interface, and a guest cannot be polled mid-call. So a host that
//! wants progress sets the configuration value `progress_url` and answers the component's
//! `GET <progress_url>?entries=3/10&bytes=1024/4096` itself, never sending it on (ours
//! intercepts it in `host/src/outgoing.rs`, uncounted by store metrics and limits). Where
//! the value is unset (Spin, `serve`, any other host), nothing is sent and nothing changes.
//!
//! Reports are throttled (one every [`EVERY_MS`], one in flight at a time), fire and
//! forget: a failed or slow one costs the pack nothing.

use std::rc::Rc;

use crate::notify::{StatusObject, STATUS_EVERY_MS};

use wstd::http::body::{Body, Bytes};
use wstd::http::{Client, Method, Request};
use wstd::runtime::{spawn, Task};
use zip_oss_core::pack::{Engine, Progress};

use crate::wasi::config::store;

/// A terminal bar needs no more than a few updates a second.
pub const EVERY_MS: u64 = 250;

/// While a report is in flight, how soon to look again.
const BUSY_MS: u64 = 100;

/// Where reports go.
enum Sink {
    /// `GET <progress_url>?entries=…&bytes=…`, answered by the host.
    Host { url: String, http: Rc<Client> },
    /// The status object (which keeps its own write in flight).
    Status(Rc<StatusObject>),
}

pub struct Reporter {
    sink: Sink,
    every_ms: u64,
    /// When progress is next looked at (the executor's clock): at most once per
    /// `every_ms`, as computing it walks the plan.
    next_ms: u64,
    last: Progress,
    in_flight: Option<Task<()>>,
}

impl Reporter {
    /// A reporter when the host asked for reports (`progress_url` set), else `None`.
    pub fn from_config(http: Rc<Client>) -> Option<Reporter> {
        let url = store::get("progress_url").ok().flatten()?;
        let url = url.trim();
        (!url.is_empty()).then(|| Reporter {
            sink: Sink::Host {
                url: url.to_string(),
                http,
            },
            every_ms: EVERY_MS,
            next_ms: 0,
            last: Progress::default(),
            in_flight: None,
        })
    }

    /// A reporter writing an asynchronous pack's status object.
    pub fn to_status(status: Rc<StatusObject>) -> Reporter {
        Reporter {
            sink: Sink::Status(status),
            every_ms: STATUS_EVERY_MS,
            next_ms: 0,
            last: Progress::default(),
            in_flight: None,
        }
    }

    /// Sends the engine's progress if it changed, a report is due and none is in flight.
    pub fn tick(&mut self, now_ms: u64, engine: &Engine) {
        if now_ms < self.next_ms || self.busy() {
            return;
        }
        self.next_ms = now_ms + self.every_ms;
        let progress = engine.progress_so_far();
        if progress == self.last {
            return;
        }
        self.last = progress;
        match &self.sink {
            Sink::Host { url, http } => {
                let separator = if url.contains('?') { '&' } else { '?' };
                let url = format!("{url}{separator}{}", progress.to_query());
                self.in_flight = Some(spawn(report(http.clone(), url)));
            }
            Sink::Status(status) => status.progressed(progress),
        }
    }

    /// When [`Reporter::tick`] has something to do next: the executor waits no longer.
    pub fn due_ms(&self, now_ms: u64) -> u64 {
        if self.busy() {
            self.next_ms.max(now_ms + BUSY_MS)
        } else {
            self.next_ms
        }
    }

    /// Whether the last report is still under way.
    fn busy(&self) -> bool {
        match &self.sink {
            Sink::Host { .. } => self.in_flight.as_ref().is_some_and(|t| !t.is_finished()),
            Sink::Status(status) => status.busy(),
        }
    }
}

async fn report(http: Rc<Client>, url: String) {
    // A streamed body with no frames: see `executor::to_wstd` on empty bodies.
    let body = Body::from_http_body(wstd::http::body::util::Empty::<Bytes>::new());
    let Ok(request) = Request::builder().method(Method::GET).uri(url).body(body) else {
        return;
    };
    // The answer says nothing: a report that fails is simply not seen.
    let _ = http.send(request).await;
}
