//! `zip-oss pack`'s progress bars (indicatif), drawn on stderr only when it is a terminal:
//! piped or redirected, the command prints nothing more than before, and stdout carries
//! only the JSON summary either way.
//!
//! The pack's bar follows the component's own reports ([`crate::progress`]): entries and
//! object bytes packed of the plan's totals, the rate and the time left. The download's
//! follows the bytes written to `--output`.

use crate::bindings::PackSummary;
use crate::progress::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// How often the bar redraws without news (spinner, elapsed time, ETA).
const TICK: Duration = Duration::from_millis(200);

/// The bars of one `zip-oss pack`.
pub struct PackBars {
    pack: ProgressBar,
}

impl PackBars {
    /// Bars on stderr, if stderr is a terminal; else `None` and nothing is drawn.
    pub fn on_terminal() -> Option<PackBars> {
        std::io::stderr().is_terminal().then(|| {
            let pack = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(listing_style())
                .with_prefix("packing")
                .with_message("listing");
            pack.enable_steady_tick(TICK);
            PackBars { pack }
        })
    }

    /// Where the component's reports go: the bar takes the plan's totals from the first.
    pub fn pack_sink(&self) -> ProgressSink {
        let bar = self.pack.clone();
        Arc::new(move |p: Progress| {
            if p.entries_total == 0 {
                return; // still listing
            }
            show(&bar, p);
        })
    }

    /// The pack is done: the bar shows the summary's totals and stays on screen.
    pub fn packed(&self, summary: &PackSummary) {
        show(
            &self.pack,
            Progress {
                entries_done: summary.entries,
                entries_total: summary.entries,
                bytes_done: summary.bytes_read,
                bytes_total: summary.bytes_read,
            },
        );
        self.pack.finish();
    }

    /// The pack failed: the bar stops where it was (the error follows it).
    pub fn failed(&self) {
        self.pack.abandon();
    }

    /// A bar for downloading `length` bytes (the archive's size).
    pub fn download(&self, length: u64) -> DownloadBar {
        let style = ProgressStyle::with_template(
            "{prefix:>11} [{bar:30}] {bytes}/{total_bytes} · {binary_bytes_per_sec} · ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix("downloading");
        bar.enable_steady_tick(TICK);
        DownloadBar(bar)
    }
}

/// The download's bar; stops where it was if dropped unfinished.
pub struct DownloadBar(ProgressBar);

impl DownloadBar {
    /// Bytes written so far.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }

    pub fn finish(&self) {
        self.0.finish();
    }
}

impl Drop for DownloadBar {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abandon();
        }
    }
}

fn listing_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>11} {spinner} {msg} {elapsed}")
        .expect("a valid template")
}

fn packing_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>11} [{bar:30}] {bytes}/{total_bytes} · {msg} · {binary_bytes_per_sec} · ETA {eta}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

/// Puts `p` on the bar: bytes as the bar, entries as its message.
fn show(bar: &ProgressBar, p: Progress) {
    bar.set_message(format!("{}/{} entries", p.entries_done, p.entries_total));
    if bar.length() != Some(p.bytes_total) {
        bar.set_style(packing_style());
        bar.set_length(p.bytes_total);
    }
    bar.set_position(p.bytes_done);
}
