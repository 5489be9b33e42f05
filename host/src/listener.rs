//! One HTTP/1.1 accept loop for everything the host serves (the component, the embedded
//! store), and the handle that stops it.
//!
//! Open to strangers, so bounded against them: a request head must arrive within
//! [`Limits::head_within`] (and an idle keep-alive connection closes after as long), an
//! answer's bytes must be taken within [`Limits::write_within`] (a client that stops
//! reading a streamed archive would otherwise hold its pack, and a slot, for as long as
//! the request may run), at most [`Limits::connections`] are served at once (more wait in
//! the kernel's backlog), and a failed accept (out of file descriptors) waits a moment
//! and is logged once a second, not in a loop as fast as the CPU goes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
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

/// What one server lets its clients hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For a request's head to arrive, and for an idle connection's next.
    pub head_within: Duration,
    /// For the client to take the answer's next bytes once the socket's buffer is full;
    /// past it the connection is closed, and what was writing the answer stops.
    pub write_within: Duration,
    /// Connections served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_within: Duration::from_secs(30),
            write_within: Duration::from_secs(120),
            // Below the usual 1,024 file descriptors a process may open by default.
            connections: 768,
        }
    }
}

/// Binds `addr` (port 0 picks one) and serves each connection with a clone of `service`,
/// within `limits`.
pub async fn serve<S, B>(
    addr: SocketAddr,
    service: S,
    limits: Limits,
) -> anyhow::Result<ServerHandle>
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
        let room = Arc::new(Semaphore::new(limits.connections.max(1)));
        let mut warned: Option<Instant> = None;
        loop {
            let permit = tokio::select! {
                permit = room.clone().acquire_owned() => permit.expect("never closed"),
                _ = &mut stopped => break,
            };
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                            tracing::warn!("accept failed: {err}");
                            warned = Some(Instant::now());
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut stopped => break,
            };
            // Small answers must not wait out delayed ACKs (40 ms each).
            let _ = socket.set_nodelay(true);
            let service = service.clone();
            let mut socket = tokio_io_timeout::TimeoutStream::new(socket);
            socket.set_write_timeout(Some(limits.write_within));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(limits.head_within)
                .serve_connection(TokioIo::new(Box::pin(socket)), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _permit = permit;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn hello() -> impl Service<
        Request<Incoming>,
        Response = hyper::Response<String>,
        Error = std::convert::Infallible,
        Future = std::future::Ready<Result<hyper::Response<String>, std::convert::Infallible>>,
    > + Clone {
        hyper::service::service_fn(|_req: Request<Incoming>| {
            std::future::ready(Ok(hyper::Response::new("hello".to_string())))
        })
    }

    /// Reads until the server closes the connection; what it sent.
    async fn until_closed(socket: &mut tokio::net::TcpStream) -> String {
        let mut got = Vec::new();
        let _ = socket.read_to_end(&mut got).await;
        String::from_utf8_lossy(&got).into_owned()
    }

    /// A head that never ends and a connection left idle are closed once their time is
    /// up, and while the only room is held, the next client waits, then is served.
    #[tokio::test]
    async fn slow_heads_and_idle_connections_are_closed_and_room_is_bounded() {
        let limits = Limits {
            head_within: Duration::from_millis(300),
            connections: 1,
            ..Limits::default()
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = serve(addr, hello(), limits).await.unwrap();
        let started = Instant::now();
        let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // The only room is the slow client's: the next is not served until it is gone.
        let mut next = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(150), next.read(&mut byte)).await;
        assert!(early.is_err(), "answered while the only room was held");
        let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut slow))
            .await
            .expect("a head that never ends is cut off");
        assert!(!closed.contains("hello"), "{closed}");
        let answer = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut next))
            .await
            .expect("served once the room is free");
        assert!(answer.ends_with("hello"), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Served, then left idle: closed too.
        let mut idle = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut idle))
            .await
            .expect("an idle connection is closed");
        assert!(answer.ends_with("hello"), "{answer}");
    }
}
