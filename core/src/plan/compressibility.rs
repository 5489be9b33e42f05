//! Which data is already compressed, so `"compression": "auto"` stores it instead of
//! spending CPU to make it slightly larger: decided first by extension, then by the
//! object's leading bytes once they arrive.

/// Extensions of formats that are compressed already (lower case, without the dot).
const COMPRESSED_EXTENSIONS: &[&str] = &[
    // images
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "jxl",
    // video and audio
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "mp3", "m4a", "aac", "ogg", "oga",
    "opus", "flac", "wma", // archives and compressed streams
    "zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "7z", "rar", "lz4", "br", "cab", "jar",
    "apk", "war", // office documents (zip containers) and other packed formats
    "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "woff", "woff2", "pdf",
];

/// By the name's extension.
pub fn compressed_by_extension(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => COMPRESSED_EXTENSIONS
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}

/// By magic numbers at the start of the data.
pub fn compressed_by_content(head: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"\x89PNG",
        b"\xFF\xD8\xFF", // JPEG
        b"GIF8",
        b"PK\x03\x04", // zip and everything built on it
        b"\x1F\x8B",   // gzip
        b"BZh",
        b"\xFD7zXZ\x00", // xz
        b"7z\xBC\xAF\x27\x1C",
        b"Rar!\x1A\x07",
        b"\x28\xB5\x2F\xFD", // zstd
        b"%PDF",
        b"OggS",
        b"fLaC",
        b"ID3",              // mp3
        b"\x1A\x45\xDF\xA3", // matroska / webm
        b"wOF2",
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // RIFF....WEBP, ISO base media (mp4, mov, heic): "ftyp" at offset 4
    (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP")
        || (head.len() >= 8 && &head[4..8] == b"ftyp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension() {
        assert!(compressed_by_extension("a/photo.JPG"));
        assert!(compressed_by_extension("report.docx"));
        assert!(!compressed_by_extension("notes.txt"));
        assert!(!compressed_by_extension(".zip"));
        assert!(!compressed_by_extension("zip"));
    }

    #[test]
    fn by_content() {
        assert!(compressed_by_content(b"\x89PNG\r\n\x1a\n...."));
        assert!(compressed_by_content(b"\0\0\0\x18ftypmp42"));
        assert!(compressed_by_content(b"PK\x03\x04\x14\0"));
        assert!(!compressed_by_content(b"hello world"));
        assert!(!compressed_by_content(b""));
    }
}
