//! The pooled outgoing client against a real loopback HTTP server: keep-alive reuse, the
//! concurrency limit, the timeouts and cancellation.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};
use zip_oss::outgoing::{OutgoingClient, OutgoingOptions};

/// A body that yields one chunk and then never another (a stalled server).
struct Stall(bool);

impl hyper::body::Body for Stall {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(
                b"first",
            )))))
        }
    }
}

/// A server answering every request after `delay`; records each connection's peer port.
async fn server(delay: Duration) -> (SocketAddr, Arc<Mutex<HashSet<u16>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peers = Arc::new(Mutex::new(HashSet::new()));
    let seen = peers.clone();
    tokio::spawn(async move {
        loop {
            let (socket, peer) = listener.accept().await.unwrap();
            seen.lock().unwrap().insert(peer.port());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: Request<hyper::body::Incoming>| async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (addr, peers)
}

fn get(addr: SocketAddr) -> Request<WasiBody> {
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    Request::get(format!("http://{addr}/"))
        .header("host", addr.to_string())
        .body(body)
        .unwrap()
}

async fn send_and_read(client: &OutgoingClient, addr: SocketAddr) -> Result<Bytes, Error> {
    let response = client.send(get(addr), None, None).await?;
    Ok(response.into_body().collect().await?.to_bytes())
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let (addr, peers) = server(Duration::ZERO).await;
    let client = OutgoingClient::new(OutgoingOptions::default());
    for _ in 0..10 {
        assert_eq!(send_and_read(&client, addr).await.unwrap(), "ok");
    }
    assert_eq!(peers.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrency_limit_queues_requests() {
    let (addr, _) = server(Duration::from_millis(200)).await;
    let run = |limit: usize| async move {
        let client = OutgoingClient::new(OutgoingOptions {
            max_concurrency: limit,
            ..Default::default()
        });
        let started = Instant::now();
        let all = (0..6).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { send_and_read(&client, addr).await.unwrap() })
        });
        for task in all.collect::<Vec<_>>() {
            task.await.unwrap();
        }
        started.elapsed()
    };
    let parallel = run(6).await;
    let limited = run(2).await;
    assert!(
        parallel < Duration::from_millis(550),
        "6 at once took {parallel:?}"
    );
    assert!(
        limited >= Duration::from_millis(590),
        "3 waves of 2 took {limited:?}"
    );
}

#[tokio::test]
async fn first_byte_timeout_from_request_options() {
    let (addr, _) = server(Duration::from_secs(5)).await;
    let client = OutgoingClient::new(OutgoingOptions::default());
    let options = RequestOptions {
        first_byte_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let started = Instant::now();
    let err = client
        .send(get(addr), Some(options), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    // Bind then drop to get a loopback port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = OutgoingClient::new(OutgoingOptions::default());
    let err = client.send(get(addr), None, None).await.unwrap_err();
    assert!(
        matches!(err, Error::Connect(_) | Error::ConnectionRefused),
        "{err:?}"
    );
}

#[tokio::test]
async fn between_bytes_timeout_fails_a_stalled_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Stall(false)))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(socket), service)
            .await;
    });
    let client = OutgoingClient::new(OutgoingOptions::default());
    let options = RequestOptions {
        between_bytes_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let mut body = client
        .send(get(addr), Some(options), None)
        .await
        .unwrap()
        .into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    let started = Instant::now();
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn cancelling_cuts_a_waiting_request_and_refuses_new_ones() {
    let (addr, _) = server(Duration::from_secs(5)).await;
    let client = OutgoingClient::new(OutgoingOptions::default());
    let cancel = tokio_util::sync::CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        later.cancel();
    });
    let started = Instant::now();
    let err = client
        .send(get(addr), None, Some(cancel.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpRequestDenied), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Already cancelled: refused without waiting for the server.
    let started = Instant::now();
    let err = client
        .send(get(addr), None, Some(cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpRequestDenied), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(500));
}
