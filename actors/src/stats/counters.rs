//! What a node counts for its operators' stats record (`stats/sampler.rs`): plain atomics
//! and two short-lived histograms, recorded on the hot paths and read and reset once per
//! stats interval.
//!
//! Why not the `metrics` recorder: it is one per process, and the integration tests run
//! several nodes in one process, so its figures could not tell the nodes apart. These are
//! per node (one [`NodeCounters`] in the hub).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::error::ErrorCode;

/// Longest duration a histogram holds, in microseconds (a minute); longer ones count as it.
const HISTOGRAM_MAX_US: u64 = 60_000_000;

/// Counters of one node since it started, and latency histograms since the last sample.
pub struct NodeCounters {
    messages: AtomicU64,
    pushes: AtomicU64,
    slow_consumers: AtomicU64,
    rejections: [AtomicU64; ErrorCode::ALL.len()],
    commits: Mutex<CommitWindow>,
    broker_lag: Mutex<Option<Histogram<u64>>>,
}

/// Commits since the last sample.
struct CommitWindow {
    latency: Option<Histogram<u64>>,
    batches: u64,
    writes: u64,
}

/// Totals since start: the sampler turns two of them into rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// New messages this node committed.
    pub messages: u64,
    /// Frames this node's rooms pushed to their members.
    pub pushes: u64,
    /// Members closed because their queue was full.
    pub slow_consumers: u64,
}

/// Latency percentiles of one window, in milliseconds; zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// The median.
    pub p50_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// How many values the window held.
    pub count: u64,
}

/// What the persistence shards did since the last sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommitFigures {
    /// Commit latency.
    pub latency: Percentiles,
    /// Batches committed.
    pub batches: u64,
    /// Writes (messages and changes) per batch, on average.
    pub mean_batch: f64,
}

fn histogram() -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 2).ok()
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HISTOGRAM_MAX_US)
}

fn percentiles(histogram: &Option<Histogram<u64>>) -> Percentiles {
    match histogram {
        Some(h) if !h.is_empty() => Percentiles {
            p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            count: h.len(),
        },
        _ => Percentiles::default(),
    }
}

/// A lock that a panic elsewhere cannot make unusable: the counters stay counters.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for NodeCounters {
    fn default() -> Self {
        NodeCounters {
            messages: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            rejections: std::array::from_fn(|_| AtomicU64::new(0)),
            commits: Mutex::new(CommitWindow {
                latency: histogram(),
                batches: 0,
                writes: 0,
            }),
            broker_lag: Mutex::new(histogram()),
        }
    }
}

impl NodeCounters {
    /// A batch of `writes` committed in `took`, of which `messages` were new messages.
    pub fn committed(&self, took: Duration, writes: usize, messages: usize) {
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
        let mut window = lock(&self.commits);
        window.batches += 1;
        window.writes += writes as u64;
        if let Some(latency) = window.latency.as_mut() {
            latency.saturating_record(micros(took));
        }
    }

    /// A room pushed `count` frames.
    pub fn pushed(&self, count: u64) {
        self.pushes.fetch_add(count, Ordering::Relaxed);
    }

    /// A member was closed because it could not keep up.
    pub fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was refused with `code`.
    pub fn rejected(&self, code: ErrorCode) {
        if let Some(index) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.rejections[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A message of another node arrived `lag` after it was committed.
    pub fn broker_lag(&self, lag: Duration) {
        if let Some(histogram) = lock(&self.broker_lag).as_mut() {
            histogram.saturating_record(micros(lag));
        }
    }

    /// The totals since start.
    pub fn totals(&self) -> Totals {
        Totals {
            messages: self.messages.load(Ordering::Relaxed),
            pushes: self.pushes.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
        }
    }

    /// Refusals since start by code, those never seen left out.
    pub fn rejections(&self) -> Vec<(ErrorCode, u64)> {
        ErrorCode::ALL
            .iter()
            .zip(&self.rejections)
            .map(|(code, count)| (*code, count.load(Ordering::Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// The commits since the last call, and starts a new window.
    pub fn take_commits(&self) -> CommitFigures {
        let mut window = lock(&self.commits);
        let figures = CommitFigures {
            latency: percentiles(&window.latency),
            batches: window.batches,
            mean_batch: if window.batches == 0 {
                0.0
            } else {
                window.writes as f64 / window.batches as f64
            },
        };
        if let Some(latency) = window.latency.as_mut() {
            latency.reset();
        }
        window.batches = 0;
        window.writes = 0;
        figures
    }

    /// The broker lag since the last call, and starts a new window.
    pub fn take_broker_lag(&self) -> Percentiles {
        let mut histogram = lock(&self.broker_lag);
        let figures = percentiles(&histogram);
        if let Some(histogram) = histogram.as_mut() {
            histogram.reset();
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_give_percentiles_and_mean_batch_for_one_window() {
        let counters = NodeCounters::default();
        for ms in 1..=100 {
            counters.committed(Duration::from_millis(ms), 4, 3);
        }
        let figures = counters.take_commits();
        assert_eq!(figures.batches, 100);
        assert!((figures.mean_batch - 4.0).abs() < 1e-9);
        assert!(
            (49.0..=51.0).contains(&figures.latency.p50_ms),
            "{figures:?}"
        );
        assert!(
            (98.0..=100.5).contains(&figures.latency.p99_ms),
            "{figures:?}"
        );
        assert_eq!(counters.totals().messages, 300);
        assert_eq!(counters.take_commits(), CommitFigures::default());
    }

    #[test]
    fn rejections_are_kept_by_code_and_unseen_codes_left_out() {
        let counters = NodeCounters::default();
        counters.rejected(ErrorCode::RateLimited);
        counters.rejected(ErrorCode::RateLimited);
        counters.rejected(ErrorCode::TooLarge);
        assert_eq!(
            counters.rejections(),
            vec![(ErrorCode::TooLarge, 1), (ErrorCode::RateLimited, 2)]
        );
    }

    #[test]
    fn a_lag_beyond_the_histogram_counts_as_its_maximum() {
        let counters = NodeCounters::default();
        counters.broker_lag(Duration::from_secs(3600));
        counters.broker_lag(Duration::ZERO);
        let lag = counters.take_broker_lag();
        assert_eq!(lag.count, 2);
        assert!(lag.p99_ms >= 59_000.0, "{lag:?}");
    }
}
