//! How long a request may wait for its answer's head (wasi:http's `first-byte-timeout`),
//! when the host counts the sending of the request's body in that wait.
//!
//! Spin and wasmtime's default sender start the first-byte clock when the request is
//! handed over (wasmtime-wasi-http's `default_send_request` bounds the whole
//! `send_request`, body included), so a part's upload counts against the store's wait:
//! a 64 MiB part over a 1 MB/s link would time out at the default 60 s, and be retried
//! until the pack fails. Our host starts the clock once the body is sent, and watches the
//! sending with its between-bytes timeout instead. Under other hosts the wait is
//! lengthened by the time the body takes at the slowest pace a pack accepts; the
//! first-byte timeout is then also what stops an upload the store stopped taking.

use std::time::Duration;

/// The slowest pace an upload may go under a host that counts it in the first-byte wait,
/// bytes per second: slower than any link a pack would be run over.
pub const SLOWEST_UPLOAD: u64 = 64 << 10;

/// The first-byte timeout for a request with a body of `body` bytes, when the store may
/// keep the pack waiting `wait` and the host counts the sending in it or not.
pub fn first_byte_timeout(wait: Duration, body: u64, host_counts_sending: bool) -> Duration {
    if !host_counts_sending {
        return wait;
    }
    wait.saturating_add(Duration::from_secs(body.div_ceil(SLOWEST_UPLOAD)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(60);

    #[test]
    fn our_host_waits_as_configured_whatever_the_body() {
        assert_eq!(first_byte_timeout(WAIT, 64 << 20, false), WAIT);
    }

    #[test]
    fn another_host_adds_the_body_at_the_slowest_pace() {
        // 8 MiB at 64 KiB/s: 128 s more.
        assert_eq!(
            first_byte_timeout(WAIT, 8 << 20, true),
            Duration::from_secs(188)
        );
        // A bodiless request (a GET) waits as configured; a byte more takes a second more.
        assert_eq!(first_byte_timeout(WAIT, 0, true), WAIT);
        assert_eq!(
            first_byte_timeout(WAIT, 1, true),
            WAIT + Duration::from_secs(1)
        );
        // The largest part S3 allows (5 GiB) does not overflow.
        assert_eq!(
            first_byte_timeout(Duration::MAX, 5 << 30, true),
            Duration::MAX
        );
    }
}
