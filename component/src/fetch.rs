//! Object reads.
//!
//! Large objects are read as consecutive ranges, several at once ([`RangedObject`]): a
//! store serves one connection at a pace of its own, so parallel ranges are how one large
//! object reads at the network's pace. An interrupted body is resumed with `Range` from the
//! byte it reached (and `If-Match` on the ETag, so a changed object fails rather than
//! splices), and every range must carry the same ETag. Small objects are read ahead whole
//! by background tasks, so a folder of thousands of small files is not one round trip per
//! file.

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
/// The size of one ranged read of a large object; each is held whole until its turn.
pub const RANGE_BYTES: u64 = 4 << 20;

/// Where an entry's bytes come from.
pub enum Source {
    /// Read ahead whole (taken once).
    Whole(Option<Task<Result<Bytes, PackError>>>),
    /// Read on demand, as one stream.
    Streamed(ObjectStream),
    /// Read on demand, several ranges at once.
    Ranged(RangedObject),
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
            Source::Ranged(ranges) => ranges.next_chunk().await,
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
    /// Ranges of one large object read at once; 1 streams it.
    ranges: usize,
}

impl ReadAhead {
    pub fn new(
        client: Rc<StoreClient>,
        bucket: &str,
        entries: &[PlannedEntry],
        ranges: usize,
    ) -> Self {
        ReadAhead {
            client,
            bucket: bucket.into(),
            entries: entries.iter().map(|e| (e.key.clone(), e.size())).collect(),
            next_to_schedule: 0,
            ready: VecDeque::new(),
            ranges: ranges.max(1),
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
        if self.ranges > 1 && *size > RANGE_BYTES {
            return Source::Ranged(RangedObject::new(
                self.client.clone(),
                &self.bucket,
                key,
                *size,
                self.ranges,
            ));
        }
        Source::Streamed(ObjectStream::whole(
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
                let mut stream = ObjectStream::whole(self.client.clone(), &self.bucket, key, *size);
                self.ready.push_back((
                    i,
                    spawn(async move { stream.read_all().await.map(|(data, _)| data) }),
                ));
            }
            self.next_to_schedule += 1;
        }
    }
}

/// A large object as consecutive ranges of [`RANGE_BYTES`], up to `window` read at once
/// and handed out in order, in slices of at most [`SLICE_BYTES`] (no copying), so the
/// encoder never holds a whole range.
pub struct RangedObject {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    key: String,
    size: u64,
    next_start: u64,
    window: usize,
    in_flight: VecDeque<Task<Result<(Bytes, Option<String>), PackError>>>,
    /// What is left of the range being handed out.
    current: Bytes,
    /// The first range's ETag, which every other range must carry (and is asked for with
    /// `If-Match` once known).
    etag: Option<String>,
}

/// The largest piece a range is handed out in.
const SLICE_BYTES: usize = 256 << 10;

impl RangedObject {
    pub fn new(
        client: Rc<StoreClient>,
        bucket: &Rc<str>,
        key: &str,
        size: u64,
        window: usize,
    ) -> Self {
        RangedObject {
            client,
            bucket: bucket.clone(),
            key: key.to_string(),
            size,
            next_start: 0,
            window: window.max(1),
            in_flight: VecDeque::new(),
            current: Bytes::new(),
            etag: None,
        }
    }

    /// The next piece of the object, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PackError> {
        if self.current.is_empty() {
            self.fill();
            let Some(task) = self.in_flight.pop_front() else {
                return Ok(None);
            };
            let (data, etag) = task.await?;
            match (&self.etag, etag) {
                (None, etag) => self.etag = etag,
                (Some(first), Some(etag)) if *first != etag => {
                    return Err(PackError::object_changed(&self.key));
                }
                _ => {}
            }
            self.current = data;
            self.fill();
        }
        let n = self.current.len().min(SLICE_BYTES);
        Ok(Some(self.current.split_to(n)))
    }

    /// Starts reading ranges until `window` are in flight.
    fn fill(&mut self) {
        while self.in_flight.len() < self.window && self.next_start < self.size {
            let range = self.next_start..(self.next_start + RANGE_BYTES).min(self.size);
            self.next_start = range.end;
            let mut stream =
                ObjectStream::range(self.client.clone(), &self.bucket, &self.key, range);
            stream.etag = self.etag.clone();
            self.in_flight
                .push_back(spawn(async move { stream.read_all().await }));
        }
    }
}

/// One object's body, or a range of it, resumed after interruptions.
pub struct ObjectStream {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    key: String,
    /// Where the bytes to read end (exclusive), and whether that is the object's end (no
    /// end is then sent: a plain GET or `bytes=N-`).
    end: u64,
    ranged: bool,
    pos: u64,
    etag: Option<String>,
    body: Option<Stream>,
    resumes: u32,
}

impl ObjectStream {
    /// The whole object, `size` bytes as listed (a plain GET).
    pub fn whole(client: Rc<StoreClient>, bucket: &Rc<str>, key: &str, size: u64) -> Self {
        Self::new(client, bucket, key, 0..size, false)
    }

    /// Bytes `range` of the object (`Range: bytes=start-(end-1)`).
    pub fn range(
        client: Rc<StoreClient>,
        bucket: &Rc<str>,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Self {
        Self::new(client, bucket, key, range, true)
    }

    fn new(
        client: Rc<StoreClient>,
        bucket: &Rc<str>,
        key: &str,
        range: std::ops::Range<u64>,
        ranged: bool,
    ) -> Self {
        ObjectStream {
            client,
            bucket: bucket.clone(),
            key: key.to_string(),
            ranged,
            end: range.end,
            pos: range.start,
            etag: None,
            body: None,
            resumes: 0,
        }
    }

    /// The next chunk, or `None` once the range was delivered.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PackError> {
        loop {
            if self.pos >= self.end {
                return Ok(None);
            }
            if self.body.is_none() {
                let to = self.ranged.then_some(self.end);
                let (body, etag) = self
                    .client
                    .get_object(&self.bucket, &self.key, self.pos, to, self.etag.as_deref())
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
                        // More than asked for: the object grew since it was listed.
                        if data.len() as u64 > self.end - self.pos {
                            return Err(PackError::object_changed(&self.key));
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

    /// The whole range in one buffer, with the object's ETag.
    async fn read_all(&mut self) -> Result<(Bytes, Option<String>), PackError> {
        let len = self.end.saturating_sub(self.pos);
        let mut all = Vec::with_capacity(len as usize);
        while let Some(chunk) = self.next_chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(all), self.etag.take()))
    }
}
