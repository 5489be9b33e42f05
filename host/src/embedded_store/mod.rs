//! A real S3-compatible store in-process: s3s-fs 0.14.1 over a folder (bucket = subfolder,
//! key = relative path), with s3s's `SimpleAuth`, so SigV4 header and presigned signatures
//! are checked. Path-style addressing only; binds wherever it is told (tests use loopback).
//!
//! Plain files written into `<root>/<bucket>/` are objects (s3s-fs needs no metadata file).
//! A key ending in `/` becomes a directory, and listings skip directories, so "folder marker"
//! objects cannot be represented. [`s3_fixes`] mends where s3s-fs departs from S3 in ways the
//! component depends on.

mod s3_fixes;

use anyhow::Context as _;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running store; dropping it stops accepting connections.
pub struct StoreHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl StoreHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the endpoint to give the component (path-style).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves `root` (created if missing) as an S3 store on `addr` (port 0 picks one), accepting
/// only requests signed with `access_key_id` / `secret`.
pub async fn start(
    root: impl AsRef<Path>,
    addr: SocketAddr,
    access_key_id: &str,
    secret: &str,
) -> anyhow::Result<(SocketAddr, StoreHandle)> {
    let root = root.as_ref();
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(root)
        .map_err(|e| anyhow::anyhow!("opening store root {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(s3_fixes::FixedFs::new(fs));
    builder.set_auth(SimpleAuth::from_single(access_key_id, secret));
    let service = builder.build();

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => {
                        // Small responses must not wait out delayed ACKs (40 ms each).
                        let _ = socket.set_nodelay(true);
                        socket
                    }
                    Err(err) => {
                        tracing::warn!("store accept failed: {err}");
                        continue;
                    }
                },
                _ = &mut stopped => break,
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok((
        addr,
        StoreHandle {
            addr,
            stop: Some(stop),
            task: Some(task),
        },
    ))
}
