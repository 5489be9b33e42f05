//! ListParts: the parts an open multipart upload holds, to resume it.

use super::checksum::{Algorithm, Checksum};
use super::request::{HttpRequest, RequestSpec};
use super::{parse_root, Bucket, ObjectKey, StoreConfig, StoreError};

/// Lists the parts of `upload_id` (up to 1,000 a page, in part-number order). Pass
/// `next_part_number_marker` back for the next page.
///
/// Each part shows its ETag and size; S3 its checksum too when the upload was created
/// with one (`ChecksumCRC64NVME`, base64), OSS always (`HashCrc64ecma`, decimal). OSS
/// advises against completing an upload from this list alone, since a part may have been
/// stored wrong: zip-oss keeps a listed part only if its checksum (or ETag) is that of the
/// bytes it would send.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html>
#[derive(Clone, Debug)]
pub struct ListParts<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
    marker: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    /// The part's CRC-64 as the store states it, if it does.
    pub checksum: Option<Checksum>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<ListedPart>,
    /// Set when more parts follow: the marker for the next page.
    pub next_marker: Option<u32>,
}

impl<'a> ListParts<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey, upload_id: &'a str) -> Self {
        Self {
            bucket,
            key,
            upload_id,
            marker: None,
        }
    }

    /// Continues after a previous page's `next_marker`.
    pub fn after(mut self, marker: Option<u32>) -> Self {
        self.marker = marker;
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("GET", cfg.object_url(self.bucket, self.key, false))
            .query("uploadId", self.upload_id)
            .query("max-parts", "1000");
        if let Some(m) = self.marker {
            spec = spec.query("part-number-marker", m.to_string());
        }
        spec.sign(cfg, now_unix)
    }

    /// Parses a 2xx response body.
    pub fn parse(xml: &[u8]) -> Result<PartsPage, StoreError> {
        let root = parse_root(xml, "ListPartsResult")?;
        let parts =
            root.children("Part")
                .map(|p| {
                    let field = |name: &str| {
                        p.child_text(name).ok_or_else(|| {
                            StoreError::invalid_response(format!("part without <{name}>"))
                        })
                    };
                    let number = field("PartNumber")?.trim().parse::<u32>().map_err(|_| {
                        StoreError::invalid_response("a part number that is not one")
                    })?;
                    let size = field("Size")?
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| StoreError::invalid_response("a part size that is not one"))?;
                    let checksum = p
                        .child_text("ChecksumCRC64NVME")
                        .and_then(|v| Checksum::parse(Algorithm::Crc64Nvme, v))
                        .or_else(|| {
                            p.child_text("HashCrc64ecma")
                                .and_then(|v| Checksum::parse(Algorithm::Crc64Ecma, v))
                        });
                    Ok(ListedPart {
                        number,
                        etag: field("ETag")?.to_string(),
                        size,
                        checksum,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        let truncated = root
            .child_text("IsTruncated")
            .is_some_and(|t| t.eq_ignore_ascii_case("true"));
        let next_marker = root
            .child_text("NextPartNumberMarker")
            .and_then(|m| m.trim().parse::<u32>().ok())
            .filter(|_| truncated);
        if truncated && next_marker.is_none() {
            return Err(StoreError::invalid_response(
                "a truncated part list without <NextPartNumberMarker>",
            ));
        }
        Ok(PartsPage { parts, next_marker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let (b, k) = (bucket(), key("out/x.zip"));
        let req = ListParts::new(&b, &k, "U+1").sign(&cfg(true), NOW);
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt/out/x.zip?max-parts=1000&uploadId=U%2B1"
        );
        let req = ListParts::new(&b, &k, "U")
            .after(Some(7))
            .sign(&cfg(true), NOW);
        assert!(req.url.contains("part-number-marker=7"), "{}", req.url);
    }

    #[test]
    fn parse_s3_with_checksums() {
        // As in S3's API reference, with a checksum upload's ChecksumCRC64NVME.
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key>
  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
  <Part>
    <PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><Size>10485760</Size>
    <ChecksumCRC64NVME>rosUhgp5mIg=</ChecksumCRC64NVME>
  </Part>
  <Part>
    <PartNumber>3</PartNumber><LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag><Size>10485760</Size>
  </Part>
</ListPartsResult>"#;
        let page = ListParts::parse(xml).unwrap();
        assert_eq!(page.next_marker, Some(3));
        assert_eq!(page.parts.len(), 2);
        assert_eq!(page.parts[0].number, 2);
        assert_eq!(page.parts[0].size, 10_485_760);
        assert_eq!(page.parts[0].etag, "\"7778aef83f66abc1fa1e8477f296d394\"");
        assert_eq!(
            page.parts[0].checksum.as_ref().and_then(Checksum::as_crc),
            Some(0xae8b_1486_0a79_9888)
        );
        assert_eq!(page.parts[1].checksum, None);
    }

    #[test]
    fn parse_oss_and_the_last_page() {
        let xml = b"<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId>\
<NextPartNumberMarker>5</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>\
<Part><PartNumber>5</PartNumber><LastModified>2012-02-23T07:01:34.000Z</LastModified>\
<ETag>\"3349DC700140D7F86A0784842780****\"</ETag><HashCrc64ecma>11075746150488000352</HashCrc64ecma>\
<Size>6291456</Size></Part></ListPartsResult>";
        let page = ListParts::parse(xml).unwrap();
        assert_eq!(page.next_marker, None, "not truncated: no next page");
        let p = &page.parts[0];
        assert_eq!((p.number, p.size), (5, 6_291_456));
        assert_eq!(
            p.checksum,
            Some(Checksum::crc(
                Algorithm::Crc64Ecma,
                11_075_746_150_488_000_352
            ))
        );
        assert!(ListParts::parse(
            b"<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>"
        )
        .is_err());
        assert!(ListParts::parse(
            b"<ListPartsResult><Part><PartNumber>1</PartNumber></Part></ListPartsResult>"
        )
        .is_err());
        assert!(ListParts::parse(b"<ListPartsResult/>")
            .unwrap()
            .parts
            .is_empty());
    }
}
