//! CompleteMultipartUpload: assembles the uploaded parts into the object.

use super::request::{HttpRequest, RequestSpec};
use super::xml::escape_text;
use super::{Bucket, ObjectKey, StoreConfig, StoreError};

/// Completes an upload from its parts, which the body lists in ascending part
/// order ([`CompleteMultipartUpload::body`] sorts them). S3 may answer 200 and
/// still fail, sending `<Error>` (possibly after whitespace it sends to keep the
/// connection alive), so always use [`CompleteMultipartUpload::parse`]. Parts
/// other than the last must meet the store's minimum size (`EntityTooSmall`).
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>
#[derive(Clone, Debug)]
pub struct CompleteMultipartUpload<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
    parts: &'a [CompletedPart],
}

/// A part number with the `ETag` header its upload returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// What a successful completion reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedUpload {
    pub etag: Option<String>,
    pub location: Option<String>,
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
        }
    }

    /// The request body.
    pub fn body(&self) -> String {
        let mut parts: Vec<&CompletedPart> = self.parts.iter().collect();
        parts.sort_by_key(|p| p.part_number);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.part_number,
                escape_text(&p.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        xml
    }

    /// The request; send [`Self::body`] with it.
    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        RequestSpec::new("POST", cfg.object_url(self.bucket, self.key, false))
            .query("uploadId", self.upload_id)
            .header("content-type", "application/xml")
            .content_length(self.body().len() as u64)
            .sign(cfg, now_unix)
    }

    /// Parses the response of any status, catching a 200 that carries `<Error>`.
    pub fn parse(status: u16, body: &[u8]) -> Result<CompletedUpload, StoreError> {
        StoreError::check(status, body)?;
        // Any root but `<Error>` is success: S3 says `<CompleteMultipartUploadResult>`,
        // moto `<CompleteMultipartUploadResponse>`.
        let root = crate::store::xml::parse(body).map_err(StoreError::invalid_response)?;
        if root.name == "Error" {
            return Err(StoreError::from_element(status, &root));
        }
        let text = |n: &str| {
            root.child_text(n)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(CompletedUpload {
            etag: text("ETag"),
            location: text("Location"),
        })
    }
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
            },
            CompletedPart {
                part_number: 1,
                etag: "\"a1&\"".into(),
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
