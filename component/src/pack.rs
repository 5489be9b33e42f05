//! One pack, start to finish: list → plan → stream every object through the ZIP
//! encoder into parts → multipart upload → presigned link.
//!
//! Once the upload has begun, any failure aborts it, so nothing appears at the
//! destination and no upload is left open to cost money.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use zip_oss_core::pack::{Part, PartSplitter, TooManyParts};
use zip_oss_core::plan::{
    compressed_by_content, incompressible, part_size, Compression, Folders, PackRequest, Plan,
    PlanOptions, Source as PlanSource, SourceFile,
};
use zip_oss_core::store::StoreConfig;
use zip_oss_core::zip::{EncodeError, EntryKind, Method, NameEncoding, ZipEncoder};

use crate::config::Limits;
use crate::error::PackError;
use crate::exports::zip_oss::pack::zip_pack;
use crate::fetch::{ReadAhead, RANGE_BYTES, READ_AHEAD_MAX_OBJECT, READ_AHEAD_WINDOW};
use crate::store_client::StoreClient;
use crate::upload::Uploader;

/// Parts uploading at once; memory for parts is this plus one, times the part size.
const PARTS_IN_FLIGHT: usize = 4;

/// What a finished pack reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub url: String,
    pub key: String,
    pub entries: u64,
    pub bytes_read: u64,
    pub archive_bytes: u64,
    pub parts: u32,
    pub duration_ms: u64,
    /// Keys left out because their name came out empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Keys whose name was taken by an earlier key or a folder, with the name they got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<(String, String)>,
    /// Names kept in UTF-8 although GBK was asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub utf8_fallbacks: Vec<String>,
}

impl From<Summary> for zip_pack::PackSummary {
    fn from(s: Summary) -> Self {
        zip_pack::PackSummary {
            url: s.url,
            key: s.key,
            entries: s.entries,
            bytes_read: s.bytes_read,
            archive_bytes: s.archive_bytes,
            parts: s.parts,
            duration_ms: s.duration_ms,
            skipped: s.skipped,
            renamed: s.renamed,
            utf8_fallbacks: s.utf8_fallbacks,
        }
    }
}

pub fn request_from_wit(r: zip_pack::PackRequest) -> Result<PackRequest, PackError> {
    let req = PackRequest {
        region: None,
        bucket: r.bucket,
        source_dir: r.source_dirs,
        source_files: r
            .source_files
            .into_iter()
            .map(|f| SourceFile::Named {
                key: f.key,
                name: f.name,
            })
            .collect(),
        dest_file: r.dest_file,
        url_expires: r.url_expires,
        compression: match r.compression {
            zip_pack::Compression::Stored => Compression::Stored,
            zip_pack::Compression::Deflate => Compression::Deflate,
            zip_pack::Compression::Auto => Compression::Auto,
        },
        compression_level: r.compression_level.map(u32::from),
        name_encoding: match r.name_encoding {
            zip_pack::NameEncoding::Utf8 => NameEncoding::Utf8,
            zip_pack::NameEncoding::Gbk => NameEncoding::Gbk,
        },
        include: r.include,
        exclude: r.exclude,
        folders: if r.all_folders {
            Folders::All
        } else {
            Folders::Markers
        },
    };
    req.validate()
        .map_err(|e| PackError::bad_request(e.to_string()))?;
    Ok(req)
}

/// The id naming the default destination: the caller's, or 16 random bytes in hex.
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

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub async fn run(
    cfg: &StoreConfig,
    limits: Limits,
    req: &PackRequest,
    request_id: &str,
) -> Result<Summary, PackError> {
    let started = Instant::now();
    let client = Rc::new(StoreClient::new(cfg.clone()));
    let bucket = req.bucket.as_str();
    let dest = req.dest_key(request_id);

    let (plan, predicted) = make_plan(&client, limits, req).await?;
    if plan.entries.iter().any(|e| e.key == dest) {
        return Err(PackError::bad_request(
            "`dest-file` is one of the objects being packed",
        ));
    }
    let part_size =
        part_size(predicted.unwrap_or_else(|| plan.archive_bound())).ok_or_else(|| {
            PackError::new(
                413,
                "ArchiveTooLarge",
                "the archive would exceed 10,000 parts of 5 GiB",
            )
        })?;

    reserve_memory(
        &plan,
        part_size * (PARTS_IN_FLIGHT as u64 + 1),
        limits.read_ranges,
    )?;
    let upload_id = client.create_multipart_upload(bucket, &dest).await?;
    let written = write_archive(
        &client,
        bucket,
        &dest,
        &upload_id,
        &plan,
        part_size,
        limits.read_ranges,
    )
    .await;
    let (parts, archive_bytes) = match written {
        Ok(done) => done,
        Err(e) => {
            client
                .abort_multipart_upload(bucket, &dest, &upload_id)
                .await;
            return Err(e);
        }
    };
    if predicted.is_some_and(|p| p != archive_bytes) {
        client
            .abort_multipart_upload(bucket, &dest, &upload_id)
            .await;
        return Err(PackError::new(
            500,
            "InternalError",
            "the archive's size differs from the prediction",
        ));
    }
    if let Err(e) = client
        .complete_multipart_upload(bucket, &dest, &upload_id, &parts)
        .await
    {
        client
            .abort_multipart_upload(bucket, &dest, &upload_id)
            .await;
        return Err(e);
    }

    Ok(Summary {
        url: client.presign_get(bucket, &dest, req.url_expires())?,
        key: dest,
        entries: plan.entries.len() as u64,
        bytes_read: plan.source_bytes(),
        archive_bytes,
        parts: parts.len() as u32,
        duration_ms: started.elapsed().as_millis() as u64,
        utf8_fallbacks: plan.utf8_fallbacks(),
        skipped: plan.skipped,
        renamed: plan.renamed,
    })
}

/// Room for the encoder (deflate state), the HTTP buffers and the rest.
const WORKING_MEMORY: u64 = 4 << 20;

/// Grows the instance's memory to what the pack will hold at its peak besides the plan —
/// `buffers` (the parts in flight), the reads in flight (small objects read ahead, ranges
/// of a large one), the encoder's working memory, and the central directory it keeps until
/// the end — before anything is written: under a host memory limit a pack that cannot fit
/// is refused now, cleanly, rather than trapped halfway (with an upload open). The memory,
/// freed, is what those are then allocated from.
pub(crate) fn reserve_memory(
    plan: &Plan,
    buffers: u64,
    read_ranges: usize,
) -> Result<(), PackError> {
    // Both at once: small objects are read ahead while a large one is read in ranges
    // (those in flight, and the one being handed out).
    let ranged = read_ranges > 1 && plan.entries.iter().any(|e| e.size() > RANGE_BYTES);
    let ranges = if ranged { read_ranges as u64 + 1 } else { 0 };
    let reads = READ_AHEAD_WINDOW as u64 * READ_AHEAD_MAX_OBJECT + ranges * RANGE_BYTES;
    // Per entry: 46 bytes of header, the name (twice with a Unicode Path), ≤ 50 of extras.
    let central: u64 = plan
        .entries
        .iter()
        .map(|e| 96 + 2 * e.name.len() as u64)
        .sum();
    let need = buffers + reads + WORKING_MEMORY + central;
    let mut probe: Vec<u8> = Vec::new();
    usize::try_from(need)
        .ok()
        .and_then(|need| probe.try_reserve_exact(need).ok())
        .ok_or_else(|| {
            PackError::new(
                503,
                "InsufficientMemory",
                format!(
                    "this pack needs about {} MiB of memory; the host allows less",
                    need.div_ceil(1 << 20)
                ),
            )
        })
}

/// Lists the sources and plans the archive within the operator's limits; returns the
/// plan and the archive's exact size when it is known in advance (no deflated entry).
pub(crate) async fn make_plan(
    client: &Rc<StoreClient>,
    limits: Limits,
    req: &PackRequest,
) -> Result<(Plan, Option<u64>), PackError> {
    let sources = collect_sources(client, req).await?;
    let options =
        PlanOptions::from_request(req).map_err(|e| PackError::bad_request(e.to_string()))?;
    let plan = Plan::build(sources, &options);
    if plan.entries.is_empty() {
        return Err(PackError::new(
            404,
            "NoObjects",
            "no objects to pack: the source is empty or every key was skipped",
        ));
    }
    check_limits(&plan, limits)?;
    let size = plan
        .archive_size()
        .map_err(|e| PackError::bad_request(e.to_string()))?;
    Ok((plan, size))
}

/// Refuses, before anything is uploaded, what the operator does not allow.
fn check_limits(plan: &Plan, limits: Limits) -> Result<(), PackError> {
    let entries = plan.entries.len() as u64;
    if let Some(max) = limits.max_entries.filter(|max| entries > *max) {
        return Err(PackError::new(
            413,
            "TooManyEntries",
            format!("{entries} entries; this service packs at most {max}"),
        ));
    }
    let bytes = plan.source_bytes();
    if let Some(max) = limits.max_bytes.filter(|max| bytes > *max) {
        return Err(PackError::new(
            413,
            "TooManyBytes",
            format!("{bytes} bytes to read; this service packs at most {max}"),
        ));
    }
    Ok(())
}

/// Every object to pack, with its size: the listing of each `source-dir` prefix, then the
/// `source-files` looked up one by one. A key met twice is packed once.
async fn collect_sources(
    client: &Rc<StoreClient>,
    req: &PackRequest,
) -> Result<Vec<PlanSource>, PackError> {
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    if req.source_files.is_empty() {
        for prefix in &req.source_dir {
            for mut s in client.list_all(&req.bucket, prefix).await? {
                if seen.insert(s.key.clone()) {
                    s.base = prefix.clone();
                    sources.push(s);
                }
            }
        }
        return Ok(sources);
    }
    // Several lookups in flight at once: a long key list is latency-bound.
    for chunk in req.source_files.chunks(16) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|file| {
                let (client, bucket, key) =
                    (client.clone(), req.bucket.clone(), file.key().to_string());
                wstd::runtime::spawn(async move { client.head_object(&bucket, &key).await })
            })
            .collect();
        for (task, file) in tasks.into_iter().zip(chunk) {
            let mut s = task.await?;
            if seen.insert(s.key.clone()) {
                s.base = req
                    .source_dir
                    .iter()
                    .find(|d| s.key.starts_with(d.as_str()))
                    .cloned()
                    .unwrap_or_default();
                s.name = file.name().map(str::to_string);
                sources.push(s);
            }
        }
    }
    Ok(sources)
}

/// Where the archive's bytes go, in order: the parts of an upload ([`Output`]) or a
/// response body (`stream::BodySink`).
pub(crate) trait ArchiveSink {
    async fn emit(&mut self, data: &[u8]) -> Result<(), PackError>;
}

/// Archive bytes on their way out: cut into parts, each uploaded as soon as it fills.
struct Output {
    splitter: PartSplitter,
    uploader: Uploader,
    full: Vec<Part>,
    bytes: u64,
}

impl ArchiveSink for Output {
    async fn emit(&mut self, data: &[u8]) -> Result<(), PackError> {
        self.bytes += data.len() as u64;
        let full = &mut self.full;
        self.splitter
            .push(data, |p| full.push(p))
            .map_err(too_many_parts)?;
        for part in self.full.drain(..) {
            self.uploader.submit(part).await?;
        }
        Ok(())
    }
}

impl Output {
    /// Uploads the last part; returns every part's `(number, ETag)` and the archive's size.
    async fn finish(self) -> Result<(Vec<(u32, String)>, u64), PackError> {
        let mut uploader = self.uploader;
        if let Some(last) = self.splitter.finish().map_err(too_many_parts)? {
            uploader.submit(last).await?;
        }
        Ok((uploader.finish().await?, self.bytes))
    }
}

fn too_many_parts(e: TooManyParts) -> PackError {
    PackError::new(413, "ArchiveTooLarge", e.to_string())
}

fn encode_error(e: EncodeError) -> PackError {
    match e {
        EncodeError::SizeMismatch { .. } => PackError::new(502, "ObjectChanged", e.to_string()),
        _ => PackError::new(500, "InternalError", e.to_string()),
    }
}

/// Streams every entry through the encoder into the upload.
async fn write_archive(
    client: &Rc<StoreClient>,
    bucket: &str,
    dest: &str,
    upload_id: &str,
    plan: &Plan,
    part_size: u64,
    read_ranges: usize,
) -> Result<(Vec<(u32, String)>, u64), PackError> {
    let mut out = Output {
        splitter: PartSplitter::new(part_size),
        uploader: Uploader::new(client.clone(), bucket, dest, upload_id, PARTS_IN_FLIGHT),
        full: Vec::new(),
        bytes: 0,
    };
    encode_archive(client, bucket, plan, read_ranges, &mut out).await?;
    out.finish().await
}

/// Streams every entry of `plan`, read from `bucket` (large objects `read_ranges` ranges at
/// a time), through the encoder into `out`, central directory and end records included.
pub(crate) async fn encode_archive(
    client: &Rc<StoreClient>,
    bucket: &str,
    plan: &Plan,
    read_ranges: usize,
    out: &mut impl ArchiveSink,
) -> Result<(), PackError> {
    let mut encoder = ZipEncoder::new();
    let mut read_ahead = ReadAhead::new(client.clone(), bucket, &plan.entries, read_ranges);

    for (index, entry) in plan.entries.iter().enumerate() {
        if !entry.has_data() {
            out.emit(&encoder.start_entry(entry.meta()).map_err(encode_error)?)
                .await?;
            if entry.kind != EntryKind::Directory {
                out.emit(&encoder.finish_entry().map_err(encode_error)?)
                    .await?;
            }
            continue;
        }
        let mut source = read_ahead.source(index);
        let first = source.next_chunk().await?.unwrap_or_default();
        let mut meta = entry.meta();
        if entry.sniff && (compressed_by_content(&first) || incompressible(&first)) {
            meta = meta.with_method(Method::Stored);
        }
        out.emit(&encoder.start_entry(meta).map_err(encode_error)?)
            .await?;
        out.emit(&encoder.write_data(&first).map_err(encode_error)?)
            .await?;
        drop(first); // not held while the rest of the entry streams
        while let Some(chunk) = source.next_chunk().await? {
            out.emit(&encoder.write_data(&chunk).map_err(encode_error)?)
                .await?;
        }
        out.emit(&encoder.finish_entry().map_err(encode_error)?)
            .await?;
    }
    out.emit(&encoder.finish().map_err(encode_error)?).await
}
