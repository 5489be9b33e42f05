//! `200 application/zip`: the archive streamed straight to the client, nothing uploaded.
//!
//! The head goes out once the plan is made, with the exact `Content-Length` when every
//! entry is stored (the listing gives every size). After that a failure can no longer be
//! an error answer, so the body is aborted instead: the client sees a broken transfer (and
//! fewer bytes than announced), never a short archive that looks complete.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_lite::Stream;
use wstd::http::body::Bytes;
use wstd::http::{Body, Response, StatusCode};
use zip_oss_core::pack::{archive_file_name, content_disposition, Event, Mode, PackError};
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::StoreConfig;

use crate::config::Settings;
use crate::executor::Stop;
use crate::pack::executor;

/// Plans the archive and answers with its head; the body streams as the objects are read.
pub async fn respond(
    cfg: &StoreConfig,
    settings: Settings,
    req: &PackRequest,
    request_id: &str,
) -> Result<Response<Body>, PackError> {
    let mut executor = executor(cfg, settings, req, request_id, Mode::Stream);
    let size = match executor.run().await {
        Stop::Head(size) => size,
        Stop::Failed(e) => return Err(e),
        Stop::Done(_) => return Err(PackError::Internal("a stream without a head".into())),
    };
    let (pieces, taken) = executor.stream_to();
    // The task outlives this function: the body is sent after the head is returned.
    wstd::runtime::spawn(executor.finish_stream()).detach();

    let name = archive_file_name(req.dest_file.as_deref(), &req.source_dir);
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/zip")
        .header("content-disposition", content_disposition(&name))
        .header("cache-control", "no-store");
    if let Some(size) = size {
        response = response.header("content-length", size);
    }
    let body = ArchiveBody { pieces, taken };
    response
        .body(Body::from_try_stream(body))
        .map_err(|e| PackError::Internal(format!("response head: {e}")))
}

/// `POST /size`: the archive the request would stream, planned and not read: `{"archive_bytes"}`
/// (the exact `Content-Length` of the streamed answer, `null` when it cannot be known
/// ahead, with deflate) and `{"name"}` (the download's file name). The engine stops at
/// the head, before its first read; refusals (limits, an empty source) are the stream's.
pub async fn size(
    cfg: &StoreConfig,
    settings: Settings,
    req: &PackRequest,
    request_id: &str,
) -> Result<Response<Body>, PackError> {
    let size = match executor(cfg, settings, req, request_id, Mode::Stream)
        .run()
        .await
    {
        Stop::Head(size) => size,
        Stop::Failed(e) => return Err(e),
        Stop::Done(_) => return Err(PackError::Internal("a stream without a head".into())),
    };
    let name = archive_file_name(req.dest_file.as_deref(), &req.source_dir);
    let body = serde_json::json!({ "archive_bytes": size, "name": name }).to_string();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(body))
        .map_err(|e| PackError::Internal(format!("response head: {e}")))
}

/// The pieces as the engine hands them out, each reported taken; a failure ends the
/// body with an error, which aborts it.
struct ArchiveBody {
    pieces: mpsc::UnboundedReceiver<Result<Bytes, PackError>>,
    taken: mpsc::UnboundedSender<Event>,
}

impl Stream for ArchiveBody {
    type Item = Result<Bytes, StreamFailed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.pieces).poll_next(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                let _ = self.taken.unbounded_send(Event::OutputTaken);
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(StreamFailed(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Why a streamed body was cut off; the host sees it as a failed response body.
#[derive(Debug)]
pub struct StreamFailed(PackError);

impl std::fmt::Display for StreamFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "archive stream cut off: {} ({})", self.0, self.0.code())
    }
}

impl std::error::Error for StreamFailed {}
