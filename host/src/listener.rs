//! One HTTP/1.1 accept loop for everything the host serves (the component, the embedded
//! store), and the handle that stops it.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping it stops accepting at once (open connections finish on
/// their own), [`ServerHandle::shutdown`] also waits for them.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, then waits until every open connection has finished
    /// the request it is serving and closed (idle ones close at once), so no answer is cut
    /// off by the process exiting.
    pub async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
        }
        self.task = None;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `addr` (port 0 picks one) and serves each connection with a clone of `service`.
pub async fn serve<S, B>(addr: SocketAddr, service: S) -> anyhow::Result<ServerHandle>
where
    S: Service<Request<Incoming>, Response = hyper::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!("accept failed: {err}");
                        continue;
                    }
                },
                _ = &mut stopped => break,
            };
            // Small answers must not wait out delayed ACKs (40 ms each).
            let _ = socket.set_nodelay(true);
            let service = service.clone();
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(socket), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(err) = conn.await {
                    tracing::debug!(%peer, "connection ended: {err}");
                }
            });
        }
        drop(listener); // refuse new connections while the open ones finish
        graceful.shutdown().await;
    });
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
