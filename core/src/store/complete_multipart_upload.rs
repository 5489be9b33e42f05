//! CompleteMultipartUpload: assembles the uploaded parts into the object.

use super::checksum::Checksum;
use super::request::{HttpRequest, RequestSpec};
use super::xml::escape_text;
use super::{Bucket, ObjectKey, Provider, StoreConfig, StoreError};

/// Completes an upload from its parts, which the body lists in ascending part
/// order ([`CompleteMultipartUpload::body`] sorts them). S3 may answer 200 and
/// still fail, sending `<Error>` (possibly after whitespace it sends to keep the
/// connection alive), so always use [`CompleteMultipartUpload::parse`]. Parts
/// other than the last must meet the store's minimum size (`EntityTooSmall`).
///
/// With [`Self::forbid_overwrite`] the completion fails, and nothing changes, when the key
/// already exists: S3 answers `412 PreconditionFailed` to `If-None-Match: *` (a
/// conditional write), OSS `409 FileAlreadyExists` to `x-oss-forbid-overwrite: true`
/// (an `x-oss-*` header, so it is signed); [`Self::destination_exists`] tells them apart
/// from other failures. The upload stays open then: abort it.
///
/// With [`Self::checksum`], S3 checks the whole object against the stated full-object
/// checksum (the parts carry theirs) and refuses a mismatch (`400 BadDigest`), leaving the
/// upload open; OSS takes no checksum but answers the object's `x-oss-hash-crc64ecma`.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>
/// <https://www.alibabacloud.com/help/en/oss/developer-reference/completemultipartupload>
#[derive(Clone, Debug)]
pub struct CompleteMultipartUpload<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
    parts: &'a [CompletedPart],
    forbid_overwrite: bool,
    checksum: Option<&'a Checksum>,
}

/// A part number with the `ETag` header its upload returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
    /// The part's checksum, as its upload sent it (S3 wants it listed with a full-object one).
    pub checksum: Option<Checksum>,
}

/// What a successful completion reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedUpload {
    pub etag: Option<String>,
    pub location: Option<String>,
    /// S3's `<ChecksumCRC64NVME>` (and the like) of the completed object, as written.
    pub checksums: Vec<(String, String)>,
}

impl<'a> CompleteMultipartUpload<'a> {
    pub fn new(
        bucket: &'a Bucket,
        key: &'a ObjectKey,
        upload_id: &'a str,
        parts: &'a [CompletedPart],
    ) -> Self {
        Self {
            bucket,
            key,
            upload_id,
            parts,
            forbid_overwrite: false,
            checksum: None,
        }
    }

    /// S3: states the archive's full-object checksum for the store to check.
    pub fn checksum(mut self, checksum: &'a Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Fail instead of replacing an existing object (see the type's documentation).
    pub fn forbid_overwrite(mut self, forbid: bool) -> Self {
        self.forbid_overwrite = forbid;
        self
    }

    /// Whether an error code is the store's "the key exists" answer to a completion
    /// with [`Self::forbid_overwrite`]: S3's `PreconditionFailed` (412), OSS's
    /// `FileAlreadyExists` (409).
    pub fn destination_exists(code: &str) -> bool {
        matches!(code, "PreconditionFailed" | "FileAlreadyExists")
    }

    /// The request body.
    pub fn body(&self) -> String {
        let mut parts: Vec<&CompletedPart> = self.parts.iter().collect();
        parts.sort_by_key(|p| p.part_number);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
                p.part_number,
                escape_text(&p.etag)
            ));
            if let Some(c) = &p.checksum {
                if let Some(e) = s3_element(c) {
                    xml.push_str(&format!("<{e}>{}</{e}>", c.header_value()));
                }
            }
            xml.push_str("</Part>");
        }
        xml.push_str("</CompleteMultipartUpload>");
        xml
    }

    /// The request; send [`Self::body`] with it.
    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("POST", cfg.object_url(self.bucket, self.key, false))
            .query("uploadId", self.upload_id)
            .header("content-type", "application/xml")
            .content_length(self.body().len() as u64);
        if let Some(c) = self.checksum.filter(|_| cfg.provider == Provider::S3) {
            spec = spec
                .header(c.algorithm.header(), c.header_value())
                .header("x-amz-checksum-type", "FULL_OBJECT");
        }
        if self.forbid_overwrite {
            spec = match cfg.provider {
                Provider::S3 => spec.header("if-none-match", "*"),
                Provider::Oss => spec.header("x-oss-forbid-overwrite", "true"),
            };
        }
        spec.sign(cfg, now_unix)
    }

    /// Parses the response of any status, catching a 200 that carries `<Error>`.
    pub fn parse(status: u16, body: &[u8]) -> Result<CompletedUpload, StoreError> {
        StoreError::check(status, body)?;
        // S3 and OSS say `<CompleteMultipartUploadResult>`, moto
        // `<CompleteMultipartUploadResponse>`. Any other root is no answer of the store's
        // (a proxy's page): whether it completed is unknown, not success.
        let root = crate::store::xml::parse(body).map_err(StoreError::invalid_response)?;
        if root.name == "Error" {
            return Err(StoreError::from_element(status, &root));
        }
        if !root.name.starts_with("CompleteMultipartUpload") {
            let root = format!("a 2xx answer with <{}> for its root", root.name);
            return Err(StoreError::invalid_response(root));
        }
        let text = |n: &str| {
            root.child_text(n)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let checksums = [
            "ChecksumCRC64NVME",
            "ChecksumCRC32",
            "ChecksumCRC32C",
            "ChecksumSHA1",
            "ChecksumSHA256",
        ]
        .into_iter()
        .filter_map(|n| Some((n.to_string(), text(n)?)))
        .collect();
        Ok(CompletedUpload {
            etag: text("ETag"),
            location: text("Location"),
            checksums,
        })
    }
}

/// S3's XML element for a part's checksum (`ChecksumCRC64NVME`); OSS lists none.
fn s3_element(c: &Checksum) -> Option<&'static str> {
    use super::checksum::Algorithm::*;
    Some(match c.algorithm {
        Crc64Nvme => "ChecksumCRC64NVME",
        Crc32 => "ChecksumCRC32",
        Crc32c => "ChecksumCRC32C",
        Sha1 => "ChecksumSHA1",
        Sha256 => "ChecksumSHA256",
        Crc64Ecma => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;
    use crate::store::ErrorKind;

    fn parts() -> Vec<CompletedPart> {
        vec![
            CompletedPart {
                part_number: 2,
                etag: "\"b2\"".into(),
                checksum: None,
            },
            CompletedPart {
                part_number: 1,
                etag: "\"a1&\"".into(),
                checksum: None,
            },
        ]
    }

    #[test]
    fn body_is_sorted_and_escaped() {
        let (b, k, p) = (bucket(), key("x.zip"), parts());
        let c = CompleteMultipartUpload::new(&b, &k, "U", &p);
        assert_eq!(
            c.body(),
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>\"a1&amp;\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"b2\"</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }

    #[test]
    fn request() {
        let (b, k, p) = (bucket(), key("x.zip"), parts());
        let c = CompleteMultipartUpload::new(&b, &k, "U 1", &p);
        let req = c.sign(&cfg(true), NOW);
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "http://127.0.0.1:9000/bkt/x.zip?uploadId=U%201");
        assert_eq!(
            req.header("content-length"),
            Some(c.body().len().to_string().as_str())
        );
    }

    #[test]
    fn forbid_overwrite_signs_the_stores_condition() {
        let (b, k, p) = (bucket(), key("x.zip"), parts());
        let plain = CompleteMultipartUpload::new(&b, &k, "U", &p).sign(&cfg(true), NOW);
        assert_eq!(plain.header("if-none-match"), None);
        let c = CompleteMultipartUpload::new(&b, &k, "U", &p).forbid_overwrite(true);
        let s3 = c.sign(&cfg(true), NOW);
        assert_eq!(s3.header("if-none-match"), Some("*"));
        assert_eq!(s3.header("x-oss-forbid-overwrite"), None);
        assert_eq!(
            signed_headers(&s3),
            "content-type;host;if-none-match;x-amz-content-sha256;x-amz-date"
        );
        let mut oss_cfg = cfg(false);
        oss_cfg.provider = Provider::Oss;
        let oss = c.sign(&oss_cfg, NOW);
        assert_eq!(oss.header("x-oss-forbid-overwrite"), Some("true"));
        assert_eq!(oss.header("if-none-match"), None);
        // Signed as an x-oss-* header: the canonical request holds it.
        let spec = RequestSpec::new("POST", oss_cfg.object_url(&b, &k, false))
            .header("x-oss-forbid-overwrite", "true");
        let headers = crate::store::signing::oss_v4::canonical_headers(&spec.headers, &[]);
        assert_eq!(headers, "x-oss-forbid-overwrite:true\n");
    }

    #[test]
    fn destination_exists_codes() {
        let s3 = CompleteMultipartUpload::parse(
            412,
            b"<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
        )
        .unwrap_err();
        let oss = CompleteMultipartUpload::parse(
            409,
            b"<Error><Code>FileAlreadyExists</Code><Message>The object you specified already exists and can not be overwritten.</Message><EC>0042-00000214</EC></Error>",
        )
        .unwrap_err();
        assert!(CompleteMultipartUpload::destination_exists(&s3.code));
        assert!(CompleteMultipartUpload::destination_exists(&oss.code));
        assert!(!CompleteMultipartUpload::destination_exists("NoSuchUpload"));
        // Neither is retried.
        assert_ne!(s3.kind(), ErrorKind::Transient);
        assert_ne!(oss.kind(), ErrorKind::Transient);
    }

    #[test]
    fn parse_success() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 <Location>http://Example-Bucket.s3.amazonaws.com/Example-Object</Location>
 <Bucket>Example-Bucket</Bucket><Key>Example-Object</Key>
 <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
</CompleteMultipartUploadResult>"#;
        let done = CompleteMultipartUpload::parse(200, xml).unwrap();
        assert_eq!(
            done.etag.as_deref(),
            Some("\"3858f62230ac3c915f300c664312c11f-9\"")
        );
        let page = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = CompleteMultipartUpload::parse(200, page).unwrap_err();
        assert_eq!(e.code, StoreError::INVALID_RESPONSE);
        let moto = br#"<CompleteMultipartUploadResponse><ETag>"e"</ETag></CompleteMultipartUploadResponse>"#;
        assert_eq!(
            CompleteMultipartUpload::parse(200, moto)
                .unwrap()
                .etag
                .as_deref(),
            Some("\"e\"")
        );
        assert_eq!(
            done.location.as_deref(),
            Some("http://Example-Bucket.s3.amazonaws.com/Example-Object")
        );
    }

    #[test]
    fn ok_status_with_error_body_fails() {
        let xml = b"\n\n  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId></Error>";
        let e = CompleteMultipartUpload::parse(200, xml).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (200, "InternalError"));
        assert_eq!(e.kind(), ErrorKind::Transient);
    }

    #[test]
    fn error_statuses_and_junk() {
        let e = CompleteMultipartUpload::parse(404, b"<Error><Code>NoSuchUpload</Code></Error>")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = CompleteMultipartUpload::parse(400, b"<Error><Code>EntityTooSmall</Code></Error>")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest);
        // An empty or cut-off 200 is not a success.
        assert!(CompleteMultipartUpload::parse(200, b"").is_err());
        assert!(CompleteMultipartUpload::parse(200, b"  <CompleteMultipartUploadResult>").is_err());
    }
}
