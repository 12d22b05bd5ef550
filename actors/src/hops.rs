//! Where the time of a send goes, hop by hop.
//!
//! A message crosses several actors and threads before its sender hears back: the session
//! decodes the frame, the room hands it to its persistence shard, the shard gathers a
//! batch and commits it, the room pushes the committed message, the session writes the ack.
//! Each crossing is timed into one histogram, `chat_send_hop_seconds{hop}`, so that the
//! latency budget of a send can be read off a running node (BENCHMARKS.md, "Latency budget")
//! instead of guessed. The instants travel with the messages; nothing here keeps state.
//!
//! The hops, in order (their sum is the node's part of the ack latency; the rest is the
//! kernel and the client):
//!
//! | hop | from | to |
//! |---|---|---|
//! | `to_room` | the session handles the frame | the room actor handles the send |
//! | `to_shard` | the room hands it on | the persistence shard queues it |
//! | `batch_wait` | queued | its batch starts committing |
//! | `commit` | the batch starts | the store answered |
//! | `to_room_after_commit` | the store answered | the room handles the outcome |
//! | `fan_out` | the room handles the outcome | its local pushes are queued |
//! | `to_session` | the room answered | the session writes the ack into its connection |

use std::time::Instant;

use crate::metric_names;

/// One crossing of a send on its way through the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Session → room actor (a mailbox, usually another thread).
    ToRoom,
    /// Room actor → persistence shard (a mailbox, another thread).
    ToShard,
    /// Waiting in the shard for a batch: for company (`--batch-delay`) or for the batch in
    /// flight to commit.
    BatchWait,
    /// The batch's commit in the store.
    Commit,
    /// Store answered → the room handles the outcome (back across threads).
    ToRoomAfterCommit,
    /// The room publishes the message and queues its local pushes.
    FanOut,
    /// Room → the sender's session writes the ack.
    ToSession,
}

impl Hop {
    /// Every hop, in the order a send crosses them.
    pub const ALL: [Hop; 7] = [
        Hop::ToRoom,
        Hop::ToShard,
        Hop::BatchWait,
        Hop::Commit,
        Hop::ToRoomAfterCommit,
        Hop::FanOut,
        Hop::ToSession,
    ];

    /// The `hop` label of the histogram.
    pub fn label(self) -> &'static str {
        match self {
            Hop::ToRoom => "to_room",
            Hop::ToShard => "to_shard",
            Hop::BatchWait => "batch_wait",
            Hop::Commit => "commit",
            Hop::ToRoomAfterCommit => "to_room_after_commit",
            Hop::FanOut => "fan_out",
            Hop::ToSession => "to_session",
        }
    }
}

/// Records that `hop` took from `since` until now, and returns now: the start of the
/// next hop.
pub fn record(hop: Hop, since: Instant) -> Instant {
    let now = Instant::now();
    record_between(hop, since, now);
    now
}

/// Records that `hop` took from `since` until `until` (for a batch, whose members share
/// one commit time).
pub fn record_between(hop: Hop, since: Instant, until: Instant) {
    metrics::histogram!(metric_names::SEND_HOP_SECONDS, "hop" => hop.label())
        .record(until.saturating_duration_since(since).as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_in_order() {
        let labels: Vec<_> = Hop::ALL.iter().map(|h| h.label()).collect();
        let mut unique = labels.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), Hop::ALL.len());
        assert_eq!(labels.first(), Some(&"to_room"));
        assert_eq!(labels.last(), Some(&"to_session"));
    }
}
