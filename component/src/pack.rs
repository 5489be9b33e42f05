//! One pack, start to finish: list → plan → stream every object through the ZIP
//! encoder into parts → multipart upload → presigned link.
//!
//! Once the upload has begun, any failure aborts it, so nothing appears at the
//! destination and no upload is left open to cost money.

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use zip_oss_core::pack::PartSplitter;
use zip_oss_core::plan::{part_size, PackRequest, Plan, Source as PlanSource};
use zip_oss_core::store::StoreConfig;
use zip_oss_core::zip::{EntryKind, ZipEncoder};

use crate::error::PackError;
use crate::exports::zip_oss::pack::zip_pack;
use crate::fetch::{ReadAhead, Source};
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
    /// Keys whose name was taken by an earlier key, with the name they got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<(String, String)>,
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
        }
    }
}

pub fn request_from_wit(r: zip_pack::PackRequest) -> Result<PackRequest, PackError> {
    let req = PackRequest {
        region: None,
        bucket: r.bucket,
        source_dir: r.source_dir,
        source_files: r.source_files,
        dest_file: r.dest_file,
        url_expires: r.url_expires,
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
    req: &PackRequest,
    request_id: &str,
) -> Result<Summary, PackError> {
    let started = Instant::now();
    let client = Rc::new(StoreClient::new(cfg.clone()));
    let bucket = req.bucket.as_str();
    let dest = req.dest_key(request_id);

    let sources = collect_sources(&client, req).await?;
    let plan = Plan::build(sources, req.source_dir.as_deref());
    if plan.entries.is_empty() {
        return Err(PackError::new(
            404,
            "NoObjects",
            "no objects to pack: the source is empty or every key was skipped",
        ));
    }
    if plan.entries.iter().any(|e| e.key == dest) {
        return Err(PackError::bad_request(
            "`dest-file` is one of the objects being packed",
        ));
    }
    let archive_bytes = plan
        .archive_size()
        .map_err(|e| PackError::bad_request(e.to_string()))?;
    let part_size = part_size(archive_bytes).ok_or_else(|| {
        PackError::new(
            413,
            "ArchiveTooLarge",
            "the archive would exceed 10,000 parts of 5 GiB",
        )
    })?;

    let upload_id = client.create_multipart_upload(bucket, &dest).await?;
    let uploaded = write_archive(&client, bucket, &dest, &upload_id, &plan, part_size).await;
    let parts = match uploaded {
        Ok(parts) => parts,
        Err(e) => {
            client
                .abort_multipart_upload(bucket, &dest, &upload_id)
                .await;
            return Err(e);
        }
    };
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
        skipped: plan.skipped,
        renamed: plan.renamed,
    })
}

/// Every object to pack, with its size: the listing of `source-dir`, or `source-files` looked up one by one.
async fn collect_sources(
    client: &Rc<StoreClient>,
    req: &PackRequest,
) -> Result<Vec<PlanSource>, PackError> {
    if req.source_files.is_empty() {
        let prefix = req.source_dir.as_deref().unwrap_or("");
        return client.list_all(&req.bucket, prefix).await;
    }
    // Several lookups in flight at once: a long key list is latency-bound.
    let mut sources = Vec::with_capacity(req.source_files.len());
    for chunk in req.source_files.chunks(16) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|key| {
                let (client, bucket, key) = (client.clone(), req.bucket.clone(), key.clone());
                wstd::runtime::spawn(async move { client.head_object(&bucket, &key).await })
            })
            .collect();
        for t in tasks {
            sources.push(t.await?);
        }
    }
    Ok(sources)
}

/// Streams every entry through the encoder into parts; returns the uploaded parts.
async fn write_archive(
    client: &Rc<StoreClient>,
    bucket: &str,
    dest: &str,
    upload_id: &str,
    plan: &Plan,
    part_size: u64,
) -> Result<Vec<(u32, String)>, PackError> {
    let mut encoder = ZipEncoder::new();
    let mut splitter = PartSplitter::new(part_size);
    let mut uploader = Uploader::new(client.clone(), bucket, dest, upload_id, PARTS_IN_FLIGHT);
    let mut read_ahead = ReadAhead::new(client.clone(), bucket, &plan.entries);
    let mut full = Vec::new();

    let zip_err =
        |e: zip_oss_core::zip::EncodeError| PackError::new(502, "ObjectChanged", e.to_string());
    let part_err =
        |e: zip_oss_core::pack::TooManyParts| PackError::new(413, "ArchiveTooLarge", e.to_string());

    for (index, entry) in plan.entries.iter().enumerate() {
        let header = encoder.start_entry(entry.meta()).map_err(zip_err)?;
        splitter.push(&header, |p| full.push(p)).map_err(part_err)?;
        if entry.kind == EntryKind::Directory {
            flush(&mut uploader, &mut full).await?;
            continue;
        }
        if entry.size() > 0 {
            match read_ahead.source(index) {
                Source::Whole(task) => {
                    let data = task.await?;
                    encoder.write_data(&data).map_err(zip_err)?;
                    splitter.push(&data, |p| full.push(p)).map_err(part_err)?;
                    flush(&mut uploader, &mut full).await?;
                }
                Source::Streamed(mut stream) => {
                    while let Some(chunk) = stream.next_chunk().await? {
                        encoder.write_data(&chunk).map_err(zip_err)?;
                        splitter.push(&chunk, |p| full.push(p)).map_err(part_err)?;
                        flush(&mut uploader, &mut full).await?;
                    }
                }
            }
        }
        let descriptor = encoder.finish_entry().map_err(zip_err)?;
        splitter
            .push(&descriptor, |p| full.push(p))
            .map_err(part_err)?;
        flush(&mut uploader, &mut full).await?;
    }
    let tail = encoder.finish().map_err(zip_err)?;
    splitter.push(&tail, |p| full.push(p)).map_err(part_err)?;
    full.extend(splitter.finish().map_err(part_err)?);
    flush(&mut uploader, &mut full).await?;
    uploader.finish().await
}

async fn flush(
    uploader: &mut Uploader,
    full: &mut Vec<zip_oss_core::pack::Part>,
) -> Result<(), PackError> {
    for part in full.drain(..) {
        uploader.submit(part).await?;
    }
    Ok(())
}
