//! Fetches a URL (the presigned archive link) to a file with a plain hyper GET, streaming,
//! and checks the bytes against the archive's checksum from the pack's summary.

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
use zip_oss_core::store::checksum::{Algorithm, Checksum, Hasher};

/// How long to wait for the response head, then for each body frame.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// GETs `url` into `path` (via `<path>.part`, renamed when complete and, given `expected`
/// `(algorithm, value)` as the summary names them, matching it); returns the byte count.
pub async fn download(
    url: &str,
    path: &Path,
    expected: Option<(&str, &str)>,
) -> anyhow::Result<u64> {
    download_reporting(url, path, expected, &|_| {}).await
}

/// As [`download`], telling `written_so_far` the bytes written so far after each frame.
pub async fn download_reporting(
    url: &str,
    path: &Path,
    expected: Option<(&str, &str)>,
    written_so_far: &(dyn Fn(u64) + Send + Sync),
) -> anyhow::Result<u64> {
    let expected = match expected {
        Some((name, value)) => {
            let algorithm = [Algorithm::Crc64Nvme, Algorithm::Crc64Ecma]
                .into_iter()
                .find(|a| a.name() == name)
                .with_context(|| format!("unknown archive checksum `{name}`"))?;
            let checksum = Checksum::parse(algorithm, value)
                .with_context(|| format!("malformed {name} checksum `{value}`"))?;
            Some(checksum)
        }
        None => None,
    };
    let mut hasher = expected.as_ref().map(|c| Hasher::new(c.algorithm));
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
            if let Some(h) = hasher.as_mut() {
                h.update(data);
            }
            written += data.len() as u64;
            written_so_far(written);
        }
    }
    file.flush().await?;
    drop(file);
    if let (Some(want), Some(h)) = (expected, hasher) {
        let got = h.finish();
        if got != want {
            let _ = tokio::fs::remove_file(&partial).await;
            anyhow::bail!(
                "the downloaded archive does not match its {} checksum (got {}, the pack wrote {}): corrupted on the way; download it again",
                want.algorithm.name(),
                got.header_value(),
                want.header_value()
            );
        }
    }
    tokio::fs::rename(&partial, path)
        .await
        .with_context(|| format!("renaming to {}", path.display()))?;
    Ok(written)
}
