//! Every stats interval a node turns its counters into a [`NodeStats`] record: rates over
//! the interval, a history of the last minutes, the interval's commit and broker-lag
//! percentiles, and its busiest rooms. It keeps the record for its own overview and, with
//! other nodes, writes it to Redis, where every node's overview reads them all.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::hub::Hub;
use crate::ids::RoomCode;
use crate::stats::counters::Totals;
use crate::stats::record::{
    busiest_first, CommitStats, LagStats, NodeStats, RoomRate, TrafficPoint,
};

/// Points of history a record carries (at the default 2 s interval, five minutes).
pub const HISTORY_POINTS: usize = 150;
/// Rooms a node reports as its busiest.
pub const BUSIEST_ROOMS: usize = 10;

/// What the sampler remembers between two samples.
struct Sampler {
    started_at: DateTime<Utc>,
    started: Instant,
    last_at: Instant,
    last: Totals,
    room_messages: HashMap<RoomCode, u64>,
    history: VecDeque<TrafficPoint>,
}

impl Sampler {
    fn new() -> Sampler {
        Sampler {
            started_at: Utc::now(),
            started: Instant::now(),
            last_at: Instant::now(),
            last: Totals::default(),
            room_messages: HashMap::new(),
            history: VecDeque::with_capacity(HISTORY_POINTS),
        }
    }

    /// A record of the interval that ends now.
    fn sample(&mut self, hub: &Hub) -> NodeStats {
        let now = Instant::now();
        let seconds = now
            .saturating_duration_since(self.last_at)
            .as_secs_f64()
            .max(1e-3);
        self.last_at = now;
        let totals = hub.counters.totals();
        let per_second = |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
        let messages_per_second = per_second(totals.messages, self.last.messages);
        let pushes_per_second = per_second(totals.pushes, self.last.pushes);
        self.last = totals;
        let sampled_at = Utc::now();
        if self.history.len() == HISTORY_POINTS {
            self.history.pop_front();
        }
        self.history.push_back(TrafficPoint {
            at: sampled_at,
            messages_per_second,
            pushes_per_second,
        });
        let commits = hub.counters.take_commits();
        let gauges = hub.rooms.gauges();
        let lag = hub.counters.take_broker_lag();
        NodeStats {
            node: hub.node_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at,
            uptime: now.saturating_duration_since(self.started).as_secs(),
            state: hub.state(),
            sessions: hub.sessions.len(),
            rooms: gauges.iter().filter(|(_, members, _)| *members > 0).count(),
            sampled_at,
            messages_per_second,
            pushes_per_second,
            history: self.history.iter().cloned().collect(),
            commit: CommitStats {
                p50_ms: commits.latency.p50_ms,
                p99_ms: commits.latency.p99_ms,
                batches: commits.batches,
                mean_batch: commits.mean_batch,
            },
            broker_lag: LagStats {
                p50_ms: lag.p50_ms,
                p99_ms: lag.p99_ms,
                messages: lag.count,
            },
            rejections: hub
                .counters
                .rejections()
                .into_iter()
                .map(|(code, count)| (code.as_str().to_owned(), count))
                .collect::<BTreeMap<_, _>>(),
            slow_consumers: totals.slow_consumers,
            busiest: busiest(&mut self.room_messages, gauges, seconds),
        }
    }
}

/// The rooms that pushed the most messages over an interval of `seconds` (those with
/// members, when none did), at most [`BUSIEST_ROOMS`], from each live room's gauges (code,
/// members, messages since it started) and the message counts of the last sample, which it
/// replaces. A room new since then counts from now; one whose count went back (its actor
/// restarted) counts all its messages.
fn busiest(
    previous: &mut HashMap<RoomCode, u64>,
    gauges: Vec<(RoomCode, usize, u64)>,
    seconds: f64,
) -> Vec<RoomRate> {
    let mut now = HashMap::with_capacity(gauges.len());
    let mut rooms: Vec<RoomRate> = gauges
        .into_iter()
        .filter_map(|(code, members, messages)| {
            now.insert(code, messages);
            let before = previous.get(&code).copied().unwrap_or(messages);
            let delta = messages.checked_sub(before).unwrap_or(messages);
            (members > 0 || delta > 0).then(|| RoomRate {
                code: code.to_string(),
                members,
                messages_per_minute: delta as f64 * 60.0 / seconds,
            })
        })
        .collect();
    *previous = now;
    rooms.sort_by(|a, b| {
        busiest_first(
            (a.messages_per_minute, a.members, &a.code),
            (b.messages_per_minute, b.members, &b.code),
        )
    });
    rooms.truncate(BUSIEST_ROOMS);
    rooms
}

/// Makes a record every `interval` for as long as the hub lives: keeps it on the board and,
/// with other nodes, writes it to Redis (a failed write is logged at debug: the next one
/// comes an interval later, and readers skip records grown stale).
pub async fn run(hub: Weak<Hub>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = Sampler::new();
    loop {
        ticks.tick().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let record = sampler.sample(&hub);
        if let Some(broker) = hub.cluster.broker().filter(|b| b.is_up()) {
            let broker = Arc::clone(broker);
            let written = record.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(broker.timeout, broker.publish_stats(&written)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::debug!(%error, "stats record not written"),
                    Err(_) => tracing::debug!("writing the stats record timed out"),
                }
            });
        }
        hub.stats.set(record);
        drop(hub);
    }
}

/// Whether a record is fresh enough to show: made within three intervals.
pub fn is_fresh(record: &NodeStats, interval: Duration, now: DateTime<Utc>) -> bool {
    sampled_within(record, interval * 3, now)
}

/// Whether a record was made at most `age` before `now`.
pub fn sampled_within(record: &NodeStats, age: Duration, now: DateTime<Utc>) -> bool {
    let limit = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    now.signed_duration_since(record.sampled_at) <= limit
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn code(text: &str) -> RoomCode {
        RoomCode::parse(text).unwrap()
    }

    #[test]
    fn the_busiest_rooms_rank_by_messages_over_the_interval() {
        let (a, b, c) = (code("AAAAAA"), code("BBBBBB"), code("CCCCCC"));
        let mut previous = HashMap::new();
        // First sight: no rate yet; empty rooms without traffic are left out.
        let first = busiest(&mut previous, vec![(a, 2, 100), (b, 1, 5), (c, 0, 0)], 2.0);
        assert!(first.iter().all(|r| r.messages_per_minute == 0.0));
        assert_eq!(first.len(), 2);
        // 2 s later: A pushed 10 (300/min), B 1 (30/min), C restarted with 4 messages.
        previous.insert(c, 50);
        let second = busiest(&mut previous, vec![(a, 2, 110), (b, 1, 6), (c, 0, 4)], 2.0);
        let rates: Vec<(String, f64)> = second
            .iter()
            .map(|r| (r.code.clone(), r.messages_per_minute))
            .collect();
        assert_eq!(
            rates,
            [
                ("AAAAAA".into(), 300.0),
                ("CCCCCC".into(), 120.0),
                ("BBBBBB".into(), 30.0)
            ]
        );
    }

    #[test]
    fn at_most_ten_rooms_are_reported() {
        let mut previous = HashMap::new();
        let gauges: Vec<_> = (0..30u64).map(|i| (RoomCode::random(), 1, i)).collect();
        assert_eq!(busiest(&mut previous, gauges, 1.0).len(), BUSIEST_ROOMS);
    }

    #[test]
    fn stale_records_are_not_fresh() {
        let mut record = crate::stats::record::tests_support::record("a");
        let now = Utc::now();
        record.sampled_at = now - chrono::Duration::seconds(5);
        assert!(is_fresh(&record, Duration::from_secs(2), now));
        record.sampled_at = now - chrono::Duration::seconds(7);
        assert!(!is_fresh(&record, Duration::from_secs(2), now));
    }
}
