//! AbortMultipartUpload: discards an unfinished upload and its parts.

use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, StoreConfig};

/// Aborts an upload so its parts stop costing money. Answers 204; a part
/// upload still in flight may survive it, so abort after the uploads settle.
/// `NoSuchUpload` (404) means it is already gone, which callers can treat as done.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html>
#[derive(Clone, Debug)]
pub struct AbortMultipartUpload<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
    upload_id: &'a str,
}

impl<'a> AbortMultipartUpload<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey, upload_id: &'a str) -> Self {
        Self {
            bucket,
            key,
            upload_id,
        }
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        RequestSpec::new("DELETE", cfg.object_url(self.bucket, self.key, false))
            .query("uploadId", self.upload_id)
            .sign(cfg, now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let (b, k) = (bucket(), key("out/x.zip"));
        let req = AbortMultipartUpload::new(&b, &k, "U").sign(&cfg(true), NOW);
        assert_eq!(req.method, "DELETE");
        assert_eq!(req.url, "http://127.0.0.1:9000/bkt/out/x.zip?uploadId=U");
    }
}
