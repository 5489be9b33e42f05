//! What operators watch: counters and histograms of packs and store requests, served by
//! `GET /metrics` in Prometheus' text format (or OpenMetrics when the scraper asks for it)
//! through `prometheus-client`.
//!
//! Where each number comes from:
//! - packs: the server's answer to every pack request (`serve.rs`), including the ones the
//!   host refuses itself (`413`, `503 Busy`); a pack ends when its answer's last byte is
//!   sent, so a streamed archive's time is its whole download;
//! - store requests, bytes and retries: the `wasi:http` send hook every outgoing request of
//!   every instance goes through (`outgoing.rs`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PackLabels {
    /// `success` or `error`.
    pub outcome: &'static str,
    /// The error code of the answer (`DestinationExists`, `StoreError`, `Busy`, ...);
    /// `none` for a success.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// The S3/OSS operation, from the method and the query (`GetObject`, `UploadPart`, ...).
    pub operation: &'static str,
    /// The store's HTTP status, `error` when no answer came (reset, timeout), `denied` when
    /// the host refused to send it (a stopped pack's requests other than its abort).
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    /// `store` (parts the store accepted) or `client` (a streamed archive's bytes sent).
    pub destination: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// One process's metrics (one per [`crate::Runtime`]); cheap to share.
pub struct Metrics {
    registry: Registry,
    packs: Family<PackLabels, Counter>,
    pack_duration: HistogramFamily<OutcomeLabels>,
    packs_in_flight: Gauge,
    store_requests: Family<StoreLabels, Counter>,
    store_duration: HistogramFamily<OperationLabels>,
    retries: Family<OperationLabels, Counter>,
    read_bytes: Counter,
    hashed_bytes: Counter,
    written_bytes: Family<DestinationLabels, Counter>,
    resources_left: Counter,
}

/// 50 ms to ~55 min: a pack of a few small files to one near the default request timeout.
fn pack_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 17))
}

/// 1 ms to ~33 s: a store request's time to its answer's head.
fn store_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zip_oss");
        let packs = Family::<PackLabels, Counter>::default();
        registry.register(
            "packs",
            "Pack requests answered, by outcome and error code",
            packs.clone(),
        );
        let pack_duration = HistogramFamily::<OutcomeLabels>::new_with_constructor(
            pack_buckets as fn() -> Histogram,
        );
        registry.register_with_unit(
            "pack_duration",
            "Time from a pack request's arrival to its answer's last byte",
            Unit::Seconds,
            pack_duration.clone(),
        );
        let packs_in_flight = Gauge::default();
        registry.register(
            "packs_in_flight",
            "Pack requests being answered now",
            packs_in_flight.clone(),
        );
        let store_requests = Family::<StoreLabels, Counter>::default();
        registry.register(
            "store_requests",
            "Requests to the object store, by operation and HTTP status",
            store_requests.clone(),
        );
        let store_duration = HistogramFamily::<OperationLabels>::new_with_constructor(
            store_buckets as fn() -> Histogram,
        );
        registry.register_with_unit(
            "store_request_duration",
            "Time from sending a store request to its answer's head",
            Unit::Seconds,
            store_duration.clone(),
        );
        let retries = Family::<OperationLabels, Counter>::default();
        registry.register(
            "store_retries",
            "Store requests sent again after a failed attempt (no answer, 5xx, 429, a body cut off)",
            retries.clone(),
        );
        let read_bytes = Counter::default();
        registry.register_with_unit(
            "read",
            "Object bytes read from the store (GetObject bodies)",
            Unit::Bytes,
            read_bytes.clone(),
        );
        let hashed_bytes = Counter::default();
        registry.register_with_unit(
            "hashed",
            "Object bytes read whose CRCs the host computed for the component (the rest it hashes in wasm)",
            Unit::Bytes,
            hashed_bytes.clone(),
        );
        let written_bytes = Family::<DestinationLabels, Counter>::default();
        registry.register_with_unit(
            "written",
            "Archive bytes written: parts the store accepted, and streamed archives sent to clients",
            Unit::Bytes,
            written_bytes.clone(),
        );
        let resources_left = Counter::default();
        registry.register(
            "instance_resources_left",
            "Host resources (wasi:http requests, bodies, streams, fields) still held for an instance when it ended: a few per instance; one per store request is a leak",
            resources_left.clone(),
        );
        Metrics {
            registry,
            packs,
            pack_duration,
            packs_in_flight,
            store_requests,
            store_duration,
            retries,
            read_bytes,
            hashed_bytes,
            written_bytes,
            resources_left,
        }
    }

    /// The Prometheus text format (0.0.4).
    pub fn prometheus_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The OpenMetrics text format (1.0.0), ending in `# EOF`.
    pub fn openmetrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// A pack request has arrived; it counts as in flight until the guard records how it
    /// ended (or is dropped, which records an error `ClientClosed`).
    pub fn pack_started(self: &Arc<Self>) -> PackGuard {
        self.packs_in_flight.inc();
        PackGuard {
            metrics: self.clone(),
            started: std::time::Instant::now(),
            done: false,
        }
    }

    /// One store request answered (or failed) after `took`.
    pub fn store_request(&self, operation: &'static str, status: String, took: Duration) {
        self.store_requests
            .get_or_create(&StoreLabels { operation, status })
            .inc();
        self.store_duration
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }

    pub fn retry(&self, operation: &'static str) {
        self.retries
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    pub fn read(&self, bytes: u64) {
        self.read_bytes.inc_by(bytes);
    }

    pub fn resources_left(&self, n: u64) {
        self.resources_left.inc_by(n);
    }

    pub fn hashed(&self, bytes: u64) {
        self.hashed_bytes.inc_by(bytes);
    }

    pub fn written(&self, destination: &'static str, bytes: u64) {
        self.written_bytes
            .get_or_create(&DestinationLabels { destination })
            .inc_by(bytes);
    }
}

/// One pack request between its arrival and its answer's end.
pub struct PackGuard {
    metrics: Arc<Metrics>,
    started: std::time::Instant,
    done: bool,
}

impl PackGuard {
    /// Records the pack's end: `code` is `None` for a success.
    pub fn finish(&mut self, code: Option<&str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let m = &self.metrics;
        m.packs_in_flight.dec();
        let outcome = if code.is_some() { "error" } else { "success" };
        m.packs
            .get_or_create(&PackLabels {
                outcome,
                code: code.unwrap_or("none").to_string(),
            })
            .inc();
        m.pack_duration
            .get_or_create(&OutcomeLabels { outcome })
            .observe(self.started.elapsed().as_secs_f64());
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

impl Drop for PackGuard {
    fn drop(&mut self) {
        // The answer was dropped before its end: the client went away.
        self.finish(Some("ClientClosed"));
    }
}

/// The S3/OSS operation a store request is, from its method and query (both protocols
/// name their sub-resources the same way).
pub fn operation(method: &hyper::Method, uri: &hyper::Uri) -> &'static str {
    let query = uri.query().unwrap_or("");
    // Without allocating: every store request is named here.
    let has = |name: &str| {
        query.split('&').any(|p| {
            p.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
        })
    };
    use hyper::Method;
    match *method {
        Method::GET if has("list-type") => "ListObjects",
        Method::GET if has("uploads") => "ListMultipartUploads",
        Method::GET if has("uploadId") => "ListParts",
        Method::GET => "GetObject",
        Method::HEAD => "HeadObject",
        Method::POST if has("uploads") => "CreateMultipartUpload",
        Method::POST if has("uploadId") => "CompleteMultipartUpload",
        Method::PUT if has("uploadId") => "UploadPart",
        Method::PUT => "PutObject",
        Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        Method::DELETE => "DeleteObject",
        _ => "Other",
    }
}

/// One instance's record of which requests failed in a way the component retries, so the
/// next request for the same resource counts as a retry. A request is named by its method,
/// path and query less any signature parameters (each attempt is signed anew).
#[derive(Clone, Default)]
pub struct Attempts {
    owed: Arc<Mutex<HashSet<String>>>,
}

impl Attempts {
    pub fn key(method: &hyper::Method, uri: &hyper::Uri) -> String {
        let query: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| {
                let prefix = p.get(..6).unwrap_or("");
                !prefix.eq_ignore_ascii_case("x-amz-") && !prefix.eq_ignore_ascii_case("x-oss-")
            })
            .collect();
        format!("{method} {}?{}", uri.path(), query.join("&"))
    }

    /// A request is being sent: whether it is the retry of one that failed.
    pub fn sent(&self, key: &str) -> bool {
        self.owed.lock().unwrap().remove(key)
    }

    /// A request failed in a way the component tries again.
    pub fn failed(&self, key: String) {
        self.owed.lock().unwrap().insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_operations() {
        let op = |m: &str, u: &str| {
            operation(
                &hyper::Method::from_bytes(m.as_bytes()).unwrap(),
                &u.parse().unwrap(),
            )
        };
        assert_eq!(op("GET", "http://s/b?list-type=2&prefix=x"), "ListObjects");
        assert_eq!(
            op("GET", "http://s/b?uploads&prefix=k"),
            "ListMultipartUploads"
        );
        assert_eq!(op("GET", "http://s/b/k"), "GetObject");
        // A parameter is named whole, not by its beginning.
        assert_eq!(op("GET", "http://s/b/k?uploadsx=1"), "GetObject");
        assert_eq!(op("HEAD", "http://s/b/k"), "HeadObject");
        assert_eq!(op("POST", "http://s/b/k?uploads"), "CreateMultipartUpload");
        assert_eq!(op("POST", "http://s/b/k?uploads="), "CreateMultipartUpload");
        assert_eq!(
            op("POST", "http://s/b/k?uploadId=1"),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            op("PUT", "http://s/b/k?partNumber=2&uploadId=1"),
            "UploadPart"
        );
        assert_eq!(
            op("DELETE", "http://s/b/k?uploadId=1"),
            "AbortMultipartUpload"
        );
    }

    #[test]
    fn a_request_after_a_failure_of_the_same_is_a_retry() {
        let a = Attempts::default();
        let get = |q: &str| {
            Attempts::key(
                &hyper::Method::GET,
                &format!("http://s/b/k?{q}").parse().unwrap(),
            )
        };
        assert!(!a.sent(&get("")));
        a.failed(get(""));
        assert!(a.sent(&get("X-Amz-Date=2")));
        assert!(!a.sent(&get("")));
        a.failed(get("partNumber=1&x-oss-signature=a"));
        assert!(!a.sent(&get("partNumber=2&X-OSS-Signature=b")));
        assert!(a.sent(&get("partNumber=1&X-OSS-Signature=b")));
    }

    #[test]
    fn both_formats_carry_the_counters() {
        let m = Arc::new(Metrics::new());
        m.pack_started().finish(None);
        m.store_request("GetObject", "200".into(), Duration::from_millis(3));
        let text = m.prometheus_text();
        assert!(
            text.contains("zip_oss_packs_total{outcome=\"success\",code=\"none\"} 1"),
            "{text}"
        );
        assert!(m.openmetrics_text().ends_with("# EOF\n"));
    }
}
