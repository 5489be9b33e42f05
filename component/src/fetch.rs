//! Object reads.
//!
//! Large objects are read as consecutive ranges, several at once ([`RangedObject`]): a
//! store serves one connection at a pace of its own, so parallel ranges are how one large
//! object reads at the network's pace. An interrupted body is resumed with `Range` from the
//! byte it reached (and `If-Match` on the ETag, so a changed object fails rather than
//! splices), and every range must carry the same ETag. Small objects are read ahead whole
//! by background tasks, so a folder of thousands of small files is not one round trip per
//! file.

use std::cell::RefCell;
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
    /// The ranged reads of every large object; `None` when large objects stream.
    ranges: Option<Rc<RefCell<RangeQueue>>>,
}

impl ReadAhead {
    pub fn new(
        client: Rc<StoreClient>,
        bucket: &str,
        entries: &[PlannedEntry],
        ranges: usize,
    ) -> Self {
        let bucket: Rc<str> = bucket.into();
        let entries: Vec<(String, u64)> =
            entries.iter().map(|e| (e.key.clone(), e.size())).collect();
        let ranges = (ranges > 1).then(|| {
            Rc::new(RefCell::new(RangeQueue {
                client: client.clone(),
                bucket: bucket.clone(),
                objects: entries
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, size))| *size > RANGE_BYTES)
                    .map(|(i, (key, size))| (i, key.clone(), *size))
                    .collect(),
                next_start: 0,
                window: ranges,
                in_flight: VecDeque::new(),
                etag: None,
            }))
        });
        ReadAhead {
            client,
            bucket,
            entries,
            next_to_schedule: 0,
            ready: VecDeque::new(),
            ranges,
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
        if let Some(queue) = self.ranges.as_ref().filter(|_| *size > RANGE_BYTES) {
            return Source::Ranged(RangedObject {
                queue: queue.clone(),
                index,
                key: key.clone(),
                ranges_left: size.div_ceil(RANGE_BYTES),
                current: Bytes::new(),
                etag: None,
            });
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

/// One range read in the background: the bytes and the ETag they came with.
type RangeRead = Task<Result<(Bytes, Option<String>), PackError>>;

/// Every ranged read of the pack, in plan order, `window` at once across objects (the one
/// being waited for included): the next object's first ranges are read while the current
/// one's last are handed out, so the window does not drain at each object's end.
pub struct RangeQueue {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    /// The large objects not yet fully scheduled, `(entry index, key, size)`, in plan
    /// order; the first one's next range starts at `next_start`.
    objects: VecDeque<(usize, String, u64)>,
    next_start: u64,
    window: usize,
    in_flight: VecDeque<(usize, RangeRead)>,
    /// An object's ETag once its first range came back, for `If-Match` on its later ones.
    etag: Option<(usize, String)>,
}

impl RangeQueue {
    /// Starts ranged reads until `window - 1` wait here: with the one taken, `window`.
    fn fill(&mut self) {
        while self.in_flight.len() + 1 < self.window {
            let Some((index, key, size)) = self.objects.front() else {
                return;
            };
            let (index, size) = (*index, *size);
            let range = self.next_start..(self.next_start + RANGE_BYTES).min(size);
            let mut stream =
                ObjectStream::range(self.client.clone(), &self.bucket, key, range.clone());
            stream.etag = self
                .etag
                .as_ref()
                .filter(|(i, _)| *i == index)
                .map(|(_, etag)| etag.clone());
            self.in_flight
                .push_back((index, spawn(async move { stream.read_all().await })));
            if range.end >= size {
                self.objects.pop_front();
                self.next_start = 0;
            } else {
                self.next_start = range.end;
            }
        }
    }

    /// The next range's read, which must belong to entry `index` (objects are consumed
    /// in plan order, each to its end).
    fn take(&mut self, index: usize) -> Option<RangeRead> {
        self.fill();
        match self.in_flight.front() {
            Some((i, _)) if *i == index => {
                let (_, read) = self.in_flight.pop_front()?;
                self.fill();
                Some(read)
            }
            _ => None,
        }
    }
}

/// A large object's bytes from the [`RangeQueue`], range after range, handed out in
/// slices of at most [`SLICE_BYTES`] (no copying), so the encoder never holds a whole range.
pub struct RangedObject {
    queue: Rc<RefCell<RangeQueue>>,
    index: usize,
    key: String,
    ranges_left: u64,
    /// What is left of the range being handed out.
    current: Bytes,
    /// The first range's ETag, which every other range must carry.
    etag: Option<String>,
}

/// The largest piece a range is handed out in.
const SLICE_BYTES: usize = 256 << 10;

impl RangedObject {
    /// The next piece of the object, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PackError> {
        if self.current.is_empty() {
            if self.ranges_left == 0 {
                return Ok(None);
            }
            // Not borrowed across the await: other objects' reads go on meanwhile.
            let read = self.queue.borrow_mut().take(self.index);
            let read = read
                .ok_or_else(|| PackError::new(500, "InternalError", "ranged reads out of order"))?;
            self.ranges_left -= 1;
            let (data, etag) = read.await?;
            match (&self.etag, etag) {
                (None, Some(etag)) => {
                    self.queue.borrow_mut().etag = Some((self.index, etag.clone()));
                    self.etag = Some(etag);
                }
                (Some(first), Some(etag)) if *first != etag => {
                    return Err(PackError::object_changed(&self.key));
                }
                _ => {}
            }
            self.current = data;
        }
        let n = self.current.len().min(SLICE_BYTES);
        Ok(Some(self.current.split_to(n)))
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
                let (body, etag, length) = self
                    .client
                    .get_object(&self.bucket, &self.key, self.pos, to, self.etag.as_deref())
                    .await?;
                // Another length than asked for: the object is not the size it was listed
                // at (a body that only breaks off is resumed instead).
                if length.is_some_and(|n| n != self.end - self.pos) {
                    return Err(PackError::object_changed(&self.key));
                }
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
