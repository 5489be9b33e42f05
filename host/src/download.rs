//! Fetches a URL (the presigned archive link) to a file with a plain hyper GET, streaming.

use crate::outgoing;
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long to wait for the response head, then for each body frame.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// GETs `url` into `path` (via `<path>.part`, renamed when complete); returns the byte count.
pub async fn download(url: &str, path: &Path) -> anyhow::Result<u64> {
    let uri: Uri = url.parse().context("invalid download URL")?;
    let client: Client<outgoing::Connector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(outgoing::connector(Duration::from_secs(10)));
    let response = tokio::time::timeout(STALL_TIMEOUT, client.get(uri))
        .await
        .context("download timed out waiting for the response")?
        .context("download request failed")?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let text = match tokio::time::timeout(STALL_TIMEOUT, body.collect()).await {
            Ok(Ok(all)) => String::from_utf8_lossy(&all.to_bytes())
                .chars()
                .take(600)
                .collect(),
            _ => String::new(),
        };
        anyhow::bail!("download answered {status}: {text}");
    }

    let partial = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.part", ext.to_string_lossy()),
        None => "part".into(),
    });
    let mut file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut written = 0u64;
    while let Some(frame) = tokio::time::timeout(STALL_TIMEOUT, body.frame())
        .await
        .context("download stalled")?
    {
        let frame = frame.context("download body failed")?;
        if let Some(data) = frame.data_ref() {
            file.write_all(data).await?;
            written += data.len() as u64;
        }
    }
    file.flush().await?;
    drop(file);
    tokio::fs::rename(&partial, path)
        .await
        .with_context(|| format!("renaming to {}", path.display()))?;
    Ok(written)
}
