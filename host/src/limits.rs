//! What one instance may use: linear memory, wall-clock time, and a way to stop it that still
//! lets it clean up.
//!
//! Stopping is cooperative first: the instance's [`CancellationToken`] makes the outgoing
//! client refuse every new store request but cleanup's (and cut off the ones in flight), so
//! the component's own failure path runs and aborts its upload. Only if it has
//! not finished `abort_grace` later is the instance dropped. Epoch interruption makes a guest
//! that computes without pause yield to the executor, so dropping it always takes effect.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Bounds applied to every instance (one HTTP request or one `zip-pack.pack` call).
#[derive(Clone, Copy, Debug)]
pub struct InstanceLimits {
    /// Largest linear memory, in bytes. The component reserves what a pack needs before it
    /// starts the upload (four parts, its read windows and 4 MiB), so a pack that cannot fit is refused
    /// up front.
    pub max_memory: usize,
    /// Wall-clock time one request may take, from instantiation to its last byte.
    pub timeout: Duration,
    /// After a timeout or shutdown, how long the component has to abort its upload.
    pub abort_grace: Duration,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            max_memory: 512 << 20,
            timeout: Duration::from_secs(3600),
            abort_grace: Duration::from_secs(15),
        }
    }
}

/// Why an instance was stopped, or what stopped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past [`InstanceLimits::timeout`].
    Timeout,
    /// The server is shutting down and the grace period is over.
    Shutdown,
    /// It tried to grow its memory past [`InstanceLimits::max_memory`].
    Memory,
}

impl Stopped {
    /// The HTTP status, error code and message the HTTP API answers with.
    pub fn answer(self, limits: &InstanceLimits) -> (u16, &'static str, String) {
        match self {
            Stopped::Timeout => (
                504,
                "Timeout",
                format!(
                    "the pack took longer than the {} s allowed and was stopped",
                    limits.timeout.as_secs()
                ),
            ),
            Stopped::Shutdown => (
                503,
                "ShuttingDown",
                "the server was stopping and stopped the pack before it finished; retry"
                    .to_string(),
            ),
            Stopped::Memory => (
                503,
                "MemoryLimit",
                format!(
                    "the pack needed more than the {} MiB of memory allowed per request",
                    limits.max_memory >> 20
                ),
            ),
        }
    }
}

/// One instance's stop signals, shared between the host and the instance's `Store`.
#[derive(Clone)]
pub struct Bounds {
    /// Cancelled on timeout, or through its parent on shutdown.
    pub cancel: CancellationToken,
    shutdown: CancellationToken,
    memory_exceeded: Arc<AtomicBool>,
}

impl Bounds {
    /// Bounds for an instance that is stopped when `shutdown` is cancelled.
    pub fn new(shutdown: &CancellationToken) -> Self {
        Bounds {
            cancel: shutdown.child_token(),
            shutdown: shutdown.clone(),
            memory_exceeded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the instance was cancelled, and why.
    pub fn stopped(&self) -> Option<Stopped> {
        if self.shutdown.is_cancelled() {
            Some(Stopped::Shutdown)
        } else if self.cancel.is_cancelled() {
            Some(Stopped::Timeout)
        } else {
            None
        }
    }

    /// What a trap means: a memory refusal before it is the likely cause (a failed
    /// allocation aborts a Rust guest).
    pub fn trap_cause(&self) -> Option<Stopped> {
        self.stopped().or_else(|| {
            self.memory_exceeded
                .load(Ordering::Relaxed)
                .then_some(Stopped::Memory)
        })
    }

    /// The limiter for the instance's `Store`.
    pub fn limiter(&self, limits: &InstanceLimits) -> MemoryLimiter {
        MemoryLimiter {
            max_memory: limits.max_memory,
            exceeded: self.memory_exceeded.clone(),
        }
    }
}

/// Refuses memory growth past the limit and notes that it did, so the trap that usually
/// follows (Rust aborts on a failed allocation) is reported as the memory limit.
pub struct MemoryLimiter {
    max_memory: usize,
    exceeded: Arc<AtomicBool>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        tracing::debug!(mib = desired >> 20, "instance memory grows");
        if desired > self.max_memory {
            self.exceeded.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Function-table entries; the component needs a few thousand.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Runs an instance's whole life, `run`, within the time limit: at `timeout` (or when
/// `bounds` is cancelled from outside) its store work is cancelled, and if it has not ended
/// `abort_grace` later it is dropped. `None` means it was dropped.
pub async fn run_bounded<T>(
    run: impl Future<Output = T>,
    bounds: &Bounds,
    limits: &InstanceLimits,
) -> Option<T> {
    let mut run = std::pin::pin!(run);
    tokio::select! {
        done = &mut run => return Some(done),
        _ = tokio::time::sleep(limits.timeout) => bounds.cancel.cancel(),
        _ = bounds.cancel.cancelled() => {}
    }
    tokio::time::timeout(limits.abort_grace, run).await.ok()
}

/// Whether a store request may go out after its instance was cancelled: cleanup's, which
/// are deletes and the reads that decide them. `DELETE` (the upload's abort, a stray
/// upload's, a checkpoint, an archive the store corrupted), `HEAD` (is the archive of a
/// Complete whose answer was lost in place?), `ListMultipartUploads` (the uploads of
/// creates whose answers were lost, to abort) and the checkpoint's `GET` (is it still
/// ours to delete?). Nothing that reads a source or writes.
pub fn allowed_after_cancel(method: &hyper::Method, uri: &hyper::Uri) -> bool {
    let query_has = |name: &str| {
        uri.query()
            .is_some_and(|q| q.split('&').any(|p| p.split('=').next() == Some(name)))
    };
    match *method {
        hyper::Method::DELETE | hyper::Method::HEAD => true,
        hyper::Method::GET => {
            query_has("uploads") || uri.path().ends_with(zip_oss_core::pack::CHECKPOINT_SUFFIX)
        }
        _ => false,
    }
}

/// Whether a request tells of a pack's end, which a stopped pack still sends (its outcome
/// is `Stopped`, and its caller has nothing else to go by): the write of an asynchronous
/// pack's status object (`PUT …<archive>.status.json`) and the signed callback.
pub fn reports_the_end(
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
) -> bool {
    is_callback(headers)
        || (method == hyper::Method::PUT
            && uri.query().is_none_or(|q| !q.contains("uploadId="))
            && uri.path().ends_with(zip_oss_core::notify::STATUS_SUFFIX))
}

/// Whether a request is a pack's callback (it carries the callback signature).
pub fn is_callback(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(zip_oss_core::notify::SIGNATURE_HEADER)
}

/// Whether a store request, once sent, must be let finish even if its instance is
/// cancelled meanwhile: `CreateMultipartUpload` (cut off after the store acted, it would
/// leave an upload whose id the component never learns, so cannot abort) and
/// `CompleteMultipartUpload` (cut off after the store acted, the archive would exist while
/// the client is told it was aborted). Both are short.
pub fn finish_once_sent(method: &hyper::Method, uri: &hyper::Uri) -> bool {
    method == hyper::Method::POST
        && uri.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "uploads" || p.starts_with("uploads=") || p.starts_with("uploadId="))
        })
}

/// How often the epoch advances; a guest computing without pause yields this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cleanup_passes_after_cancel() {
        let abort: hyper::Uri = "http://s/b/k.zip?uploadId=abc".parse().unwrap();
        let part: hyper::Uri = "http://s/b/k.zip?partNumber=1&uploadId=abc"
            .parse()
            .unwrap();
        let delete: hyper::Uri = "http://s/b/k.zip".parse().unwrap();
        let uploads: hyper::Uri = "http://s/b?prefix=k.zip&uploads=".parse().unwrap();
        let checkpoint: hyper::Uri = "http://s/b/k.zip.zip-oss-resume".parse().unwrap();
        let list: hyper::Uri = "http://s/b?list-type=2&prefix=src%2F".parse().unwrap();
        let source: hyper::Uri = "http://s/b/src/uploads.txt?x=uploads".parse().unwrap();
        assert!(allowed_after_cancel(&hyper::Method::DELETE, &abort));
        assert!(allowed_after_cancel(&hyper::Method::DELETE, &delete));
        assert!(allowed_after_cancel(&hyper::Method::HEAD, &delete));
        assert!(allowed_after_cancel(&hyper::Method::GET, &uploads));
        assert!(allowed_after_cancel(&hyper::Method::GET, &checkpoint));
        assert!(!allowed_after_cancel(&hyper::Method::PUT, &part));
        assert!(!allowed_after_cancel(&hyper::Method::GET, &abort)); // ListParts
        assert!(!allowed_after_cancel(&hyper::Method::GET, &list));
        assert!(!allowed_after_cancel(&hyper::Method::GET, &source));
        assert!(!allowed_after_cancel(&hyper::Method::GET, &delete));
        assert!(!allowed_after_cancel(&hyper::Method::POST, &abort)); // Complete

        let none = hyper::HeaderMap::new();
        let status: hyper::Uri = "http://s/b/output/a.zip.status.json".parse().unwrap();
        assert!(reports_the_end(&hyper::Method::PUT, &status, &none));
        assert!(!reports_the_end(&hyper::Method::GET, &status, &none));
        assert!(!reports_the_end(&hyper::Method::PUT, &part, &none));
        let mut signed = hyper::HeaderMap::new();
        signed.insert("x-zip-oss-signature", "sha256=00".parse().unwrap());
        let hook: hyper::Uri = "https://hooks.example.com/zip".parse().unwrap();
        assert!(reports_the_end(&hyper::Method::POST, &hook, &signed));
        assert!(!reports_the_end(&hyper::Method::POST, &hook, &none));

        let create: hyper::Uri = "http://s/b/k.zip?uploads".parse().unwrap();
        let create_oss: hyper::Uri = "http://s/b/k.zip?uploads=".parse().unwrap();
        assert!(finish_once_sent(&hyper::Method::POST, &create));
        assert!(finish_once_sent(&hyper::Method::POST, &create_oss));
        assert!(finish_once_sent(&hyper::Method::POST, &abort)); // Complete
        assert!(!finish_once_sent(&hyper::Method::PUT, &part));
        assert!(!finish_once_sent(&hyper::Method::GET, &delete));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_past_its_time_is_cancelled_then_dropped() {
        let shutdown = CancellationToken::new();
        let limits = InstanceLimits {
            timeout: Duration::from_secs(5),
            abort_grace: Duration::from_secs(2),
            ..InstanceLimits::default()
        };
        // Finishes in time.
        let bounds = Bounds::new(&shutdown);
        assert_eq!(run_bounded(async { 7 }, &bounds, &limits).await, Some(7));
        assert_eq!(bounds.stopped(), None);

        // Cleans up within the grace after its cancel.
        let bounds = Bounds::new(&shutdown);
        let cancel = bounds.cancel.clone();
        let cleans_up = async move {
            cancel.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            "aborted"
        };
        assert_eq!(
            run_bounded(cleans_up, &bounds, &limits).await,
            Some("aborted")
        );
        assert_eq!(bounds.stopped(), Some(Stopped::Timeout));

        // Never ends: dropped after the grace.
        let bounds = Bounds::new(&shutdown);
        let started = tokio::time::Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(run_bounded(never, &bounds, &limits).await, None);
        assert_eq!(started.elapsed(), Duration::from_secs(7));

        // Shutdown stops every instance, with its own reason.
        let bounds = Bounds::new(&shutdown);
        shutdown.cancel();
        assert!(bounds.cancel.is_cancelled());
        assert_eq!(bounds.stopped(), Some(Stopped::Shutdown));
    }
}
