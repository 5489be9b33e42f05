//! One-shot packs: call the component's `zip-pack.pack` export and, if asked, download the
//! archive through its presigned URL. Used by `zip-oss pack`, `zip-oss demo` and tests.

use crate::bars::PackBars;
use crate::bindings::{
    Compression, NameEncoding, PackError, PackRequest, PackSummary, StoreConfig,
};
use crate::engine::Runtime;
use std::fmt;
use std::path::{Path, PathBuf};

/// The component refused or failed the pack (its own answer, not a host failure).
#[derive(Debug)]
pub struct PackFailed(pub PackError);

impl fmt::Display for PackFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(
            f,
            "pack failed: {} (HTTP {}): {}",
            e.code, e.status, e.message
        )
    }
}

impl std::error::Error for PackFailed {}

/// A pack request for `bucket` with everything else unset.
pub fn request(bucket: impl Into<String>) -> PackRequest {
    PackRequest {
        bucket: bucket.into(),
        source_dirs: Vec::new(),
        source_files: Vec::new(),
        dest_file: None,
        request_id: None,
        url_expires: None,
        compression: Compression::Stored,
        compression_level: None,
        name_encoding: NameEncoding::Utf8,
        include: Vec::new(),
        exclude: Vec::new(),
        all_folders: false,
    }
}

/// The result of [`pack_and_fetch`].
#[derive(Debug)]
pub struct Packed {
    pub summary: PackSummary,
    /// Where the archive was downloaded and its size, when an output path was given.
    pub downloaded: Option<(PathBuf, u64)>,
}

/// Runs one pack; a component error comes back as a [`PackFailed`] inside the `anyhow::Error`.
pub async fn pack_and_fetch(
    runtime: &Runtime,
    store: &StoreConfig,
    request: &PackRequest,
    output: Option<&Path>,
) -> anyhow::Result<Packed> {
    pack_and_fetch_showing(runtime, store, request, output, None).await
}

/// As [`pack_and_fetch`], showing the pack's and the download's progress on `bars`.
pub async fn pack_and_fetch_showing(
    runtime: &Runtime,
    store: &StoreConfig,
    request: &PackRequest,
    output: Option<&Path>,
    bars: Option<&PackBars>,
) -> anyhow::Result<Packed> {
    let sink = bars.map(PackBars::pack_sink);
    let answer = runtime.pack_reporting(store, request, sink).await;
    if !matches!(answer, Ok(Ok(_))) {
        bars.inspect(|b| b.failed());
    }
    let summary = answer?.map_err(PackFailed)?;
    bars.inspect(|b| b.packed(&summary));
    let downloaded = match output {
        Some(path) => {
            let expected = summary
                .checksum
                .as_ref()
                .map(|c| (c.algorithm.as_str(), c.value.as_str()));
            let bar = bars.map(|b| b.download(summary.archive_bytes));
            let size = crate::download::download_reporting(&summary.url, path, expected, &|n| {
                if let Some(b) = &bar {
                    b.set(n);
                }
            })
            .await?;
            if let Some(b) = &bar {
                b.finish();
            }
            Some((path.to_path_buf(), size))
        }
        None => None,
    };
    Ok(Packed {
        summary,
        downloaded,
    })
}

/// The summary as printed on stdout (pretty JSON): the WIT fields in order, in snake_case;
/// the lists only when not empty.
pub fn summary_json(summary: &PackSummary) -> String {
    let mut json = serde_json::json!({
        "url": summary.url,
        "key": summary.key,
        "entries": summary.entries,
        "bytes_read": summary.bytes_read,
        "copied_bytes": summary.copied_bytes,
        "copied_objects": summary.copied_objects,
        "hashed_bytes": summary.hashed_bytes,
        "archive_bytes": summary.archive_bytes,
        "parts": summary.parts,
        "resumed_parts": summary.resumed_parts,
        "duration_ms": summary.duration_ms,
        "verified_objects": summary.verified_objects,
        "unverified_objects": summary.unverified_objects,
        "rereads": summary.rereads,
    });
    if let Some(c) = &summary.checksum {
        json["checksum"] = serde_json::json!({ "algorithm": c.algorithm, "value": c.value });
    }
    let lists = [
        ("skipped", serde_json::json!(summary.skipped)),
        ("renamed", serde_json::json!(summary.renamed)),
        ("utf8_fallbacks", serde_json::json!(summary.utf8_fallbacks)),
    ];
    for (name, value) in lists {
        if value.as_array().is_some_and(|a| !a.is_empty()) {
            json[name] = value;
        }
    }
    serde_json::to_string_pretty(&json).expect("JSON values serialize")
}
