//! DeleteObject: removes an object.

use super::request::{HttpRequest, RequestSpec};
use super::{Bucket, ObjectKey, StoreConfig};

/// Deletes one object; deleting a missing key succeeds (`204`). zip-oss deletes only an
/// archive it just completed whose checksum the store contradicts, so that no wrong
/// archive stays visible.
///
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>
#[derive(Clone, Debug)]
pub struct DeleteObject<'a> {
    bucket: &'a Bucket,
    key: &'a ObjectKey,
}

impl<'a> DeleteObject<'a> {
    pub fn new(bucket: &'a Bucket, key: &'a ObjectKey) -> Self {
        Self { bucket, key }
    }

    pub fn sign(&self, cfg: &StoreConfig, now_unix: u64) -> HttpRequest {
        RequestSpec::new("DELETE", cfg.object_url(self.bucket, self.key, false)).sign(cfg, now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[test]
    fn request() {
        let (b, k) = (bucket(), key("out/x.zip"));
        let req = DeleteObject::new(&b, &k).sign(&cfg(false), NOW);
        assert_eq!(req.method, "DELETE");
        assert_eq!(req.url, "http://bkt.127.0.0.1:9000/out/x.zip");
    }
}
