//! The retention actor (PROTOCOL.md v2, "Data life cycle"): one per node, started only when
//! `--room-retention` is set.
//!
//! It exists because rooms are created freely and never closed by anyone: without it the
//! store keeps every room and message forever. A room is unused when it has had no member
//! on any node and no message committed for the retention. Commits mark their rooms used
//! themselves; membership lives only in the nodes' memory, so every interval each node marks
//! its rooms with local members used (one statement however many rooms), and then sweeps:
//! the store deletes the rooms unused since before now − retention, in small batches, one
//! node at a time ([`Store::sweep_unused_rooms`]).
//!
//! A deleted room's live actors stop for good (`RoomDeleted`): this node's after its sweep,
//! and on any node the actor of a room its touch finds gone, or whose commit fails with
//! `NoSuchRoom`, so that no node keeps handing out a room that is gone.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::directory::RoomDirectory;
use crate::ids::RoomId;
use crate::metric_names;
use crate::store::{Store, StoreError, SweepReport};

/// The longest default interval: a quarter of a long retention would leave a deleted room
/// behind for days; ten minutes is soon enough and costs one scan of the rooms.
pub const MAX_DEFAULT_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The shortest default interval, for retentions of a few seconds.
pub const MIN_DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest interval the actor runs at, whatever is configured: a zero one would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// How retention runs on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOptions {
    /// A room unused for this long is deleted.
    pub retention: Duration,
    /// How often the node marks its rooms with members used and sweeps. Well inside the
    /// retention, so that a room with members is marked many times before it could be
    /// taken for unused.
    pub interval: Duration,
    /// Messages deleted per transaction (and rooms tombstoned per statement).
    pub batch: u32,
}

impl RetentionOptions {
    /// Options for `retention`, with `interval` or else the default one
    /// ([`RetentionOptions::default_interval`]).
    pub fn new(retention: Duration, interval: Option<Duration>, batch: u32) -> Self {
        RetentionOptions {
            retention,
            interval: interval
                .unwrap_or_else(|| Self::default_interval(retention))
                .max(MIN_INTERVAL),
            batch: batch.max(1),
        }
    }

    /// A quarter of the retention, between 1 s and 10 min: a room with members is marked
    /// used at least four times per retention.
    pub fn default_interval(retention: Duration) -> Duration {
        (retention / 4).clamp(MIN_DEFAULT_INTERVAL, MAX_DEFAULT_INTERVAL)
    }

    /// Rooms unused since before this are deleted when the node sweeps at `now`; never
    /// before 1970 (no room is older, and PostgreSQL refuses times far in the past).
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.retention)
            .ok()
            .and_then(|retention| now.checked_sub_signed(retention))
            .map_or(DateTime::UNIX_EPOCH, |cutoff| {
                cutoff.max(DateTime::UNIX_EPOCH)
            })
    }
}

/// Marks this node's rooms with members used and sweeps unused rooms, every interval.
pub struct Retention {
    store: Arc<dyn Store>,
    /// The node's live rooms: which have members, and which actors to stop.
    rooms: Arc<RoomDirectory>,
    options: RetentionOptions,
    /// A round is in flight: the next tick skips rather than overlap it.
    running: bool,
}

/// What one round found: the rooms gone among those marked used, and the sweep's report.
type Round = (
    Result<Vec<RoomId>, StoreError>,
    Result<SweepReport, StoreError>,
);

impl Retention {
    /// The retention actor of a node whose live rooms are `rooms`.
    pub fn new(
        store: Arc<dyn Store>,
        rooms: Arc<RoomDirectory>,
        options: RetentionOptions,
    ) -> Self {
        Retention {
            store,
            rooms,
            options,
            running: false,
        }
    }

    /// Starts a round unless one is in flight: touch, then sweep.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let store = Arc::clone(&self.store);
        let used = self.rooms.used_rooms();
        let cutoff = self.options.cutoff(crate::model::now_millis());
        let batch = self.options.batch;
        let round = async move {
            // Touched first, so that a room with members here is never older than the cutoff
            // when this node's own sweep looks at it.
            let gone = store.touch_rooms(&used).await;
            let swept = store.sweep_unused_rooms(cutoff, batch).await;
            (gone, swept)
        };
        ctx.spawn(round.into_actor(self).map(|round: Round, act, _| {
            act.running = false;
            act.finish(round);
        }));
    }

    /// Stops the actors of rooms that are gone and counts what the round did.
    fn finish(&self, (gone, swept): Round) {
        match gone {
            Ok(gone) => {
                if !gone.is_empty() {
                    tracing::info!(
                        rooms = gone.len(),
                        "rooms with members here were deleted; stopping them"
                    );
                }
                self.rooms.deleted(&gone);
            }
            Err(error) => tracing::warn!(%error, "marking rooms used failed"),
        }
        match swept {
            Ok(report) if report.skipped => {
                metrics::counter!(metric_names::RETENTION_SWEEPS, "result" => "skipped")
                    .increment(1);
            }
            Ok(report) => {
                metrics::counter!(metric_names::RETENTION_SWEEPS, "result" => "swept").increment(1);
                let rooms = report.rooms.len() as u64;
                metrics::counter!(metric_names::RETENTION_ROOMS_DELETED).increment(rooms);
                metrics::counter!(metric_names::RETENTION_MESSAGES_DELETED)
                    .increment(report.messages);
                if rooms > 0 {
                    tracing::info!(
                        rooms,
                        messages = report.messages,
                        "retention deleted unused rooms"
                    );
                    let ids: Vec<RoomId> = report.rooms.iter().map(|(id, _)| *id).collect();
                    self.rooms.deleted(&ids);
                }
            }
            Err(error) => {
                metrics::counter!(metric_names::RETENTION_SWEEPS, "result" => "failed")
                    .increment(1);
                tracing::warn!(%error, "retention sweep failed; retrying next interval");
            }
        }
    }
}

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.options.interval, |act, ctx| act.tick(ctx));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_interval_is_a_quarter_of_the_retention_within_bounds() {
        let days = Duration::from_secs(30 * 24 * 3600);
        assert_eq!(
            RetentionOptions::default_interval(days),
            MAX_DEFAULT_INTERVAL
        );
        let hour = Duration::from_secs(3600);
        assert_eq!(
            RetentionOptions::default_interval(hour),
            Duration::from_secs(600)
        );
        let minutes = Duration::from_secs(20 * 60);
        assert_eq!(
            RetentionOptions::default_interval(minutes),
            Duration::from_secs(300)
        );
        let seconds = Duration::from_secs(3);
        assert_eq!(
            RetentionOptions::default_interval(seconds),
            MIN_DEFAULT_INTERVAL
        );
    }

    #[test]
    fn a_configured_interval_wins_but_never_spins() {
        let retention = Duration::from_secs(3);
        let options = RetentionOptions::new(retention, Some(Duration::from_millis(500)), 5);
        assert_eq!(options.interval, Duration::from_millis(500));
        let zero = RetentionOptions::new(retention, Some(Duration::ZERO), 0);
        assert_eq!(zero.interval, MIN_INTERVAL);
        assert_eq!(zero.batch, 1);
        let default = RetentionOptions::new(Duration::from_secs(3600), None, 500);
        assert_eq!(default.interval, Duration::from_secs(600));
    }

    #[test]
    fn the_cutoff_is_now_minus_the_retention() {
        let now = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let options = RetentionOptions::new(Duration::from_secs(30 * 24 * 3600), None, 500);
        assert_eq!(
            options.cutoff(now),
            DateTime::from_timestamp_millis(1_800_000_000_000 - 30 * 24 * 3600 * 1000).unwrap()
        );
        let forever = RetentionOptions::new(Duration::MAX, None, 500);
        assert_eq!(forever.cutoff(now), DateTime::UNIX_EPOCH);
    }
}
