//! One pack: the request and the service's settings become the engine's [`Job`], which
//! the [`Executor`] runs to its end.

use zip_oss_core::pack::{Engine, Job, Mode, Now, PackError, Summary};
use zip_oss_core::plan::PackRequest;
use zip_oss_core::store::StoreConfig;

use std::rc::Rc;

use crate::config::Settings;
use crate::executor::{now_unix, Executor, Stop};
use crate::notify::StatusObject;

/// The id naming the default destination: Function Compute's when trusted
/// (`http_api.rs`), else 16 random bytes in hex.
pub fn request_id(given: Option<&str>) -> String {
    match given.filter(|id| {
        !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        Some(id) => id.to_string(),
        None => {
            let mut bytes = [0u8; 16];
            wstd::rand::get_random_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// The engine for one pack, ready to run.
pub fn executor(
    cfg: &StoreConfig,
    settings: Settings,
    req: &PackRequest,
    request_id: &str,
    mode: Mode,
) -> Executor {
    let mut job = Job::new(cfg.clone(), req.clone(), req.dest_key(request_id), mode);
    job.limits = settings.limits;
    job.tuning = settings.tuning;
    job.records = settings.records;
    let timeout = settings.store_timeout;
    let mut seed = [0u8; 8];
    wstd::rand::get_insecure_random_bytes(&mut seed);
    job.seed = u64::from_le_bytes(seed);
    // The engine's clock starts with the executor's: mono 0 now.
    let now = Now {
        mono_ms: 0,
        unix: now_unix(),
    };
    Executor::new(Engine::new(job, now), timeout)
}

/// Packs into the bucket; the summary carries the presigned link.
pub async fn run(
    cfg: &StoreConfig,
    settings: Settings,
    req: &PackRequest,
    request_id: &str,
) -> Result<Summary, PackError> {
    run_reporting(cfg, settings, req, request_id, None).await
}

/// As [`run`], keeping `status` (an asynchronous pack's status object) current meanwhile.
pub async fn run_reporting(
    cfg: &StoreConfig,
    settings: Settings,
    req: &PackRequest,
    request_id: &str,
    status: Option<Rc<StatusObject>>,
) -> Result<Summary, PackError> {
    let mut executor = executor(cfg, settings, req, request_id, Mode::Upload);
    if let Some(status) = status {
        executor.report_status(status);
    }
    match executor.run().await {
        Stop::Done(summary) => Ok(summary),
        Stop::Failed(error) => Err(error),
        Stop::Head(_) => Err(PackError::Internal("a streamed head in upload mode".into())),
    }
}
