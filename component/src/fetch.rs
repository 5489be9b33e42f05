//! Object reads.
//!
//! Large objects stream: an interrupted body is resumed with `Range` from the byte
//! it reached (and `If-Match` on the ETag, so a changed object fails rather than
//! splices). Small objects are read ahead whole by background tasks, so a folder
//! of thousands of small files is not one round trip per file.

use std::collections::VecDeque;
use std::rc::Rc;

use wstd::http::body::Bytes;
use wstd::http::BodyExt;
use wstd::runtime::{spawn, Task};
use zip_oss_core::plan::PlannedEntry;

use crate::error::PackError;
use crate::store_client::{StoreClient, Stream};

/// Objects up to this size are read ahead whole.
pub const READ_AHEAD_MAX_OBJECT: u64 = 1 << 20;
/// How many small objects may be read ahead at once (memory ≤ this × the size above).
pub const READ_AHEAD_WINDOW: usize = 16;
/// How many times one object's body may be resumed after an interruption.
const MAX_RESUMES: u32 = 5;

/// Where an entry's bytes come from.
pub enum Source {
    /// Read ahead whole (taken once).
    Whole(Option<Task<Result<Bytes, PackError>>>),
    /// Read on demand.
    Streamed(ObjectStream),
}

impl Source {
    /// The next chunk of the entry's data; `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PackError> {
        match self {
            Source::Whole(task) => match task.take() {
                Some(t) => t.await.map(Some),
                None => Ok(None),
            },
            Source::Streamed(stream) => stream.next_chunk().await,
        }
    }
}

/// Hands out each entry's data source in plan order, keeping small objects read ahead.
pub struct ReadAhead {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    entries: Vec<(String, u64)>,
    next_to_schedule: usize,
    ready: VecDeque<(usize, Task<Result<Bytes, PackError>>)>,
}

impl ReadAhead {
    pub fn new(client: Rc<StoreClient>, bucket: &str, entries: &[PlannedEntry]) -> Self {
        ReadAhead {
            client,
            bucket: bucket.into(),
            entries: entries.iter().map(|e| (e.key.clone(), e.size())).collect(),
            next_to_schedule: 0,
            ready: VecDeque::new(),
        }
    }

    /// The source for entry `index`; entries must be asked for in order.
    pub fn source(&mut self, index: usize) -> Source {
        self.fill(index);
        if let Some((i, _)) = self.ready.front() {
            if *i == index {
                let (_, task) = self.ready.pop_front().expect("front exists");
                self.fill(index + 1);
                return Source::Whole(Some(task));
            }
        }
        let (key, size) = &self.entries[index];
        Source::Streamed(ObjectStream::new(
            self.client.clone(),
            &self.bucket,
            key,
            *size,
        ))
    }

    /// Schedules reads of small objects from `from` on until the window is full.
    fn fill(&mut self, from: usize) {
        self.next_to_schedule = self.next_to_schedule.max(from);
        while self.ready.len() < READ_AHEAD_WINDOW && self.next_to_schedule < self.entries.len() {
            let i = self.next_to_schedule;
            let (key, size) = &self.entries[i];
            // The window scans past large objects so that small ones after them start early.
            if *size > 0 && *size <= READ_AHEAD_MAX_OBJECT {
                let mut stream = ObjectStream::new(self.client.clone(), &self.bucket, key, *size);
                self.ready
                    .push_back((i, spawn(async move { stream.read_all().await })));
            }
            self.next_to_schedule += 1;
        }
    }
}

/// One object's body, resumed after interruptions.
pub struct ObjectStream {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    key: String,
    size: u64,
    pos: u64,
    etag: Option<String>,
    body: Option<Stream>,
    resumes: u32,
}

impl ObjectStream {
    pub fn new(client: Rc<StoreClient>, bucket: &Rc<str>, key: &str, size: u64) -> Self {
        ObjectStream {
            client,
            bucket: bucket.clone(),
            key: key.to_string(),
            size,
            pos: 0,
            etag: None,
            body: None,
            resumes: 0,
        }
    }

    /// The next chunk, or `None` once `size` bytes were delivered.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PackError> {
        loop {
            if self.pos >= self.size {
                return Ok(None);
            }
            if self.body.is_none() {
                let (body, etag) = self
                    .client
                    .get_object(&self.bucket, &self.key, self.pos, self.etag.as_deref())
                    .await?;
                if self.etag.is_none() {
                    self.etag = etag;
                }
                self.body = Some(body);
            }
            let body = self.body.as_mut().expect("opened above");
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if data.is_empty() {
                            continue;
                        }
                        self.pos += data.len() as u64;
                        return Ok(Some(data));
                    }
                }
                // The body ended early or broke: resume from where it stopped.
                Some(Err(_)) | None => {
                    self.body = None;
                    self.resumes += 1;
                    if self.resumes > MAX_RESUMES {
                        return Err(PackError::new(
                            502,
                            "StoreReadInterrupted",
                            format!(
                                "reading `{}` broke off {} times at byte {}",
                                self.key, self.resumes, self.pos
                            ),
                        ));
                    }
                    self.client.pause_before_retry(self.resumes).await;
                }
            }
        }
    }

    async fn read_all(&mut self) -> Result<Bytes, PackError> {
        let mut all = Vec::with_capacity(self.size as usize);
        while let Some(chunk) = self.next_chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(all))
    }
}
