//! Progress reports from the component: where they go and how the host answers them.
//!
//! The component cannot call the host through an import of ours without becoming
//! unloadable by Spin 4 and jco, so it reports through what every host has: an outgoing
//! request. When a pack is run with a [`ProgressSink`], the host sets the configuration
//! value `progress_url` to [`PROGRESS_URL`], and the component sends
//! `GET <progress_url>?entries=3/10&bytes=1024/4096` a few times a second
//! (`component/src/progress.rs`). The send hook ([`crate::outgoing`]) answers such a
//! request itself with `204` and never forwards it, whatever the instance: not counted as a
//! store request, not refused after a stop, not bound by the outgoing limits. Its host is
//! under `.invalid` (RFC 2606), which never resolves, so a host that does not intercept it
//! cannot reach anything with it either.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Response, StatusCode, Uri};
use wasmtime_wasi_http::WasiBody;
pub use zip_oss_core::pack::Progress;

/// Where the component sends its reports.
pub const PROGRESS_URL: &str = "http://progress.zip-oss.invalid/report";
const PROGRESS_HOST: &str = "progress.zip-oss.invalid";
/// The configuration value naming it.
pub const CONFIG_KEY: &str = "progress_url";

/// Called with each report of one pack.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// Whether this request is a progress report (answered by the host, never sent).
pub fn is_report(uri: &Uri) -> bool {
    uri.host()
        .is_some_and(|h| h.eq_ignore_ascii_case(PROGRESS_HOST))
}

/// Hands a report to `sink` (if the pack has one) and makes the answer: `204`, or `400`
/// for a query that is not one.
pub fn answer(uri: &Uri, sink: Option<&ProgressSink>) -> Response<WasiBody> {
    let status = match uri.query().and_then(Progress::from_query) {
        Some(progress) => {
            if let Some(sink) = sink {
                sink(progress);
            }
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    };
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_are_recognised_and_handed_on() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink: ProgressSink = {
            let seen = seen.clone();
            Arc::new(move |p| seen.lock().unwrap().push(p))
        };
        let uri: Uri = format!("{PROGRESS_URL}?entries=1/2&bytes=3/4")
            .parse()
            .unwrap();
        assert!(is_report(&uri));
        assert_eq!(answer(&uri, Some(&sink)).status(), StatusCode::NO_CONTENT);
        let bad: Uri = format!("{PROGRESS_URL}?entries=1").parse().unwrap();
        assert_eq!(answer(&bad, Some(&sink)).status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Progress {
                entries_done: 1,
                entries_total: 2,
                bytes_done: 3,
                bytes_total: 4
            }]
        );
        assert!(!is_report(&"http://127.0.0.1:9000/bkt/k".parse().unwrap()));
    }
}
