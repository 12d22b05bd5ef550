//! Latency and throughput accounting. Every receiving member records into one of a few
//! sharded windows (a short lock per event, no allocation); the sampler takes the windows
//! each interval, which gives both the per-interval time series for the report and, merged,
//! the whole run's HdrHistogram.

use std::sync::{Mutex, MutexGuard};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms resolve, in microseconds (10 minutes); larger values are
/// clamped so a stalled message still counts instead of being dropped.
const MAX_MICROS: u64 = 600_000_000;

/// A fresh latency histogram in microseconds with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // unwrap: the bounds are constants that satisfy hdrhistogram's preconditions
    // (low >= 1, high >= 2 * low, sigfig <= 5); a failure would be a programming error
    // caught by the unit tests, and there is no sensible fallback.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

/// Counters and latencies of one sampling interval (or, merged, of a whole run).
#[derive(Debug, Clone)]
pub struct Window {
    /// send→receive latency measured at every receiving member, µs.
    pub latency: Histogram<u64>,
    /// send→ack latency measured at the sender, µs.
    pub ack_latency: Histogram<u64>,
    /// `chat:send` frames written.
    pub sends: u64,
    /// Ok acks of sends.
    pub acks: u64,
    /// `chat:message` pushes received by members.
    pub pushes: u64,
    /// Refused sends, error pushes, dropped connections.
    pub errors: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            latency: new_histogram(),
            ack_latency: new_histogram(),
            sends: 0,
            acks: 0,
            pushes: 0,
            errors: 0,
        }
    }
}

impl Window {
    /// Records a latency from a send timestamp to `now`, both in Unix nanoseconds. A clock
    /// step backwards records the minimum instead of being lost.
    pub fn record_latency(hist: &mut Histogram<u64>, sent_nanos: u64, now_nanos: u64) {
        let micros = now_nanos.saturating_sub(sent_nanos) / 1_000;
        hist.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds another window into this one.
    pub fn merge(&mut self, other: &Window) {
        // The histograms share bounds, so adding cannot fail; saturating_* avoids a Result.
        let _ = self.latency.add(&other.latency);
        let _ = self.ack_latency.add(&other.ack_latency);
        self.sends += other.sends;
        self.acks += other.acks;
        self.pushes += other.pushes;
        self.errors += other.errors;
    }
}

/// Sharded windows: members lock shard `key % n`, so concurrent recorders rarely meet.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Window>>,
}

impl Recorder {
    /// A recorder with `shards` shards (at least one).
    pub fn new(shards: usize) -> Recorder {
        Recorder {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Window::default()))
                .collect(),
        }
    }

    /// Locks the shard for `key`. A poisoned shard (a panicking member) still holds valid
    /// counts, so it is used rather than lost.
    pub fn shard(&self, key: usize) -> MutexGuard<'_, Window> {
        let m = &self.shards[key % self.shards.len()];
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes everything recorded since the last take, leaving empty windows.
    pub fn take(&self) -> Window {
        let mut total = Window::default();
        for m in &self.shards {
            let mut w = m.lock().unwrap_or_else(|e| e.into_inner());
            total.merge(&w);
            w.latency.reset();
            w.ack_latency.reset();
            w.sends = 0;
            w.acks = 0;
            w.pushes = 0;
            w.errors = 0;
        }
        total
    }
}

/// Percentiles of a latency histogram, in milliseconds, for the summary and the JSON file.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarises a µs histogram; all zeros when it is empty.
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1_000.0;
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1_000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One point of the time series drawn in the report.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct TimePoint {
    /// Seconds since the measured phase started (end of the interval).
    pub t: f64,
    /// Sends per second over the interval.
    pub sends_per_s: f64,
    /// Acks per second over the interval.
    pub acks_per_s: f64,
    /// Pushes delivered per second over the interval.
    pub pushes_per_s: f64,
    /// Errors during the interval.
    pub errors: u64,
    /// send→receive latency percentiles of the interval.
    pub latency: LatencySummary,
    /// Server RSS at the end of the interval (with `--server-pid`), KiB.
    pub server_rss_kib: Option<u64>,
    /// Live sessions (connections scenario).
    pub sessions: Option<u64>,
}

impl TimePoint {
    /// Turns one interval's window into a point.
    pub fn from_window(t: f64, secs: f64, w: &Window, server_rss_kib: Option<u64>) -> TimePoint {
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        TimePoint {
            t,
            sends_per_s: per_s(w.sends),
            acks_per_s: per_s(w.acks),
            pushes_per_s: per_s(w.pushes),
            errors: w.errors,
            latency: LatencySummary::of(&w.latency),
            server_rss_kib,
            sessions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_latencies() {
        let mut w = Window::default();
        let base = 1_000_000_000_000u64;
        // 1..=100 ms
        for ms in 1..=100u64 {
            Window::record_latency(&mut w.latency, base, base + ms * 1_000_000);
        }
        let s = LatencySummary::of(&w.latency);
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn clock_step_back_and_huge_values_are_clamped_not_lost() {
        let mut w = Window::default();
        Window::record_latency(&mut w.latency, 10_000, 5_000);
        Window::record_latency(&mut w.latency, 0, u64::MAX);
        assert_eq!(w.latency.len(), 2);
        assert_eq!(w.latency.min(), 1);
    }

    #[test]
    fn take_merges_shards_and_resets() {
        let r = Recorder::new(4);
        for key in 0..8 {
            let mut s = r.shard(key);
            s.pushes += 1;
            Window::record_latency(&mut s.latency, 0, 2_000_000);
        }
        let w = r.take();
        assert_eq!(w.pushes, 8);
        assert_eq!(w.latency.len(), 8);
        let again = r.take();
        assert_eq!(again.pushes, 0);
        assert!(again.latency.is_empty());
        let p = TimePoint::from_window(1.0, 2.0, &w, None);
        assert_eq!(p.pushes_per_s, 4.0);
    }
}
