//! The multipart upload: parts go out as they fill, several in flight at once.
//!
//! Each part is its own task on wstd's reactor, so the host runs the uploads in
//! parallel while the pack keeps reading objects; at most `max_in_flight` parts are
//! buffered, which bounds memory at `max_in_flight × part size`.

use std::collections::VecDeque;
use std::rc::Rc;

use wstd::http::body::Bytes;
use wstd::runtime::{spawn, Task};
use zip_oss_core::pack::Part;

use crate::error::PackError;
use crate::store_client::StoreClient;

pub struct Uploader {
    client: Rc<StoreClient>,
    bucket: Rc<str>,
    key: Rc<str>,
    upload_id: Rc<str>,
    max_in_flight: usize,
    in_flight: VecDeque<Task<Result<(u32, String), PackError>>>,
    done: Vec<(u32, String)>,
}

impl Uploader {
    pub fn new(
        client: Rc<StoreClient>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        max_in_flight: usize,
    ) -> Self {
        Uploader {
            client,
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            max_in_flight: max_in_flight.max(1),
            in_flight: VecDeque::new(),
            done: Vec::new(),
        }
    }

    /// Starts uploading `part`, first waiting for the oldest upload if the window is full.
    pub async fn submit(&mut self, part: Part) -> Result<(), PackError> {
        while self.in_flight.len() >= self.max_in_flight {
            self.wait_oldest().await?;
        }
        let (client, bucket, key, upload_id) = (
            self.client.clone(),
            self.bucket.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        );
        let data = Bytes::from(part.data);
        let number = part.number;
        self.in_flight.push_back(spawn(async move {
            let etag = client
                .upload_part(&bucket, &key, &upload_id, number, data)
                .await?;
            Ok((number, etag))
        }));
        Ok(())
    }

    /// Waits for every part; returns `(part number, ETag)` in part order.
    pub async fn finish(mut self) -> Result<Vec<(u32, String)>, PackError> {
        while !self.in_flight.is_empty() {
            self.wait_oldest().await?;
        }
        self.done.sort_by_key(|(n, _)| *n);
        Ok(self.done)
    }

    async fn wait_oldest(&mut self) -> Result<(), PackError> {
        if let Some(task) = self.in_flight.pop_front() {
            self.done.push(task.await?);
        }
        Ok(())
    }
}
