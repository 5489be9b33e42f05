//! Object-store requests, sans I/O: each action builds a signed
//! [`HttpRequest`] and parses its response; drivers move the bytes.
//!
//! One file per S3 operation; signing lives in [`signing`]. Every action
//! works against AWS S3, OSS's S3-compatible endpoint and local S3 servers;
//! response XML is matched on local names, so OSS's namespace-less
//! documents parse like S3's.

pub mod answer_wait;
pub mod checksum;
mod config;
mod crc_combine;
mod crc_pair;
mod credentials;
mod endpoint;
mod error;
mod etag;
pub mod host_hashes;
mod names;
mod request;
pub mod signing;
pub(crate) mod uri;
mod xml;

mod abort_multipart_upload;
mod complete_multipart_upload;
mod create_multipart_upload;
mod delete_object;
mod get_object;
mod head_object;
mod list_multipart_uploads;
mod list_objects_v2;
mod list_parts;
mod presigned_get;
mod put_object;
mod upload_part;
mod upload_part_copy;

pub use config::{ConfigError, Provider, ResourceUrl, StoreConfig};
pub use credentials::Credentials;
pub use endpoint::{Endpoint, Scheme};
pub use error::{ErrorKind, StoreError};
pub use etag::ETag;
pub use names::{Bucket, ObjectKey};
pub use request::HttpRequest;
pub use uri::{decode_form, encode_component, encode_path};

pub use abort_multipart_upload::AbortMultipartUpload;
pub use complete_multipart_upload::{CompleteMultipartUpload, CompletedPart, CompletedUpload};
pub use create_multipart_upload::{marker_header, CreateMultipartUpload};
pub use delete_object::DeleteObject;
pub use get_object::GetObject;
pub(crate) use head_object::parse_http_date;
pub use head_object::{HeadObject, ObjectHead};
pub use list_multipart_uploads::{ListMultipartUploads, UploadInfo, UploadsPage};
#[cfg(test)]
pub(crate) use list_objects_v2::test_page;
pub use list_objects_v2::{ListObjectsV2, ListPage, ObjectInfo};
pub use list_parts::{ListParts, ListedPart, PartsPage};
pub use presigned_get::PresignedGet;
pub use put_object::PutObject;
pub use upload_part::UploadPart;
pub use upload_part_copy::{CopiedPart, UploadPartCopy};

/// Parses an S3 timestamp such as `2009-10-12T17:50:30.000Z` to unix seconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Parses a response document, turning an `<Error>` root (S3 sends some
/// failures with status 200) into the error and checking the root name.
fn parse_root<'a>(body: &'a [u8], expected: &str) -> Result<xml::Element<'a>, StoreError> {
    let root = xml::parse(body).map_err(StoreError::invalid_response)?;
    if root.name == "Error" {
        return Err(StoreError::from_element(200, &root));
    }
    if root.name != expected {
        return Err(StoreError::invalid_response(format!(
            "expected <{expected}>, got <{}>",
            root.name
        )));
    }
    Ok(root)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// 2013-05-24T00:00:00Z, the AWS examples' date.
    pub const NOW: u64 = 1_369_353_600;

    pub fn cfg(path_style: bool) -> StoreConfig {
        let mut c = StoreConfig::new(
            Endpoint::parse("http://127.0.0.1:9000").unwrap(),
            "us-east-1",
            Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        );
        c.path_style = path_style;
        c
    }

    pub fn bucket() -> Bucket {
        Bucket::new("bkt").unwrap()
    }

    pub fn key(k: &str) -> ObjectKey {
        ObjectKey::new(k).unwrap()
    }

    /// The signed-headers list of a header-signed request.
    pub fn signed_headers(req: &HttpRequest) -> String {
        let auth = req.header("authorization").unwrap();
        auth.split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2009-10-12T17:50:30.000Z"),
            Some(1_255_369_830)
        );
        assert_eq!(parse_timestamp("2009-10-12T17:50:30Z"), Some(1_255_369_830));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    /// Every prefix and many byte flips of real responses: errors, never panics.
    #[test]
    fn parsers_survive_truncation_and_corruption() {
        let docs: [&[u8]; 3] = [
            b"<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>a%20b</Key><Size>12</Size><ETag>&quot;x&quot;</ETag><LastModified>2009-10-12T17:50:30.000Z</LastModified></Contents></ListBucketResult>",
            b"<ListMultipartUploadsResult><EncodingType>url</EncodingType><NextKeyMarker>k%E4</NextKeyMarker><Upload><Key>k</Key><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
            b"  <Error><Code>InternalError</Code><Message>m &#x4E2D;</Message><RequestId>r</RequestId><EC>e</EC></Error>",
        ];
        let run = |b: &[u8]| {
            let _ = ListObjectsV2::parse(b, Provider::S3);
            let _ = ListObjectsV2::parse(b, Provider::Oss);
            let _ = ListMultipartUploads::parse(b);
            let _ = CreateMultipartUpload::parse(b);
            let _ = CompleteMultipartUpload::parse(200, b);
            let _ = StoreError::from_response(500, b).kind();
        };
        for doc in docs {
            for end in 0..=doc.len() {
                run(&doc[..end]);
            }
            for (i, flip) in
                (0..doc.len()).zip([0x00u8, 0x3c, 0x3e, 0x26, 0x80, 0xff].iter().cycle())
            {
                let mut d = doc.to_vec();
                d[i] = *flip;
                run(&d);
            }
        }
    }

    #[test]
    fn roots() {
        assert!(parse_root(b"<A/>", "A").is_ok());
        let e = parse_root(b"<B/>", "A").unwrap_err();
        assert_eq!(e.code, StoreError::INVALID_RESPONSE);
        let e = parse_root(b"<Error><Code>SlowDown</Code></Error>", "A").unwrap_err();
        assert_eq!((e.status, e.kind()), (200, ErrorKind::Transient));
    }
}
