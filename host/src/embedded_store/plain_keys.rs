//! Keys that stay inside their bucket's folder.
//!
//! s3s-fs joins a key onto `<root>/<bucket>/`, so a key with a `.` or `..` segment
//! (`../other/secret.txt`) or a leading `/` names a file of another bucket, or none of the
//! store's: a token limited to one bucket could read every other. S3 takes such keys; this
//! store refuses them, on every operation and in a copy's source, before anything runs.

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

/// The store's access check: a signature (as s3s's default check), then plain keys.
pub struct PlainKeys;

#[async_trait::async_trait]
impl S3Access for PlainKeys {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        if let S3Path::Object { key, .. } = cx.s3_path() {
            if leaves_its_folder(key) {
                return Err(refused());
            }
        }
        let source = cx.headers().get("x-amz-copy-source");
        if let Some(source) = source.and_then(|v| v.to_str().ok()) {
            let source = source.split('?').next().unwrap_or_default();
            let source = percent_encoding::percent_decode_str(source).decode_utf8_lossy();
            let source = source.strip_prefix('/').unwrap_or(&source);
            let key = source.split_once('/').map_or("", |(_, key)| key);
            if leaves_its_folder(key) {
                return Err(refused());
            }
        }
        Ok(())
    }
}

fn refused() -> s3s::S3Error {
    s3_error!(
        InvalidArgument,
        "this store takes no key with a `.` or `..` segment, or starting with `/`"
    )
}

/// Whether `key`, joined onto its bucket's folder, would name a path outside it.
pub fn leaves_its_folder(key: &str) -> bool {
    key.starts_with('/') || key.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_rooted_keys_leave_the_folder() {
        for key in [
            "../other/x",
            "a/../../x",
            "./x",
            "a/./b",
            "..",
            "/etc/passwd",
            "a/..",
        ] {
            assert!(leaves_its_folder(key), "{key}");
        }
        for key in [
            "a/b", "..a/b", "a../b", "a/.b", "a//b", "a/...", "中/文", "a\\..\\b",
        ] {
            assert!(!leaves_its_folder(key), "{key}");
        }
    }

    /// Against the store itself: a signed read of `../other/secret.txt` in bucket `demo`
    /// (or of a rooted key) is refused, and reads no byte of the other bucket's file.
    #[tokio::test]
    async fn the_store_refuses_keys_that_leave_their_bucket() {
        use http_body_util::{BodyExt, Empty};
        use zip_oss_core::store::{Bucket, Credentials, Endpoint, GetObject, ObjectKey};
        let root = tempfile::tempdir().unwrap();
        for (path, text) in [("demo/ok.txt", "fine"), ("other/secret.txt", "SECRET")] {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let addr = "127.0.0.1:0".parse().unwrap();
        let (addr, _store) = super::super::start(root.path(), addr, "id", "secret")
            .await
            .unwrap();
        let endpoint = Endpoint::parse(&format!("http://{addr}")).unwrap();
        let mut cfg = zip_oss_core::store::StoreConfig::new(
            endpoint,
            "us-east-1",
            Credentials::new("id", "secret"),
        );
        cfg.path_style = true;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let bucket = Bucket::new("demo").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let get = async |key: &str| {
            let key = ObjectKey::new(key).unwrap();
            let req = GetObject::new(&bucket, &key).sign(&cfg, now);
            let mut builder = hyper::Request::builder().method(req.method).uri(&req.url);
            for (k, v) in &req.headers {
                builder = builder.header(k, v);
            }
            let resp = client
                .request(builder.body(Empty::new()).unwrap())
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        assert_eq!(get("ok.txt").await, (200, "fine".to_string()));
        for key in ["../other/secret.txt", "x/../../other/secret.txt"] {
            let (status, body) = get(key).await;
            assert_eq!(status, 400, "{key}: {body}");
            assert!(!body.contains("SECRET"), "{key}: {body}");
            assert!(body.contains("InvalidArgument"), "{key}: {body}");
        }
    }
}
