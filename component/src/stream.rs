//! `200 application/zip`: the archive streamed straight to the client, nothing uploaded.
//!
//! The head goes out once the plan is made, with the exact `Content-Length` when every
//! entry is stored (the listing gives every size). After that a failure can no longer be
//! an error answer, so the body is aborted instead: the client sees a broken transfer (and
//! fewer bytes than announced), never a short archive that looks complete.

use std::rc::Rc;

use futures_channel::mpsc;
use wstd::http::body::Bytes;
use wstd::http::{Body, Response, StatusCode};
use zip_oss_core::pack::{archive_file_name, content_disposition};
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::StoreConfig;

use crate::config::Limits;
use crate::error::PackError;
use crate::pack::{encode_archive, make_plan, reserve_memory, ArchiveSink};
use crate::store_client::StoreClient;

/// Chunks buffered between the encoder and the response body; the client's pace sets ours.
const BUFFERED_CHUNKS: usize = 8;

/// Plans the archive and answers with its head; the body streams as the objects are read.
pub async fn respond(
    cfg: &StoreConfig,
    limits: Limits,
    req: &PackRequest,
) -> Result<Response<Body>, PackError> {
    let client = Rc::new(StoreClient::new(cfg.clone()));
    let (plan, size) = make_plan(&client, limits, req).await?;
    // The chunks buffered for the body: each at most a small object read whole.
    let buffered = (BUFFERED_CHUNKS as u64 + 1) * crate::fetch::READ_AHEAD_MAX_OBJECT;
    reserve_memory(&plan, buffered, limits.read_ranges)?;
    let name = archive_file_name(req.dest_file.as_deref(), &req.source_dir);

    let (sender, receiver) = mpsc::channel(BUFFERED_CHUNKS);
    let bucket = req.bucket.clone();
    // The task outlives this function: the body is sent after the head is returned.
    wstd::runtime::spawn(async move {
        let mut sink = BodySink { sender };
        if let Err(e) = encode_archive(&client, &bucket, &plan, limits.read_ranges, &mut sink).await
        {
            sink.fail(e).await;
        }
    })
    .detach();

    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/zip")
        .header("content-disposition", content_disposition(&name))
        .header("cache-control", "no-store");
    if let Some(size) = size {
        response = response.header("content-length", size);
    }
    response
        .body(Body::from_try_stream(receiver))
        .map_err(|e| PackError::new(500, "InternalError", format!("response head: {e}")))
}

/// Why a streamed body was cut off; the host sees it as a failed response body.
#[derive(Debug)]
pub struct StreamFailed(PackError);

impl std::fmt::Display for StreamFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "archive stream cut off: {} ({})",
            self.0.message, self.0.code
        )
    }
}

impl std::error::Error for StreamFailed {}

/// The archive's bytes into the response body, waiting while the client is behind.
struct BodySink {
    sender: mpsc::Sender<Result<Bytes, StreamFailed>>,
}

impl BodySink {
    /// Ends the body with an error, which aborts it. (Were the channel only closed, the
    /// body would end cleanly, short.)
    async fn fail(&mut self, e: PackError) {
        if std::future::poll_fn(|cx| self.sender.poll_ready(cx))
            .await
            .is_ok()
        {
            let _ = self.sender.start_send(Err(StreamFailed(e)));
        }
    }
}

impl ArchiveSink for BodySink {
    async fn emit(&mut self, data: &[u8]) -> Result<(), PackError> {
        if data.is_empty() {
            return Ok(());
        }
        let gone = |_| PackError::new(499, "ClientGone", "the client stopped reading");
        std::future::poll_fn(|cx| self.sender.poll_ready(cx))
            .await
            .map_err(gone)?;
        self.sender
            .start_send(Ok(Bytes::copy_from_slice(data)))
            .map_err(gone)
    }
}
