//! An asynchronous pack's status object in the bucket: its PUTs (what it says is core's
//! `notify::status`).
//!
//! It is written once before the `202` (so its link works at once, and a store that refuses
//! it is answered synchronously), then by the executor's progress hook every
//! [`STATUS_EVERY_MS`] while the numbers move, fire and forget, one PUT at a time; its last
//! write waits for the one in flight, so a stale `running` never lands after `done`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wstd::http::body::Bytes;
use wstd::http::Client;
use wstd::runtime::{spawn, Task};
use zip_oss_core::notify::{is_status_of, CallbackRecord, Status};
use zip_oss_core::pack::{PackError, Progress, Summary};
use zip_oss_core::store::{
    Bucket, GetObject, ObjectKey, PresignedGet, PutObject, StoreConfig, StoreError,
};

use super::store_client;
use crate::executor::{now_unix, to_wstd};

/// How often a running pack's status object is rewritten at most (while it progresses).
pub const STATUS_EVERY_MS: u64 = 2000;

/// Attempts of the status object's first and last writes (the ones a caller must see).
const STATUS_ATTEMPTS: u32 = 3;

/// A status document is a few hundred bytes, a few KiB with a long summary.
const MAX_STATUS_BYTES: u64 = 1 << 20;

/// One pack's status object in the bucket.
pub struct StatusObject {
    http: Rc<Client>,
    cfg: StoreConfig,
    bucket: Bucket,
    key: ObjectKey,
    doc: RefCell<Status>,
    /// A progress write under way: the next waits for it, or is skipped.
    in_flight: RefCell<Option<Task<()>>>,
    /// It replaced an earlier pack's status of the same archive (see [`StatusObject::create`]).
    replaced: Cell<bool>,
    /// Another pack of the same request holds the archive, and the status object with it:
    /// nothing more is written.
    yielded: Cell<bool>,
}

impl StatusObject {
    pub fn new(
        cfg: &StoreConfig,
        bucket: &str,
        status_key: &str,
        request_id: &str,
        archive_key: &str,
    ) -> Result<Rc<StatusObject>, PackError> {
        let bucket = Bucket::new(bucket).map_err(|e| PackError::invalid(e.to_string()))?;
        let key = ObjectKey::new(status_key).map_err(|e| PackError::invalid(e.to_string()))?;
        Ok(Rc::new(StatusObject {
            http: Rc::new(store_client()),
            cfg: cfg.clone(),
            bucket,
            key,
            doc: RefCell::new(Status::running(request_id, archive_key, now_unix())),
            in_flight: RefCell::new(None),
            replaced: Cell::new(false),
            yielded: Cell::new(false),
        }))
    }

    /// The presigned GET of the status object, valid as long as the archive's link.
    pub fn url(&self, expires_secs: u64) -> Result<String, PackError> {
        let get = PresignedGet::new(&self.bucket, &self.key, expires_secs)
            .map_err(|e| PackError::invalid(e.to_string()))?;
        Ok(get.url(&self.cfg, now_unix()))
    }

    /// The first write, `running`: only where no object is, unless `overwrite` or the object
    /// there is an earlier pack's status of this archive (one that failed, or died running
    /// and is resumed now), which is replaced; `409` for any other object.
    pub async fn create(&self, overwrite: bool) -> Result<(), PackError> {
        match self.put(!overwrite, STATUS_ATTEMPTS).await {
            Err(PackError::Store { error, .. })
                if matches!(
                    error.code.as_str(),
                    "PreconditionFailed" | "FileAlreadyExists"
                ) || error.status == 412 =>
            {
                let archive = self.doc.borrow().key.clone();
                match self.fetch().await {
                    Some(body) if is_status_of(&body, &archive) => {
                        self.replaced.set(true);
                        self.put(false, STATUS_ATTEMPTS).await
                    }
                    _ => Err(PackError::DestinationExists {
                        key: self.key.as_str().to_string(),
                    }),
                }
            }
            other => other,
        }
    }

    /// The object at the status object's key, if it is small enough to be one.
    async fn fetch(&self) -> Option<Vec<u8>> {
        let request = GetObject::new(&self.bucket, &self.key).sign(&self.cfg, now_unix());
        let request = to_wstd(request, Bytes::new()).ok()?;
        let response = self.http.send(request).await.ok()?;
        let small = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n <= MAX_STATUS_BYTES);
        if !response.status().is_success() || !small {
            return None;
        }
        let mut body = response.into_body();
        body.contents().await.ok().map(|b| b.to_vec())
    }

    /// Whether a progress write is under way.
    pub fn busy(&self) -> bool {
        self.in_flight
            .borrow()
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// A progress write, unless one is still under way (fire and forget; the reporter
    /// asks [`StatusObject::busy`] first, so none is lost).
    pub fn progressed(self: &Rc<Self>, progress: Progress) {
        if self.busy() {
            return;
        }
        self.doc.borrow_mut().progressed(progress, now_unix());
        let this = self.clone();
        *self.in_flight.borrow_mut() = Some(spawn(async move {
            if let Err(e) = this.put(false, 1).await {
                eprintln!("zip-oss: status update failed (the next one may succeed): {e}");
            }
        }));
    }

    /// The pack's end: `done` with its summary, or `failed` with its error. A pack that
    /// replaced an earlier status and finds that earlier pack alive after all
    /// (`PackInProgress`: it was starting when this one looked) leaves the status object to
    /// it.
    pub async fn ended(&self, outcome: &Result<Summary, PackError>) {
        self.settle().await;
        if self.replaced.get() && matches!(outcome, Err(PackError::PackInProgress { .. })) {
            self.yielded.set(true);
            return;
        }
        self.doc.borrow_mut().ended(outcome, now_unix());
        if let Err(e) = self.put(false, STATUS_ATTEMPTS).await {
            eprintln!("zip-oss: the final status could not be written: {e}");
        }
    }

    /// The callback's delivery, added to the final status.
    pub async fn called_back(&self, record: CallbackRecord) {
        self.settle().await;
        if self.yielded.get() {
            return;
        }
        self.doc.borrow_mut().called_back(record, now_unix());
        if let Err(e) = self.put(false, STATUS_ATTEMPTS).await {
            eprintln!("zip-oss: the callback's outcome could not be added to the status: {e}");
        }
    }

    /// Waits for a progress write under way.
    async fn settle(&self) {
        let task = self.in_flight.borrow_mut().take();
        if let Some(task) = task {
            task.await;
        }
    }

    async fn put(&self, create: bool, attempts: u32) -> Result<(), PackError> {
        let body = Bytes::from(self.doc.borrow().to_json());
        let what = format!("write the status object `{}`", self.key.as_str());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = PutObject::new(&self.bucket, &self.key, body.len() as u64)
                .content_type("application/json")
                .cache_control("no-cache")
                .forbid_overwrite(create)
                .sign(&self.cfg, now_unix());
            let request = to_wstd(request, body.clone()).map_err(PackError::Internal)?;
            let failure = match self.http.send(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let mut body = response.into_body();
                    let body = body
                        .contents()
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let error = StoreError::from_response(status, &body);
                    let again = status >= 500 || status == 429;
                    (PackError::store(what.clone(), error), again)
                }
                Err(e) => (
                    PackError::StoreUnreachable {
                        what: what.clone(),
                        detail: e.to_string(),
                    },
                    true,
                ),
            };
            match failure {
                (e, true) if attempt < attempts => {
                    eprintln!("zip-oss: {e}; trying again");
                    wstd::task::sleep(wstd::time::Duration::from_millis(250 << attempt)).await;
                }
                (e, _) => return Err(e),
            }
        }
    }
}
