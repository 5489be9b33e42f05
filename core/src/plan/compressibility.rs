//! Which data is already compressed, so `"compression": "auto"` stores it instead of
//! spending CPU to make it slightly larger: decided first by extension, then by the
//! object's leading bytes once they arrive (magic numbers, then a trial compression).

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

/// `auto`'s sniff of an object's first bytes: stored (compressed by its magic number, or
/// incompressible) rather than deflated. One rule for the writer and for the sniff before
/// a copy is chosen, which must decide alike on the same bytes.
pub fn sniffs_stored(head: &[u8]) -> bool {
    compressed_by_content(head) || incompressible(head)
}

/// How much of an object's start the trial compression looks at.
const TRIAL_BYTES: usize = 64 << 10;
/// Samples shorter than this are not judged: deflating them costs nothing anyway.
const TRIAL_MIN: usize = 1 << 10;

/// Whether the data's start shrinks by less than 3% under the fastest deflate level: data
/// no magic number gives away (encrypted, random, unlisted formats). Deflate would spend
/// ~25× the CPU of storing it (BENCHMARKS.md) for nothing.
pub fn incompressible(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(TRIAL_BYTES)];
    if sample.len() < TRIAL_MIN {
        return false;
    }
    let mut z = flate2::Compress::new(flate2::Compression::fast(), false);
    let mut out = Vec::with_capacity(sample.len() + sample.len() / 16 + 64);
    match z.compress_vec(sample, &mut out, flate2::FlushCompress::Finish) {
        Ok(_) => out.len() * 100 >= sample.len() * 97,
        Err(_) => false,
    }
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

    #[test]
    fn by_trial() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let random: Vec<u8> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(incompressible(&random));
        let text = "the quick brown fox jumps over the lazy dog\n".repeat(2000);
        assert!(!incompressible(text.as_bytes()));
        // Too short to judge.
        assert!(!incompressible(&random[..500]));
    }
}
