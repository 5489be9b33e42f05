//! A real S3-compatible store in-process: s3s-fs 0.14.1 over a folder (bucket = subfolder,
//! key = relative path), with s3s's `SimpleAuth`, so SigV4 header and presigned signatures
//! are checked. Path-style addressing only; binds wherever it is told (tests use loopback).
//!
//! Plain files written into `<root>/<bucket>/` are objects (s3s-fs needs no metadata file).
//! A key ending in `/` becomes a directory, and listings skip directories, so "folder marker"
//! objects cannot be represented. [`s3_fixes`] mends where s3s-fs departs from S3 in ways the
//! component depends on, checksums included ([`checksums`]): objects written as plain files
//! have none, as objects uploaded to S3 before 2025.

mod checksums;
mod folders;
mod listing;
mod part_copy;
mod plain_keys;
mod s3_fixes;

use anyhow::Context as _;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// A running store; dropping it stops accepting connections.
pub use crate::listener::ServerHandle as StoreHandle;

/// Serves `root` (created if missing) as an S3 store on `addr` (port 0 picks one), accepting
/// only requests signed with `access_key_id` / `secret`.
pub async fn start(
    root: impl AsRef<Path>,
    addr: SocketAddr,
    access_key_id: &str,
    secret: &str,
) -> anyhow::Result<(SocketAddr, StoreHandle)> {
    start_delayed(root, addr, access_key_id, secret, Duration::ZERO).await
}

/// As [`start`], every answer held back `delay` first (the latency of a store across a
/// network, which loopback lacks).
pub async fn start_delayed(
    root: impl AsRef<Path>,
    addr: SocketAddr,
    access_key_id: &str,
    secret: &str,
    delay: Duration,
) -> anyhow::Result<(SocketAddr, StoreHandle)> {
    let root = root.as_ref();
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(root)
        .map_err(|e| anyhow::anyhow!("opening store root {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(s3_fixes::FixedFs::new(fs, root));
    builder.set_auth(SimpleAuth::from_single(access_key_id, secret));
    builder.set_access(plain_keys::PlainKeys);
    let service = Delayed {
        inner: builder.build(),
        delay,
    };

    let handle = crate::listener::serve(addr, service, Default::default()).await?;
    Ok((handle.addr(), handle))
}

/// A service whose every answer leaves `delay` after the request arrived.
#[derive(Clone)]
struct Delayed<S> {
    inner: S,
    delay: Duration,
}

impl<S, R> hyper::service::Service<R> for Delayed<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        let answer = self.inner.call(req);
        let delay = self.delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer.await
        })
    }
}
