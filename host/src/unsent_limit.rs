//! Outgoing connections hold little unsent data in the kernel (`TCP_NOTSENT_LOWAT`).
//!
//! A socket's send buffer grows to several MiB, so a part's body "sent" may still be
//! mostly in the kernel, waiting for a slow link. Capping what waits unsent keeps the
//! body's progress (which the request timeouts go by, `outgoing.rs`) within that much of
//! the bytes' real progress; what is in flight is still the congestion window's, so
//! throughput is unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The most a connection keeps written but unsent: two of the host's body frames.
const UNSENT_MAX: u32 = 512 << 10;

/// Sets the limit on every connection `inner` makes.
#[derive(Clone)]
pub struct UnsentLimit<C> {
    pub inner: C,
}

impl<C> tower_service::Service<Uri> for UnsentLimit<C>
where
    C: tower_service::Service<Uri, Response = TokioIo<TcpStream>>,
    C::Future: Send + 'static,
{
    type Response = TokioIo<TcpStream>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            limit(io.inner());
            Ok(io)
        })
    }
}

/// Best effort: a kernel without the option just buffers as before.
fn limit(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(UNSENT_MAX);
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use hyper_util::client::legacy::connect::HttpConnector;
    use tower_service::Service;

    #[tokio::test]
    async fn every_connection_made_keeps_little_unsent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let mut connector = UnsentLimit {
            inner: HttpConnector::new(),
        };
        let io = connector.call(uri).await.unwrap();
        let lowat = socket2::SockRef::from(io.inner()).tcp_notsent_lowat();
        assert_eq!(lowat.unwrap(), UNSENT_MAX);
    }
}
