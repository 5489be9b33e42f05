//! s3s-fs with the S3 behaviour it lacks and the component relies on:
//!
//! - `ListObjectsV2` with `encoding-type=url` answers `<EncodingType>url</EncodingType>` but
//!   sends raw keys; real S3 and OSS percent-encode them (space as `+`). We encode them.
//! - `ListMultipartUploads` is not implemented; we track the uploads this process started
//!   and answers with those still open, so tests can prove no upload is left behind.
//! - An upload id it has no record of (completed or aborted already) is answered
//!   `403 AccessDenied`; S3 and OSS answer `404 NoSuchUpload`, which is what a client
//!   repeating a completion or abort whose answer was lost gets. We answer that.
//!
//! Every other operation the component and tests use is passed through unchanged.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

pub struct FixedFs {
    fs: FileSystem,
    /// Open uploads: `(bucket, key, upload id)` → when it was started.
    uploads: Mutex<BTreeMap<(String, String, String), SystemTime>>,
}

impl FixedFs {
    pub fn new(fs: FileSystem) -> Self {
        FixedFs {
            fs,
            uploads: Mutex::new(BTreeMap::new()),
        }
    }

    fn forget(&self, bucket: &str, key: &str, upload_id: &str) {
        self.uploads.lock().unwrap().remove(&(
            bucket.to_string(),
            key.to_string(),
            upload_id.to_string(),
        ));
    }
}

impl FixedFs {
    /// s3s-fs's `AccessDenied` for an upload id it has no record of, as S3's `NoSuchUpload`
    /// (the credentials are checked before: with the right ones, a missing record is the
    /// only way s3s-fs denies these operations).
    fn no_such_upload(&self, e: S3Error, upload_id: &str) -> S3Error {
        let open = self
            .uploads
            .lock()
            .unwrap()
            .keys()
            .any(|(_, _, id)| id == upload_id);
        if *e.code() == S3ErrorCode::AccessDenied && !open {
            s3s::s3_error!(
                NoSuchUpload,
                "The specified upload does not exist: it was completed or aborted"
            )
        } else {
            e
        }
    }
}

/// S3's `encoding-type=url`: form-urlencoding, so a space is `+`.
fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `S3` impl: the listed operations go straight to s3s-fs, the rest are written out.
/// (A macro around the whole impl, so `async_trait` sees the expanded methods.)
macro_rules! impl_s3 {
    ($($op:ident: $input:ident => $output:ident;)* { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl S3 for FixedFs {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$op(req).await
                }
            )*
            $($own)*
        }
    };
}

impl_s3! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        put_object: PutObjectInput => PutObjectOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
    {

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let id = req.input.upload_id.clone();
        self.fs.upload_part(req).await.map_err(|e| self.no_such_upload(e, &id))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let id = req.input.upload_id.clone();
        self.fs.list_parts(req).await.map_err(|e| self.no_such_upload(e, &id))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let encode = req.input.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let mut resp = self.fs.list_objects_v2(req).await?;
        if encode {
            let out = &mut resp.output;
            for obj in out.contents.iter_mut().flatten() {
                obj.key = obj.key.as_deref().map(url_encode);
            }
            out.prefix = out.prefix.as_deref().map(url_encode);
            out.start_after = out.start_after.as_deref().map(url_encode);
            out.delimiter = out.delimiter.as_deref().map(url_encode);
            for p in out.common_prefixes.iter_mut().flatten() {
                p.prefix = p.prefix.as_deref().map(url_encode);
            }
        }
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = self.fs.create_multipart_upload(req).await?;
        if let Some(id) = &resp.output.upload_id {
            self.uploads.lock().unwrap().insert((bucket, key, id.clone()), SystemTime::now());
        }
        Ok(resp)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key, id) = (req.input.bucket.clone(), req.input.key.clone(), req.input.upload_id.clone());
        let resp = self.fs.complete_multipart_upload(req).await.map_err(|e| self.no_such_upload(e, &id))?;
        self.forget(&bucket, &key, &id);
        Ok(resp)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let (bucket, key, id) = (req.input.bucket.clone(), req.input.key.clone(), req.input.upload_id.clone());
        let resp = self.fs.abort_multipart_upload(req).await.map_err(|e| self.no_such_upload(e, &id))?;
        self.forget(&bucket, &key, &id);
        Ok(resp)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads: Vec<MultipartUpload> = self
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k, _), _)| *b == input.bucket && k.starts_with(&prefix))
            .map(|((_, k, id), at)| MultipartUpload {
                key: Some(k.clone()),
                upload_id: Some(id.clone()),
                initiated: Some(Timestamp::from(*at)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}
}
