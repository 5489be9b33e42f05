//! When to try a failed store request again.

use std::time::Duration;

/// Exponential backoff with full jitter (the AWS SDKs' scheme): attempt `n` waits a
/// random time in `[0, min(cap, base * 2^n))`, so many clients retrying at once spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (1 = first retry), or `None` when the
    /// attempts are used up. `random` is any uniformly random `u32`.
    pub fn delay(&self, retry: u32, random: u32) -> Option<Duration> {
        if retry == 0 || retry >= self.max_attempts {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.cap);
        let nanos = ceiling.as_nanos() * u128::from(random) / (u128::from(u32::MAX) + 1);
        Some(Duration::from_nanos(nanos as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_stops() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 0), None);
        assert!(b.delay(1, u32::MAX).unwrap() < Duration::from_millis(200));
        assert!(b.delay(4, u32::MAX).unwrap() < Duration::from_millis(1600));
        assert!(b.delay(4, u32::MAX).unwrap() > Duration::from_millis(1500));
        assert_eq!(b.delay(5, 7), None);
        let long = Backoff {
            max_attempts: 40,
            ..b
        };
        assert!(long.delay(30, u32::MAX).unwrap() <= Duration::from_secs(5));
    }
}
