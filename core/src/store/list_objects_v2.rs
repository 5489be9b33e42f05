//! ListObjectsV2: one page (up to 1000 keys) of the objects under a prefix.

use super::request::{HttpRequest, RequestSpec};
use super::uri::{decode_form, decode_percent};
use super::{parse_root, parse_timestamp, Bucket, Provider, StoreConfig, StoreError};

/// Lists one page of the objects whose keys start with `prefix`, in key order.
///
/// Keys are requested with `encoding-type=url` so that keys holding characters
/// XML 1.0 cannot carry still arrive intact; [`ListObjectsV2::parse`] decodes
/// them, and OSS's continuation token too (S3 never encodes the token). Pass the
/// page's `next_continuation_token` back to get the next page.
/// A page holds at most 1000 objects whatever `max-keys` says.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>
#[derive(Clone, Debug)]
pub struct ListObjectsV2<'a> {
    bucket: &'a Bucket,
    prefix: &'a str,
    continuation_token: Option<&'a str>,
    max_keys: Option<u32>,
    delimiter: Option<&'a str>,
    start_after: Option<&'a str>,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    /// Set exactly when `is_truncated` is.
    pub next_continuation_token: Option<String>,
    pub is_truncated: bool,
    /// With a delimiter: the decoded prefixes of the "folders" directly under the prefix.
    pub common_prefixes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The decoded key.
    pub key: String,
    pub size: u64,
    pub last_modified_unix: Option<i64>,
    /// As the server sent it, quotes included (S3 lower-case, OSS upper-case hex).
    pub etag: Option<String>,
}

impl<'a> ListObjectsV2<'a> {
    pub fn new(bucket: &'a Bucket, prefix: &'a str) -> Self {
        Self {
            bucket,
            prefix,
            continuation_token: None,
            max_keys: None,
            delimiter: None,
            start_after: None,
        }
    }

    /// Continues after a previous page; `None` starts from the beginning.
    pub fn continuation_token(mut self, token: Option<&'a str>) -> Self {
        self.continuation_token = token;
        self
    }

    pub fn max_keys(mut self, max_keys: u32) -> Self {
        self.max_keys = Some(max_keys);
        self
    }

    /// Groups keys past the prefix up to the first `delimiter` into
    /// [`ListPage::common_prefixes`], as a file browser shows folders.
    pub fn delimiter(mut self, delimiter: &'a str) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Starts after this key (S3 and OSS ignore it once a continuation token is given).
    pub fn start_after(mut self, key: Option<&'a str>) -> Self {
        self.start_after = key;
        self
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        let mut spec = RequestSpec::new("GET", cfg.bucket_url(self.bucket, false))
            .query("list-type", "2")
            .query("prefix", self.prefix)
            .query("encoding-type", "url");
        if let Some(token) = self.continuation_token {
            spec = spec.query("continuation-token", token);
        }
        if let Some(n) = self.max_keys {
            spec = spec.query("max-keys", n.to_string());
        }
        if let Some(d) = self.delimiter {
            spec = spec.query("delimiter", d);
        }
        if let Some(key) = self.start_after {
            spec = spec.query("start-after", key);
        }
        spec.sign(cfg, now_unix)
    }

    /// Parses a 2xx response body from a store speaking `provider`'s protocol.
    ///
    /// Under `encoding-type=url`, S3 encodes Key, Prefix, Delimiter and StartAfter but
    /// never the token, which is kept verbatim. OSS encodes its tokens as well; they are
    /// decoded as Aliyun's SDK decodes them (`%XX` only, `+` kept), so that
    /// [`ListObjectsV2::sign`] encodes the token exactly once, as OSS expects.
    pub fn parse(xml: &[u8], provider: Provider) -> Result<ListPage, StoreError> {
        let root = parse_root(xml, "ListBucketResult")?;
        let encoded = root
            .child_text("EncodingType")
            .is_some_and(|t| t.eq_ignore_ascii_case("url"));
        let objects =
            root.children("Contents")
                .map(|c| {
                    let raw_key = c.child("Key").map(|k| &*k.text).ok_or_else(|| {
                        StoreError::invalid_response("listing entry without <Key>")
                    })?;
                    let key = if encoded {
                        decode_form(raw_key).ok_or_else(|| {
                            StoreError::invalid_response(format!(
                                "listed key {raw_key:?} does not decode to UTF-8"
                            ))
                        })?
                    } else {
                        raw_key.to_string()
                    };
                    let size = c
                        .child_text("Size")
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            StoreError::invalid_response(format!(
                                "listed key {key:?} has no valid <Size>"
                            ))
                        })?;
                    Ok(ObjectInfo {
                        key,
                        size,
                        last_modified_unix: c.child_text("LastModified").and_then(parse_timestamp),
                        etag: c
                            .child_text("ETag")
                            .filter(|e| !e.is_empty())
                            .map(str::to_owned),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        let common_prefixes = root
            .children("CommonPrefixes")
            .filter_map(|c| c.child_text("Prefix"))
            .map(|raw| {
                if encoded {
                    decode_form(raw).ok_or_else(|| {
                        StoreError::invalid_response(format!(
                            "listed prefix {raw:?} does not decode to UTF-8"
                        ))
                    })
                } else {
                    Ok(raw.to_string())
                }
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let is_truncated = root
            .child_text("IsTruncated")
            .is_some_and(|t| t.eq_ignore_ascii_case("true"));
        let next_continuation_token = match root
            .child_text("NextContinuationToken")
            .filter(|t| !t.is_empty())
        {
            Some(t) if encoded && provider == Provider::Oss => {
                Some(decode_percent(t).ok_or_else(|| {
                    StoreError::invalid_response(format!(
                        "<NextContinuationToken> {t:?} does not decode to UTF-8"
                    ))
                })?)
            }
            t => t.map(str::to_owned),
        };
        if is_truncated && next_continuation_token.is_none() {
            // Going on would restart the listing; stopping would drop files.
            return Err(StoreError::invalid_response(
                "truncated listing without <NextContinuationToken>",
            ));
        }
        Ok(ListPage {
            objects,
            next_continuation_token: next_continuation_token.filter(|_| is_truncated),
            is_truncated,
            common_prefixes,
        })
    }
}

/// A page of `keys` (one byte each, no ETag) and `folders`: what the listing's and the
/// browsing's tests list.
#[cfg(test)]
pub(crate) fn test_page(keys: &[&str], folders: &[&str]) -> ListPage {
    ListPage {
        objects: keys
            .iter()
            .map(|k| ObjectInfo {
                key: k.to_string(),
                size: 1,
                last_modified_unix: None,
                etag: None,
            })
            .collect(),
        next_continuation_token: None,
        is_truncated: false,
        common_prefixes: folders.iter().map(|f| f.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request_path_style() {
        let b = bucket();
        let req = ListObjectsV2::new(&b, "files/中 a").sign(&cfg(true), NOW);
        assert_eq!(req.method, "GET");
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt?encoding-type=url&list-type=2&prefix=files%2F%E4%B8%AD%20a"
        );
        assert_eq!(req.header("x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
        assert_eq!(signed_headers(&req), "host;x-amz-content-sha256;x-amz-date");
    }

    #[test]
    fn request_with_token_virtual_hosted() {
        let b = bucket();
        let req = ListObjectsV2::new(&b, "")
            .continuation_token(Some("1/a+b=="))
            .max_keys(10)
            .sign(&cfg(false), NOW);
        assert_eq!(
            req.url,
            "http://bkt.127.0.0.1:9000/?continuation-token=1%2Fa%2Bb%3D%3D&encoding-type=url&list-type=2&max-keys=10&prefix="
        );
    }

    #[test]
    fn parses_s3_namespaced_url_encoded() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>dir%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>
  <Contents>
    <Key>dir/a+b%2Bc%20d.txt</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>dir/%E4%B8%AD%E6%96%87/</Key><LastModified>bogus</LastModified><Size>0</Size>
  </Contents>
</ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::S3).unwrap();
        assert!(!page.is_truncated);
        assert_eq!(page.next_continuation_token, None);
        assert_eq!(
            page.objects,
            vec![
                ObjectInfo {
                    key: "dir/a b+c d.txt".into(),
                    size: 434_234,
                    last_modified_unix: Some(1_255_369_830),
                    etag: Some("\"fba9dede5f27731c9771645a39863328\"".into()),
                },
                ObjectInfo {
                    key: "dir/中文/".into(),
                    size: 0,
                    last_modified_unix: None,
                    etag: None,
                },
            ]
        );
    }

    #[test]
    fn start_after_is_encoded_as_a_query_parameter() {
        let b = bucket();
        let req = ListObjectsV2::new(&b, "a/")
            .start_after(Some("a/b c/"))
            .sign(&cfg(true), NOW);
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt?encoding-type=url&list-type=2&prefix=a%2F&start-after=a%2Fb%20c%2F"
        );
    }

    #[test]
    fn delimiter_and_common_prefixes() {
        let b = bucket();
        let req = ListObjectsV2::new(&b, "a/")
            .delimiter("/")
            .sign(&cfg(true), NOW);
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt?delimiter=%2F&encoding-type=url&list-type=2&prefix=a%2F"
        );
        let xml = br#"<ListBucketResult><EncodingType>url</EncodingType>
  <IsTruncated>false</IsTruncated>
  <Contents><Key>a/x.txt</Key><Size>3</Size></Contents>
  <CommonPrefixes><Prefix>a/b%20c/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>a/%E4%B8%AD/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::S3).unwrap();
        assert_eq!(page.common_prefixes, vec!["a/b c/", "a/中/"]);
        assert_eq!(page.objects.len(), 1);
    }

    #[test]
    fn parses_oss_style_without_namespace() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>examplebucket</Name><Prefix></Prefix><MaxKeys>100</MaxKeys>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key>a+b c.txt</Key>
    <LastModified>2020-06-22T11:42:32.000Z</LastModified>
    <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE1****"</ETag>
    <Type>Normal</Type><Size>344606</Size><StorageClass>Standard</StorageClass>
    <Owner><ID>0022012****</ID><DisplayName>user-example</DisplayName></Owner>
  </Contents>
  <KeyCount>1</KeyCount>
</ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::Oss).unwrap();
        let o = &page.objects[0];
        // No <EncodingType>: the key is taken literally.
        assert_eq!(o.key, "a+b c.txt");
        assert_eq!(o.size, 344_606);
        assert_eq!(
            o.etag.as_deref(),
            Some("\"5B3C1A2E053D763E1B002CC607C5A0FE1****\"")
        );
        assert_eq!(o.last_modified_unix, Some(1_592_826_152));
    }

    #[test]
    fn truncated_page() {
        let xml = br#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::S3).unwrap();
        assert!(page.is_truncated);
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
    }

    fn oss_cfg() -> StoreConfig {
        let mut c = cfg(true);
        c.provider = Provider::Oss;
        c.region = "cn-shanghai".into();
        c
    }

    /// OSS URL-encodes its tokens under `encoding-type=url` (Aliyun's SDK unquotes them):
    /// the token is decoded, and the next request carries it encoded once, exactly as the
    /// page held it.
    #[test]
    fn oss_token_is_decoded_and_sent_back_encoded_once() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>bkt</Name><Prefix>files%2F</Prefix><MaxKeys>100</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>Cg%2Bx%2FeS5%2B%2F%2Bz%3D%3D</NextContinuationToken>
  <Contents><Key>files%2Fa%2Bb%20c.txt</Key><Size>1</Size></Contents>
  <KeyCount>1</KeyCount>
</ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::Oss).unwrap();
        assert_eq!(page.objects[0].key, "files/a+b c.txt");
        let token = page.next_continuation_token.unwrap();
        assert_eq!(token, "Cg+x/eS5+/+z==");

        let b = bucket();
        let req = ListObjectsV2::new(&b, "files/")
            .continuation_token(Some(&token))
            .sign(&oss_cfg(), NOW);
        assert_eq!(
            req.url,
            "http://127.0.0.1:9000/bkt?continuation-token=Cg%2Bx%2FeS5%2B%2F%2Bz%3D%3D&encoding-type=url&list-type=2&prefix=files%2F"
        );
    }

    /// As Aliyun's SDK (`unquote`, not `unquote_plus`), a literal `+` stays a `+`; without
    /// `encoding-type=url` the token is taken as it stands.
    #[test]
    fn oss_token_decoding_keeps_plus_and_needs_encoding_type() {
        let page = |encoding: &str| {
            let xml = format!(
                "<ListBucketResult>{encoding}<IsTruncated>true</IsTruncated>\
                 <NextContinuationToken>a+b%3D</NextContinuationToken></ListBucketResult>"
            );
            ListObjectsV2::parse(xml.as_bytes(), Provider::Oss)
                .unwrap()
                .next_continuation_token
                .unwrap()
        };
        assert_eq!(page("<EncodingType>url</EncodingType>"), "a+b=");
        assert_eq!(page(""), "a+b%3D");
    }

    /// S3 never encodes the token, even under `encoding-type=url`: one that looks encoded
    /// is kept verbatim (and its `%` encoded in the next request's query).
    #[test]
    fn s3_token_is_kept_verbatim() {
        let xml = br#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>
<NextContinuationToken>1ue%2BGcx%2FLP%3D+x</NextContinuationToken>
<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>"#;
        let page = ListObjectsV2::parse(xml, Provider::S3).unwrap();
        let token = page.next_continuation_token.unwrap();
        assert_eq!(token, "1ue%2BGcx%2FLP%3D+x");
        let b = bucket();
        let req = ListObjectsV2::new(&b, "")
            .continuation_token(Some(&token))
            .sign(&cfg(true), NOW);
        assert!(
            req.url
                .contains("continuation-token=1ue%252BGcx%252FLP%253D%2Bx&"),
            "{}",
            req.url
        );
    }

    #[test]
    fn rejects_bad_pages() {
        let oss_bad_token = b"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>a%FF</NextContinuationToken></ListBucketResult>";
        let e = ListObjectsV2::parse(oss_bad_token, Provider::Oss).unwrap_err();
        assert_eq!(e.code, StoreError::INVALID_RESPONSE, "{e}");
        assert!(ListObjectsV2::parse(oss_bad_token, Provider::S3).is_ok());
        for bad in [
            &b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"[..],
            b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%FF</Key><Size>1</Size></Contents></ListBucketResult>",
            b"<ListAllMyBucketsResult/>",
            b"",
        ] {
            for provider in [Provider::S3, Provider::Oss] {
                let e = ListObjectsV2::parse(bad, provider).unwrap_err();
                assert_eq!(e.code, StoreError::INVALID_RESPONSE, "{e}");
            }
        }
        let e = ListObjectsV2::parse(b"<Error><Code>NoSuchBucket</Code></Error>", Provider::S3)
            .unwrap_err();
        assert_eq!(e.code, "NoSuchBucket");
    }

    #[test]
    fn empty_listing() {
        let page = ListObjectsV2::parse(
            b"<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>",
            Provider::S3,
        )
        .unwrap();
        assert!(page.objects.is_empty() && !page.is_truncated);
    }
}
