//! The `zip-pack` export's types to and from core's (one definition each lives in core).

use zip_oss_core::pack::{PackError, Summary};
use zip_oss_core::plan::{Compression, Folders, PackRequest, SourceFile};
use zip_oss_core::zip::NameEncoding;

use crate::exports::zip_oss::pack::zip_pack;

pub fn request(r: zip_pack::PackRequest) -> Result<PackRequest, PackError> {
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
        // An embedder gets the outcome as the call's result.
        callback: None,
        // The host's `copy` setting decides (`config::Service::from_wit`).
        copy: None,
    };
    req.validate()
        .map_err(|e| PackError::invalid(e.to_string()))?;
    Ok(req)
}

pub fn summary(s: Summary) -> zip_pack::PackSummary {
    zip_pack::PackSummary {
        url: s.url,
        key: s.key,
        entries: s.entries,
        bytes_read: s.bytes_read,
        copied_bytes: s.copied_bytes,
        copied_objects: s.copied_objects,
        hashed_bytes: s.hashed_bytes,
        archive_bytes: s.archive_bytes,
        parts: s.parts,
        resumed_parts: s.resumed_parts,
        duration_ms: s.duration_ms,
        skipped: s.skipped,
        renamed: s.renamed,
        utf8_fallbacks: s.utf8_fallbacks,
        verified_objects: s.verified_objects,
        unverified_objects: s.unverified_objects,
        rereads: s.rereads,
        checksum: s.checksum.map(|c| zip_pack::ArchiveChecksum {
            algorithm: c.algorithm,
            value: c.value,
        }),
    }
}

pub fn error(e: PackError) -> zip_pack::PackError {
    zip_pack::PackError {
        status: e.status(),
        code: e.code().to_string(),
        message: e.to_string(),
    }
}
