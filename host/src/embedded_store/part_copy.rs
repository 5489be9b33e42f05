//! UploadPartCopy's pieces that do not depend on s3s: the copy-source range as S3 reads it,
//! and the copy itself (blocking, large reads), hashed as it goes so the part's ETag and
//! checksum come out of the one pass.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use md5::Digest as _;
use s3s::{S3Error, S3ErrorCode};

use super::checksums::{Algorithm, Checked, Hasher};

/// S3's largest part, and largest object copied without a range.
pub const MAX_PART: u64 = 5 << 30;

/// What is read and written at a time: few system calls for a part of many MiB.
const CHUNK: usize = 8 << 20;

fn invalid_argument(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg)
}

/// The bytes `(start, len)` that `x-amz-copy-source-range` asks of an object of `size`
/// bytes (the whole object without one), or S3's error: `bytes=first-last` only (one
/// range, both ends given, `first <= last`), else `400 InvalidArgument` as AWS words it;
/// a range reaching past the object is `400 InvalidArgument` too ("Range specified is not
/// valid for source object of size: N", AWS's answer, where GetObject would clip it).
pub fn source_range(range: Option<&str>, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let malformed = || {
        invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy"
                .into(),
        )
    };
    let digits = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = range
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((digits(a)?, digits(b)?)))
        .filter(|(a, b)| a <= b)
        .ok_or_else(malformed)?;
    if last >= size {
        return Err(invalid_argument(format!(
            "Range specified is not valid for source object of size: {size}"
        )));
    }
    Ok((first, last - first + 1))
}

/// The hex MD5 of what `file` holds (an object's ETag when its record has none).
pub fn md5_of(file: &mut File) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => md5.update(&buf[..n]),
        }
    }
    Ok(hex(&md5.finalize()))
}

/// Copies `len` bytes of `src` from `start` into a new file `dst`, hashing them: the
/// part's ETag (hex MD5) and its checksum under `alg`. A source shorter than asked (it
/// changed meanwhile) is an error, and `dst` is removed.
pub fn copy_range(
    src: &mut File,
    start: u64,
    len: u64,
    dst: &Path,
    alg: Algorithm,
) -> std::io::Result<(String, Checked)> {
    let result = (|| {
        src.seek(SeekFrom::Start(start))?;
        let mut out = File::create(dst)?;
        let (mut md5, mut hash) = (md5::Md5::new(), Hasher::new(alg));
        let mut buf = vec![0u8; CHUNK.min(len.max(1) as usize)];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = src.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the copy source ended before the range did",
                ));
            }
            md5.update(&buf[..n]);
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.flush()?;
        Ok((
            hex(&md5.finalize()),
            Checked {
                checksum: hash.finish(),
                len,
            },
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_s3_reads_them() {
        assert_eq!(source_range(None, 10).unwrap(), (0, 10));
        assert_eq!(source_range(Some("bytes=0-9"), 10).unwrap(), (0, 10));
        assert_eq!(source_range(Some("bytes=3-3"), 10).unwrap(), (3, 1));
        for bad in [
            "0-9",
            "bytes=0",
            "bytes=5-",
            "bytes=-5",
            "bytes=a-b",
            "bytes=4-3",
            "bytes=0-1,3-4",
            "bytes=+1-2",
        ] {
            let e = source_range(Some(bad), 10).unwrap_err();
            assert_eq!(e.code().as_str(), "InvalidArgument", "{bad}");
            assert!(e.message().unwrap().contains("bytes=first-last"), "{bad}");
        }
        let e = source_range(Some("bytes=0-10"), 10).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        assert!(e.message().unwrap().contains("size: 10"));
    }

    #[test]
    fn copies_and_hashes_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("src"), &data).unwrap();
        let mut src = File::open(dir.path().join("src")).unwrap();
        let dst = dir.path().join("dst");
        let (etag, part) = copy_range(&mut src, 10, 50_000, &dst, Algorithm::Crc64Nvme).unwrap();
        let want = &data[10..50_010];
        assert_eq!(std::fs::read(&dst).unwrap(), want);
        assert_eq!(etag, hex(&md5::Md5::digest(want)));
        assert_eq!(part.checksum, Algorithm::Crc64Nvme.of(want));
        assert_eq!(part.len, 50_000);
        assert_eq!(md5_of(&mut src).unwrap(), hex(&md5::Md5::digest(&data)));
        // Past the end (the source shrank): an error, and no file left behind.
        assert!(copy_range(&mut src, 99_990, 20, &dst, Algorithm::Crc64Nvme).is_err());
        assert!(!dst.exists());
    }
}
