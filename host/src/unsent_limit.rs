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
const UNSENT_MAX: libc::c_int = 512 << 10;

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
    {
        use std::os::fd::AsRawFd;
        let value = UNSENT_MAX;
        // SAFETY: a valid socket, and a pointer to a c_int of the size given.
        unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}
