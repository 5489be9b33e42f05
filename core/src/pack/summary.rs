//! What a finished pack reports (the JSON answer and the `zip-pack` export's result).

/// One definition for every caller: the HTTP API serialises it, the WIT glue converts it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// The presigned link (empty for a streamed archive).
    pub url: String,
    pub key: String,
    pub entries: u64,
    /// Object bytes that passed through the packer (read, and uploaded or streamed).
    pub bytes_read: u64,
    /// Object bytes the store copied into the archive itself (`UploadPartCopy`), never
    /// passed through the packer (but read by the host to hash them: `hashed_bytes`).
    pub copied_bytes: u64,
    /// Objects whose middle the store copied (their heads were read, and not checked).
    pub copied_objects: u64,
    /// Object bytes the host read only to hash them, so that the store could copy them
    /// (no record or store checksum told their CRC-32): read, never uploaded. A hashing
    /// done again after the store's checksum contradicted it counts again.
    pub hashed_bytes: u64,
    pub archive_bytes: u64,
    pub parts: u32,
    /// Parts an earlier run of the same request had uploaded before it died, kept.
    pub resumed_parts: u32,
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
    /// Objects whose bytes matched the store's checksum of them.
    pub verified_objects: u64,
    /// Objects the store keeps no usable checksum of (none, or S3's composite `…-N`):
    /// packed unchecked.
    pub unverified_objects: u64,
    /// Objects read a second time after their bytes (or the host's hashing of them, for
    /// a copy) did not match.
    pub rereads: u64,
    /// The archive's checksum as the store shows it (none for a streamed archive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ArchiveChecksum>,
}

/// `{"algorithm": "crc64nvme", "value": "…"}`: compare with the object's
/// `x-amz-checksum-crc64nvme` (S3, base64) or `x-oss-hash-crc64ecma` (OSS, decimal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveChecksum {
    pub algorithm: String,
    pub value: String,
}

impl From<crate::store::checksum::Checksum> for ArchiveChecksum {
    fn from(c: crate::store::checksum::Checksum) -> Self {
        ArchiveChecksum {
            algorithm: c.algorithm.name().to_string(),
            value: c.header_value(),
        }
    }
}
