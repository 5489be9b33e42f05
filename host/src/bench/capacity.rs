//! The store's capacity: the I/O any packer of a scenario must get through the store, done
//! by native clients with no packing at all. One client reads every object (whole, many
//! GETs in flight) while another writes as many bytes as one multipart upload (8 MiB
//! parts, 4 in flight), both at once, as a pack does. Each pack's figures are given as a
//! ratio to this, measured in the same run against the same store, so a noisy machine
//! moves both.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use zip_oss_core::store::{
    Bucket, CompleteMultipartUpload, CompletedPart, CreateMultipartUpload, DeleteObject, GetObject,
    HttpRequest, ListObjectsV2, ObjectKey, StoreConfig, UploadPart,
};

use super::{now_unix, store_config, Scenario, BUCKET};
use crate::demo::pseudo_random;

pub(super) type Http = Client<HttpConnector, Full<Bytes>>;

/// GETs in flight: many small objects need a deep window, large ones a few streams.
fn reads_in_flight(s: &Scenario) -> usize {
    if s.sizes.iter().all(|&n| n <= 1 << 20) {
        16
    } else {
        8
    }
}

const PART: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 4;

/// Seconds the store takes to list the scenario's objects (every page, one at a time, as
/// any packer must before it knows the archive's layout).
pub async fn listing(endpoint: &str, s: &Scenario) -> anyhow::Result<f64> {
    let cfg = store_config(endpoint)?;
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let bucket = Bucket::new(BUCKET)?;
    let started = Instant::now();
    let (mut token, mut keys) = (None::<String>, 0);
    loop {
        let req = ListObjectsV2::new(&bucket, s.prefix)
            .continuation_token(token.as_deref())
            .sign(&cfg, now_unix());
        let page = ListObjectsV2::parse(&send(&client, req, Bytes::new()).await?, cfg.provider)?;
        keys += page.objects.len();
        token = page.next_continuation_token;
        if token.is_none() {
            break;
        }
    }
    if keys != s.sizes.len() {
        bail!("listed {keys} keys of {}", s.sizes.len());
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds the store takes to serve the scenario's reads and an upload of as many bytes.
pub async fn measure(endpoint: &str, s: &Scenario) -> anyhow::Result<f64> {
    let cfg = store_config(endpoint)?;
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let total: usize = s.sizes.iter().sum();
    let (reads, writes) = tokio::join!(
        read_all(&client, &cfg, s),
        write_as_one_upload(&client, &cfg, total)
    );
    reads?;
    writes?;
    Ok(started.elapsed().as_secs_f64())
}

async fn read_all(client: &Http, cfg: &StoreConfig, s: &Scenario) -> anyhow::Result<()> {
    let bucket = Bucket::new(BUCKET)?;
    let mut tasks = tokio::task::JoinSet::new();
    for (key, size) in s.objects() {
        if tasks.len() >= reads_in_flight(s) {
            tasks.join_next().await.expect("non-empty")??;
        }
        let (client, cfg, bucket) = (client.clone(), cfg.clone(), bucket.clone());
        tasks.spawn(async move {
            let key = ObjectKey::new(key)?;
            let req = GetObject::new(&bucket, &key).sign(&cfg, now_unix());
            let read = read_counting(&client, req).await?;
            if read != size {
                bail!("read {read} bytes of {}, {size} expected", key.as_str());
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// One multipart upload of `total` bytes, then deleted.
async fn write_as_one_upload(client: &Http, cfg: &StoreConfig, total: usize) -> anyhow::Result<()> {
    let bucket = Bucket::new(BUCKET)?;
    let key = ObjectKey::new("capacity/upload.bin")?;
    let req = CreateMultipartUpload::new(&bucket, &key).sign(cfg, now_unix());
    let upload_id = CreateMultipartUpload::parse(&send(client, req, Bytes::new()).await?)?;
    let upload_id: Arc<str> = upload_id.into();
    let data = Bytes::from(pseudo_random(PART));
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::new();
    let count = total.div_ceil(PART).max(1);
    for i in 0..count {
        if tasks.len() >= PARTS_IN_FLIGHT {
            parts.push(tasks.join_next().await.expect("non-empty")??);
        }
        let len = PART.min(total - i * PART);
        let (client, cfg, bucket, key, id) = (
            client.clone(),
            cfg.clone(),
            bucket.clone(),
            key.clone(),
            upload_id.clone(),
        );
        let body = data.slice(..len);
        tasks.spawn(async move {
            let number = i as u32 + 1;
            let req =
                UploadPart::new(&bucket, &key, &id, number, len as u64).sign(&cfg, now_unix());
            let (_, etag) = send_for_etag(&client, req, body).await?;
            anyhow::Ok(CompletedPart {
                part_number: number,
                etag,
                checksum: None,
            })
        });
    }
    while let Some(r) = tasks.join_next().await {
        parts.push(r??);
    }
    parts.sort_by_key(|p| p.part_number);
    let complete = CompleteMultipartUpload::new(&bucket, &key, &upload_id, &parts);
    send(
        client,
        complete.sign(cfg, now_unix()),
        Bytes::from(complete.body()),
    )
    .await?;
    send(
        client,
        DeleteObject::new(&bucket, &key).sign(cfg, now_unix()),
        Bytes::new(),
    )
    .await?;
    Ok(())
}

/// A GET's body length, its frames dropped as they come: a packer streams what it reads,
/// and collecting an object into one buffer would charge the clients a copy no packer needs.
async fn read_counting(client: &Http, req: HttpRequest) -> anyhow::Result<u64> {
    let what = what(&req);
    let resp = client
        .request(hyper_request(&req, Bytes::new())?)
        .await
        .with_context(|| what.clone())?;
    if !resp.status().is_success() {
        bail!("{what}: {}", resp.status());
    }
    let mut body = resp.into_body();
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            read += data.len() as u64;
        }
    }
    Ok(read)
}

pub(super) async fn send(client: &Http, req: HttpRequest, body: Bytes) -> anyhow::Result<Bytes> {
    Ok(send_for_etag(client, req, body).await?.0)
}

/// Sends a signed request; its body and `ETag`, or an error on a non-2xx answer.
async fn send_for_etag(
    client: &Http,
    req: HttpRequest,
    body: Bytes,
) -> anyhow::Result<(Bytes, String)> {
    let what = what(&req);
    let resp = client
        .request(hyper_request(&req, body)?)
        .await
        .with_context(|| what.clone())?;
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{what}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok((body, etag))
}

/// A signed request as hyper sends it.
fn hyper_request(req: &HttpRequest, body: Bytes) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    let mut builder = hyper::Request::builder().method(req.method).uri(&req.url);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    Ok(builder.body(Full::new(body))?)
}

/// A request as its errors name it: method and URL without the query (which may hold a
/// signature).
fn what(req: &HttpRequest) -> String {
    format!("{} {}", req.method, req.url.split('?').next().unwrap_or(""))
}
