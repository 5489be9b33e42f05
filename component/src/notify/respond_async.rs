//! `Prefer: respond-async`: what can be refused is refused before the `202` (the request's
//! checks, done by the API; an archive already at the destination; a live pack of the same
//! archive, `409 PackInProgress`; a status object that cannot be created), so a `202` means
//! the pack runs; then the pack runs after the answer, keeping its status object current,
//! and calls its callback at the end. A pack that died is resumed by the same request
//! made again, as a synchronous one is: its status object is replaced.

use std::rc::Rc;

use wstd::http::body::Bytes;
use zip_oss_core::pack::{checkpoint_key, lease_left, PackError, Summary};
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::{Bucket, GetObject, HeadObject, ObjectKey, StoreConfig};

use super::{store_client, After, Callback, StatusObject};
use crate::config::Settings;
use crate::executor::{now_unix, to_wstd};
use crate::pack;

/// The `202`'s body, and the pack to run once it is sent.
pub struct Accepted {
    pub body: serde_json::Value,
    pub after: After,
}

/// Creates the status object and hands back the `202`'s body (its presigned link) and the
/// pack; `req` has passed the API's checks, its callback the allow-list.
pub async fn start(
    cfg: StoreConfig,
    settings: Settings,
    req: PackRequest,
    request_id: String,
    callback: Option<Callback>,
) -> Result<Accepted, PackError> {
    let dest = req.dest_key(&request_id);
    let status_key = zip_oss_core::notify::status_key(&dest)?;
    let (bucket, archive) = (
        store_name(Bucket::new(&req.bucket))?,
        store_name(ObjectKey::new(&dest))?,
    );
    check_dest_free(&cfg, &bucket, &archive).await?;
    check_not_in_progress(&cfg, &bucket, &dest, settings.tuning.resume_lease_secs).await?;
    let status = StatusObject::new(&cfg, &req.bucket, &status_key, &request_id, &dest)?;
    // Like the archive, never over an existing object unless the operator allows it.
    status.create(!cfg.forbid_overwrite).await?;
    let status_url = status.url(u64::from(req.url_expires()))?;
    let body = serde_json::json!({
        "request_id": request_id,
        "state": "running",
        "key": dest,
        "status_key": status_key,
        "status_url": status_url,
    });
    let after = Box::pin(run(
        Run {
            cfg,
            settings,
            req,
            request_id,
            dest,
        },
        status,
        status_url,
        callback,
    ));
    Ok(Accepted { body, after })
}

/// The pack itself, as [`run`] needs it.
struct Run {
    cfg: StoreConfig,
    settings: Settings,
    req: PackRequest,
    request_id: String,
    dest: String,
}

/// The pack after the `202`: its outcome goes into the status object, then to the callback,
/// whose delivery goes into the status object too.
async fn run(pack: Run, status: Rc<StatusObject>, status_url: String, callback: Option<Callback>) {
    let Run {
        cfg,
        settings,
        req,
        request_id,
        dest,
    } = pack;
    let outcome: Result<Summary, PackError> =
        pack::run_reporting(&cfg, settings, &req, &request_id, Some(status.clone())).await;
    match &outcome {
        Ok(s) => eprintln!("zip-oss: asynchronous pack {request_id} done: {}", s.key),
        Err(e) => eprintln!(
            "zip-oss: asynchronous pack {request_id} failed: {} {e}",
            e.code()
        ),
    }
    status.ended(&outcome).await;
    if let Some(callback) = callback {
        let record = callback
            .deliver(&request_id, &dest, &outcome, Some(&status_url))
            .await;
        status.called_back(record).await;
    }
}

/// A bucket or key that cannot be named (`400`; the API's checks make this unlikely).
fn store_name<T, E: std::fmt::Display>(name: Result<T, E>) -> Result<T, PackError> {
    name.map_err(|e| PackError::invalid(e.to_string()))
}

/// `409` at once when an archive is already where this one would go and may not be
/// replaced: an asynchronous caller would otherwise learn it only from the status. Only a
/// definite "it exists" refuses; anything else is left to the engine, which checks again
/// (with retries) before it uploads, and completes conditionally.
async fn check_dest_free(
    cfg: &StoreConfig,
    bucket: &Bucket,
    dest: &ObjectKey,
) -> Result<(), PackError> {
    if !cfg.forbid_overwrite {
        return Ok(());
    }
    let request = HeadObject::new(bucket, dest).sign(cfg, now_unix());
    let request = to_wstd(request, Bytes::new()).map_err(PackError::Internal)?;
    match store_client().send(request).await {
        Ok(response) if response.status().is_success() => Err(PackError::DestinationExists {
            key: dest.as_str().to_string(),
        }),
        _ => Ok(()),
    }
}

/// `409 PackInProgress` (with its `Retry-After`) at once when a live pack's checkpoint holds
/// the archive, as the engine would answer a synchronous pack; a `202` would hand the
/// caller a pack bound to fail. Only a definite live checkpoint refuses; the engine judges
/// the rest (a died pack's to resume, a stale one's to abort).
async fn check_not_in_progress(
    cfg: &StoreConfig,
    bucket: &Bucket,
    dest: &str,
    lease_secs: u64,
) -> Result<(), PackError> {
    if lease_secs == 0 {
        return Ok(());
    }
    let key = store_name(ObjectKey::new(checkpoint_key(dest)))?;
    let request = GetObject::new(bucket, &key).sign(cfg, now_unix());
    let request = to_wstd(request, Bytes::new()).map_err(PackError::Internal)?;
    let Ok(response) = store_client().send(request).await else {
        return Ok(());
    };
    if !response.status().is_success() {
        return Ok(());
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (last_modified, date) = (header("last-modified"), header("date"));
    let small = header("content-length")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n <= 64 << 10);
    if !small {
        return Ok(());
    }
    let body = response.into_body().contents().await.map(|b| b.to_vec());
    let left = body
        .ok()
        .and_then(|body| lease_left(&body, last_modified.as_deref(), date.as_deref(), lease_secs));
    match left {
        Some(retry_after) => Err(PackError::PackInProgress {
            key: dest.to_string(),
            retry_after,
        }),
        None => Ok(()),
    }
}
