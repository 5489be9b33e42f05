//! ListMultipartUploads: uploads started but neither completed nor aborted.

use super::request::{HttpRequest, RequestSpec};
use super::uri::decode_form;
use super::{parse_root, parse_timestamp, Bucket, StoreConfig, StoreError};

/// Lists unfinished uploads (up to 1000 per page), to find and abort orphans.
/// Keys are requested URL-encoded and decoded by [`ListMultipartUploads::parse`].
/// Pass `next_key_marker` and `next_upload_id_marker` back for the next page.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html>
#[derive(Clone, Debug)]
pub struct ListMultipartUploads<'a> {
    bucket: &'a Bucket,
    prefix: Option<&'a str>,
    key_marker: Option<&'a str>,
    upload_id_marker: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated_unix: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

impl<'a> ListMultipartUploads<'a> {
    pub fn new(bucket: &'a Bucket) -> Self {
        Self {
            bucket,
            prefix: None,
            key_marker: None,
            upload_id_marker: None,
        }
    }

    pub fn prefix(mut self, prefix: &'a str) -> Self {
        self.prefix = Some(prefix);
        self
    }

    /// Continues after a previous page's `next_key_marker`/`next_upload_id_marker`.
    pub fn markers(
        mut self,
        key_marker: Option<&'a str>,
        upload_id_marker: Option<&'a str>,
    ) -> Self {
        self.key_marker = key_marker;
        self.upload_id_marker = upload_id_marker;
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("GET", cfg.bucket_url(self.bucket, false))
            .query("uploads", "")
            .query("encoding-type", "url");
        for (name, value) in [
            ("prefix", self.prefix),
            ("key-marker", self.key_marker),
            ("upload-id-marker", self.upload_id_marker),
        ] {
            if let Some(v) = value {
                spec = spec.query(name, v);
            }
        }
        spec.sign(cfg, now_unix)
    }

    /// Parses a 2xx response body.
    pub fn parse(xml: &[u8]) -> Result<UploadsPage, StoreError> {
        let root = parse_root(xml, "ListMultipartUploadsResult")?;
        let encoded = root
            .child_text("EncodingType")
            .is_some_and(|t| t.eq_ignore_ascii_case("url"));
        let decode = |raw: &str| -> Result<String, StoreError> {
            if encoded {
                decode_form(raw).ok_or_else(|| {
                    StoreError::invalid_response(format!("{raw:?} does not decode to UTF-8"))
                })
            } else {
                Ok(raw.to_string())
            }
        };
        let uploads = root
            .children("Upload")
            .map(|u| {
                let key = u
                    .child("Key")
                    .ok_or_else(|| StoreError::invalid_response("upload without <Key>"))?;
                let upload_id = u
                    .child_text("UploadId")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| StoreError::invalid_response("upload without <UploadId>"))?;
                Ok(UploadInfo {
                    key: decode(&key.text)?,
                    upload_id: upload_id.to_string(),
                    initiated_unix: u.child_text("Initiated").and_then(parse_timestamp),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next_key_marker = match root.child("NextKeyMarker").map(|m| &*m.text) {
            Some(m) if !m.is_empty() => Some(decode(m)?),
            _ => None,
        };
        Ok(UploadsPage {
            uploads,
            is_truncated: root
                .child_text("IsTruncated")
                .is_some_and(|t| t.eq_ignore_ascii_case("true")),
            next_key_marker,
            next_upload_id_marker: root
                .child_text("NextUploadIdMarker")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let b = bucket();
        let req = ListMultipartUploads::new(&b)
            .prefix("out/")
            .sign(&cfg(true), NOW);
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt?encoding-type=url&prefix=out%2F&uploads="
        );
        let req = ListMultipartUploads::new(&b)
            .markers(Some("k"), Some("u"))
            .sign(&cfg(false), NOW);
        assert_eq!(
            req.url,
            "http://bkt.127.0.0.1:9000/?encoding-type=url&key-marker=k&upload-id-marker=u&uploads="
        );
    }

    #[test]
    fn parse_s3() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>bucket</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>my%20movie.m2ts</NextKeyMarker>
  <NextUploadIdMarker>YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ</NextUploadIdMarker>
  <EncodingType>url</EncodingType><MaxUploads>3</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload>
    <Key>my+divisor</Key>
    <UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>
    <Initiator><ID>arn:aws:iam::111122223333:user/user1</ID></Initiator>
    <StorageClass>STANDARD</StorageClass>
    <Initiated>2010-11-10T20:48:33.000Z</Initiated>
  </Upload>
</ListMultipartUploadsResult>"#;
        let page = ListMultipartUploads::parse(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("my movie.m2ts"));
        assert_eq!(
            page.uploads,
            vec![UploadInfo {
                key: "my divisor".into(),
                upload_id: "XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw".into(),
                initiated_unix: Some(1_289_422_113),
            }]
        );
    }

    #[test]
    fn parse_oss_and_empty() {
        let xml = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>\
<Upload><Key>a+b.zip</Key><UploadId>0004B999EF5A239BB9138C6227D6****</UploadId></Upload>\
</ListMultipartUploadsResult>";
        let page = ListMultipartUploads::parse(xml).unwrap();
        assert_eq!(page.uploads[0].key, "a+b.zip");
        assert_eq!(page.next_key_marker, None);
        let empty = ListMultipartUploads::parse(b"<ListMultipartUploadsResult/>").unwrap();
        assert!(empty.uploads.is_empty());
        assert!(ListMultipartUploads::parse(b"<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>").is_err());
    }
}
