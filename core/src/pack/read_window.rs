//! How many small objects to read at once: enough to cover the store's latency at the pace
//! its answers come back (Little's law: reads in flight = rate × latency), and no more.
//! Too few, and a store 10 ms away caps a folder of small files at the window per 10 ms;
//! too many, and a near store is crowded for nothing: on loopback 64 reads at once packed
//! ~10 % slower than 16 (BENCHMARKS.md).
//!
//! The latency is the least seen in the pack (queueing only adds to it, and a window sized
//! by a latency that includes the queue it made would grow the queue without end); the
//! rate is that of the last answers. While latency limits the rate, the window doubles at
//! each look; once the packer or the store does, it settles at twice what covers the
//! latency.

use std::collections::VecDeque;

/// Answers the rate is measured over.
const RATE_SAMPLES: usize = 32;
/// Headroom over the bare product: answers vary, and a window that only just covers the
/// latency stalls at every slow one.
const GAIN: u64 = 2;

#[derive(Debug)]
pub(crate) struct ReadWindow {
    floor: usize,
    cap: usize,
    window: usize,
    /// When the last answers came (ms), oldest first.
    answers: VecDeque<u64>,
    /// The least latency seen.
    least: u64,
}

impl ReadWindow {
    /// Starts at `floor`; never below it, nor above `cap` (what memory allows).
    pub fn new(floor: usize, cap: usize) -> ReadWindow {
        let floor = floor.clamp(1, cap.max(1));
        ReadWindow {
            floor,
            cap: cap.max(floor),
            window: floor,
            answers: VecDeque::with_capacity(RATE_SAMPLES + 1),
            least: u64::MAX,
        }
    }

    /// Small reads to have in flight now.
    pub fn get(&self) -> usize {
        self.window
    }

    /// The most it will ever say: what memory allows.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A small read sent at `sent_ms` was answered at `now_ms` (monotonic milliseconds).
    pub fn answered(&mut self, sent_ms: u64, now_ms: u64) {
        self.least = self.least.min(now_ms.saturating_sub(sent_ms));
        self.answers.push_back(now_ms);
        if self.answers.len() > RATE_SAMPLES {
            self.answers.pop_front();
        }
        if self.answers.len() < RATE_SAMPLES {
            return;
        }
        // Millisecond clocks: a span or latency under one counts as one.
        let first = self.answers.front().copied().unwrap_or(now_ms);
        let span = now_ms.saturating_sub(first).max(1);
        let latency = self.least.max(1);
        let want = (RATE_SAMPLES as u64 * latency * GAIN).div_ceil(span);
        self.window = usize::try_from(want)
            .unwrap_or(usize::MAX)
            .clamp(self.floor, self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads answered `latency` ms after they are sent, as many in flight as the window
    /// says and `pace` answers per ms at most; the window after `n` answers.
    fn run(w: &mut ReadWindow, latency: u64, pace: u64, n: usize) -> usize {
        let mut in_flight: VecDeque<u64> = VecDeque::new();
        let mut now = 0;
        let mut done = 0;
        while done < n {
            while in_flight.len() < w.get() {
                in_flight.push_back(now);
            }
            // This millisecond's answers: those due, at most `pace`.
            for _ in 0..pace {
                match in_flight.front() {
                    Some(&sent) if now >= sent + latency => {
                        in_flight.pop_front();
                        w.answered(sent, now);
                        done += 1;
                    }
                    _ => break,
                }
            }
            now += 1;
        }
        w.get()
    }

    #[test]
    fn a_distant_store_gets_the_most_memory_allows() {
        let mut w = ReadWindow::new(16, 64);
        assert_eq!(run(&mut w, 10, 1_000, 2_000), 64);
    }

    #[test]
    fn a_near_store_keeps_the_floor() {
        let mut w = ReadWindow::new(16, 64);
        assert_eq!(run(&mut w, 0, 5, 2_000), 16);
        let mut w = ReadWindow::new(16, 64);
        assert_eq!(run(&mut w, 1, 5, 2_000), 16);
    }

    #[test]
    fn the_packers_pace_bounds_it_between() {
        // 4 ms away, 6 answers per ms at most: covering it takes 24, twice that is 48.
        let mut w = ReadWindow::new(16, 64);
        let settled = run(&mut w, 4, 6, 4_000);
        assert!((40..=56).contains(&settled), "{settled}");
    }

    #[test]
    fn floor_and_cap_hold() {
        let w = ReadWindow::new(16, 8);
        assert_eq!(w.get(), 8, "memory allows only 8");
        let mut w = ReadWindow::new(0, 64);
        assert_eq!(w.get(), 1);
        assert_eq!(run(&mut w, 50, 1_000, 500), 64);
    }
}
