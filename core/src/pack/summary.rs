//! What a finished pack reports (the JSON answer and the `zip-pack` export's result).

/// One definition for every caller: the HTTP API serialises it, the WIT glue converts it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// The presigned link (empty for a streamed archive).
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
