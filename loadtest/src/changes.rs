//! The change audit of the mixed workload, and its per-kind figures. Every message and
//! every change of a room takes the next `seq` of the room's change stream, and every member
//! gets a push of each (`chat:message` for a new message, `chat:update` for a change). So:
//! members log every push's (id, seq, arrival time); actors log every acked operation with
//! the `seq` its ack carried; after the run the two are joined on (room, seq). That gives
//! the delivery latency per kind (from the actor's write to each other member's read) and
//! these checks, each a count that must be 0:
//!
//! - **updates lost**: an acked change (edit, react, unreact) of message X with `seq` S, and
//!   some joined member never got X with a `seq` of S or more (messages themselves are
//!   audited by [`crate::loss`]). A node that catches up from the store pushes a message as
//!   it is now, so a member may get a later state instead of S itself (the protocol allows
//!   it: it never goes back); that is counted as **superseded**, not as a violation;
//! - **seq out of order**: a member got a `chat:update` whose `seq` is not above every
//!   push it got before, or a push of a message with a `seq` below one it already had of
//!   that message. (Pushes of a room come in change-stream order, except that a node
//!   catching up from the store pushes the new messages it found in id order, so a new
//!   message may carry a lower `seq` than a change pushed just before it: docs/protocol.md,
//!   "The change cursor". Any prefix of a member's pushes is still complete up to its
//!   greatest `seq` for the messages it holds, which is what these two rules check.)
//! - **duplicate seqs**: two acked operations of a room carrying the same `seq` (every
//!   operation of the load test changes something, so each must take a new number);
//! - **update before message**: a `chat:update` of a message the member had not yet got;
//! - **wrong pushes**: a push carrying the `seq` of an acked operation on another message;
//! - **ack mismatches**: an ack that contradicts its operation (see [`crate::ops::Acked`]);
//! - **history mismatches**: the final state in `GET /api/messages` differs from what the
//!   acks imply (see [`crate::history`]).

use std::collections::{HashMap, HashSet};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::history::HistoryReport;
use crate::mix::OpKind;
use crate::ops::OpRecord;
use crate::stats::{new_histogram, LatencySummary, Window};

/// How many violations are described in the result as examples, in all and per category
/// (so that a flood of one kind does not hide the others).
const EXAMPLES: usize = 20;
const EXAMPLES_PER_CATEGORY: usize = 4;

/// One push as a member received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushEntry {
    /// The message id.
    pub id: i64,
    /// Its `seq` (0 from a node without the change stream).
    pub seq: u64,
    /// When it was read, Unix nanoseconds.
    pub recv_nanos: u64,
    /// True for `chat:update`, false for `chat:message`.
    pub update: bool,
}

/// Everything one member received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct PushLog {
    /// Room index.
    pub room: usize,
    /// Member index within the room.
    pub member: usize,
    /// Whether the member joined (members that never joined are owed nothing).
    pub joined: bool,
    /// Pushes in arrival order.
    pub entries: Vec<PushEntry>,
}

/// One acked operation and who performed it.
#[derive(Debug, Clone)]
pub struct RoomOp {
    /// Member index of the actor.
    pub member: usize,
    /// The operation.
    pub record: OpRecord,
}

/// The change audit's result. [`ChangeReport::violations`] must be 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangeReport {
    /// Acked edits, reactions and reaction removals.
    pub acked_changes: u64,
    /// `chat:update` deliveries owed: acked changes × joined members of their room.
    pub expected_update_deliveries: u64,
    /// (member, change) pairs acked but never pushed to that member, not even as a later
    /// state of the message.
    pub updates_lost: u64,
    /// (member, change) pairs delivered only as a later state of the message (allowed; a
    /// node caught up from the store). Not a violation.
    pub updates_superseded: u64,
    /// Members that missed at least one update.
    pub members_with_lost_updates: u64,
    /// Pushes whose `seq` was not above the member's previous push.
    pub seq_out_of_order: u64,
    /// Acked operations of a room sharing a `seq` with an earlier one.
    pub duplicate_seqs: u64,
    /// `chat:update` pushes of a message the member had not received yet.
    pub update_before_message: u64,
    /// Pushes carrying the `seq` of an acked operation on another message.
    pub wrong_pushes: u64,
    /// Acks that contradict their operation.
    pub ack_mismatches: u64,
    /// Final states compared with `GET /api/messages`.
    pub history: HistoryReport,
    /// Up to 20 violations, described.
    pub examples: Vec<String>,
}

impl ChangeReport {
    /// Everything that must be 0.
    pub fn violations(&self) -> u64 {
        self.updates_lost
            + self.seq_out_of_order
            + self.duplicate_seqs
            + self.update_before_message
            + self.wrong_pushes
            + self.ack_mismatches
            + self.history.mismatches
    }

    /// Describes a violation of `category` unless enough are described already.
    fn example(&mut self, category: &str, text: impl FnOnce() -> String) {
        let same = self
            .examples
            .iter()
            .filter(|e| e.split(':').next() == Some(category))
            .count();
        if self.examples.len() < EXAMPLES && same < EXAMPLES_PER_CATEGORY {
            self.examples.push(format!("{category}: {}", text()));
        }
    }
}

/// One row of the per-kind table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KindRow {
    /// `send`, `reply`, `edit`, `react` or `unreact`.
    pub kind: String,
    /// Frames written.
    pub sent: u64,
    /// Ok acks.
    pub acked: u64,
    /// Acks with an error (by code in the run's error map, as `<kind>:<code>`).
    pub refused: u64,
    /// Ok acks per second of the sending phase.
    pub acked_per_s: f64,
    /// Write→ack latency at the actor.
    pub ack_latency: LatencySummary,
    /// Write→push latency at every other joined member (`chat:message` for send and reply,
    /// `chat:update` for the others).
    pub delivery_latency: LatencySummary,
}

/// Per-kind delivery latencies, µs, indexed like [`OpKind::ALL`].
pub type Deliveries = Vec<Histogram<u64>>;

/// Joins the members' push logs with the acked operations of their rooms
/// (`ops_by_room[room]`); returns the report (without the history part) and the delivery
/// latencies per kind.
pub fn audit(ops_by_room: &[Vec<RoomOp>], logs: &[PushLog]) -> (ChangeReport, Deliveries) {
    let mut report = ChangeReport::default();
    let mut deliveries: Deliveries = OpKind::ALL.iter().map(|_| new_histogram()).collect();
    let mut by_seq: Vec<HashMap<u64, usize>> = Vec::with_capacity(ops_by_room.len());
    for (room, ops) in ops_by_room.iter().enumerate() {
        let mut index = HashMap::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if op.record.kind.is_change() {
                report.acked_changes += 1;
            }
            if let Some(&first) = index.get(&op.record.seq) {
                report.duplicate_seqs += 1;
                let earlier: &RoomOp = &ops[first];
                report.example("duplicate seq", || {
                    format!(
                        "room {room}: seq {} acked twice ({} of {} by member {}, {} of {} by member {})",
                        op.record.seq,
                        earlier.record.kind.name(),
                        earlier.record.id,
                        earlier.member,
                        op.record.kind.name(),
                        op.record.id,
                        op.member
                    )
                });
            } else {
                index.insert(op.record.seq, i);
            }
        }
        by_seq.push(index);
    }
    for log in logs.iter().filter(|l| l.joined) {
        let (Some(ops), Some(index)) = (ops_by_room.get(log.room), by_seq.get(log.room)) else {
            continue;
        };
        audit_member(log, ops, index, &mut report, &mut deliveries);
    }
    (report, deliveries)
}

fn audit_member(
    log: &PushLog,
    ops: &[RoomOp],
    index: &HashMap<u64, usize>,
    report: &mut ChangeReport,
    deliveries: &mut Deliveries,
) {
    let (room, member) = (log.room, log.member);
    let mut seen_messages = HashSet::new();
    let mut newest: HashMap<i64, u64> = HashMap::new();
    let mut previous: Option<&PushEntry> = None;
    let mut greatest: Option<&PushEntry> = None;
    for e in &log.entries {
        let behind = if e.update {
            greatest.filter(|g| e.seq <= g.seq)
        } else {
            None
        };
        let went_back = newest.get(&e.id).is_some_and(|&held| e.seq < held);
        if let Some(p) = behind.or(previous.filter(|_| went_back)) {
            report.seq_out_of_order += 1;
            report.example("seq out of order", || {
                format!(
                    "room {room} member {member}: seq {} ({}) {:.1} ms after seq {} ({})",
                    e.seq,
                    describe(e, index, ops),
                    e.recv_nanos.saturating_sub(p.recv_nanos) as f64 / 1e6,
                    p.seq,
                    describe(p, index, ops)
                )
            });
        }
        previous = Some(e);
        if greatest.is_none_or(|g| e.seq > g.seq) {
            greatest = Some(e);
        }
        let held = newest.entry(e.id).or_default();
        *held = (*held).max(e.seq);
        if e.update {
            if !seen_messages.contains(&e.id) {
                report.update_before_message += 1;
                report.example("update before message", || {
                    format!(
                        "room {room} member {member}: update of {} before the message",
                        e.id
                    )
                });
            }
        } else {
            seen_messages.insert(e.id);
        }
        let Some(op) = index.get(&e.seq).map(|&i| &ops[i]) else {
            continue; // not acked to anyone (in flight at the end, or refused): not owed
        };
        if op.record.id != e.id {
            report.wrong_pushes += 1;
            report.example("wrong push", || {
                format!(
                    "room {room} member {member}: push of {} carries seq {} of the {} of {}",
                    e.id,
                    e.seq,
                    op.record.kind.name(),
                    op.record.id
                )
            });
            continue;
        }
        // The exact state the operation produced (a catch-up may deliver a message already
        // changed as its chat:message: that is a delivery of the change, not of the send).
        if op.member != member && op.record.kind.is_change() == e.update {
            Window::record_latency(
                &mut deliveries[op.record.kind.index()],
                op.record.sent_nanos,
                e.recv_nanos,
            );
        }
    }
    let mut seqs: Vec<u64> = log.entries.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    let mut lost_here = 0;
    for op in ops.iter().filter(|op| op.record.kind.is_change()) {
        report.expected_update_deliveries += 1;
        if seqs.binary_search(&op.record.seq).is_ok() {
            continue;
        }
        if newest
            .get(&op.record.id)
            .is_some_and(|&s| s >= op.record.seq)
        {
            report.updates_superseded += 1;
        } else {
            lost_here += 1;
            report.example("update lost", || {
                format!(
                    "room {room} member {member}: {} of {} (seq {}) never pushed",
                    op.record.kind.name(),
                    op.record.id,
                    op.record.seq
                )
            });
        }
    }
    if lost_here > 0 {
        report.updates_lost += lost_here;
        report.members_with_lost_updates += 1;
    }
}

/// What a push was, for examples: its type and message, and the acked operation whose
/// `seq` it carries, if any (`update of 1041, the react by member 3`).
fn describe(e: &PushEntry, index: &HashMap<u64, usize>, ops: &[RoomOp]) -> String {
    let what = if e.update { "update of" } else { "message" };
    match index.get(&e.seq).map(|&i| &ops[i]) {
        Some(op) => format!(
            "{what} {}, the {} by member {}",
            e.id,
            op.record.kind.name(),
            op.member
        ),
        None => format!("{what} {}, not acked", e.id),
    }
}

/// The per-kind table: frames written (`sent`) and refused per kind as the members counted
/// them, acks and ack latency from the acked operations, delivery latency from [`audit`].
pub fn kind_rows(
    ops_by_room: &[Vec<RoomOp>],
    sent: &[u64; 5],
    refused: &[u64; 5],
    deliveries: &Deliveries,
    measured_s: f64,
) -> Vec<KindRow> {
    let mut acked = [0u64; 5];
    let mut ack_latency: Vec<Histogram<u64>> =
        OpKind::ALL.iter().map(|_| new_histogram()).collect();
    for op in ops_by_room.iter().flatten() {
        let k = op.record.kind.index();
        acked[k] += 1;
        Window::record_latency(
            &mut ack_latency[k],
            op.record.sent_nanos,
            op.record.acked_nanos,
        );
    }
    OpKind::ALL
        .iter()
        .map(|kind| {
            let k = kind.index();
            KindRow {
                kind: kind.name().to_string(),
                sent: sent[k],
                acked: acked[k],
                refused: refused[k],
                acked_per_s: acked[k] as f64 / measured_s.max(f64::EPSILON),
                ack_latency: LatencySummary::of(&ack_latency[k]),
                delivery_latency: deliveries
                    .get(k)
                    .map(LatencySummary::of)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn op(member: usize, kind: OpKind, id: i64, seq: u64) -> RoomOp {
        RoomOp {
            member,
            record: OpRecord {
                kind,
                id,
                seq,
                sent_nanos: seq * 100 * MS,
                acked_nanos: seq * 100 * MS + 2 * MS,
                emoji: None,
                content: None,
            },
        }
    }

    fn push(id: i64, seq: u64, update: bool) -> PushEntry {
        // Every push arrives 5 ms after its operation was written.
        PushEntry {
            id,
            seq,
            recv_nanos: seq * 100 * MS + 5 * MS,
            update,
        }
    }

    fn log(member: usize, entries: Vec<PushEntry>) -> PushLog {
        PushLog {
            room: 0,
            member,
            joined: true,
            entries,
        }
    }

    /// Member 0 sends 10 (seq 1), member 1 reacts to it (seq 2), member 0 edits it (seq 3).
    fn room() -> Vec<Vec<RoomOp>> {
        vec![vec![
            op(0, OpKind::Send, 10, 1),
            op(1, OpKind::React, 10, 2),
            op(0, OpKind::Edit, 10, 3),
        ]]
    }

    fn complete() -> Vec<PushEntry> {
        vec![push(10, 1, false), push(10, 2, true), push(10, 3, true)]
    }

    #[test]
    fn complete_ordered_delivery_has_no_violations_and_measures_others_only() {
        let (r, d) = audit(&room(), &[log(0, complete()), log(1, complete())]);
        assert_eq!(r.violations(), 0, "{r:?}");
        assert_eq!(r.acked_changes, 2);
        assert_eq!(r.expected_update_deliveries, 4);
        // Each kind is measured at the member that did not perform it: one sample each.
        for kind in [OpKind::Send, OpKind::React, OpKind::Edit] {
            let h = &d[kind.index()];
            assert_eq!(h.len(), 1, "{kind:?}");
            assert!((LatencySummary::of(h).p50_ms - 5.0).abs() < 0.01);
        }
        assert!(d[OpKind::Reply.index()].is_empty());
    }

    #[test]
    fn finds_lost_reordered_early_and_wrong_pushes() {
        let bad = vec![
            push(10, 2, true), // update before its message
            push(10, 1, false),
            // seq 3 (the edit) never arrives, nor any later state of 10
            push(11, 4, true), // unknown seq: not owed, but the message 11 was never seen
        ];
        let (r, _) = audit(&room(), &[log(0, complete()), log(1, bad)]);
        assert_eq!(r.updates_lost, 1);
        assert_eq!(r.members_with_lost_updates, 1);
        assert_eq!(r.updates_superseded, 0);
        assert_eq!(r.seq_out_of_order, 1);
        assert_eq!(r.update_before_message, 2);
        assert_eq!(r.violations(), 4);
        assert!(r.examples.iter().any(|e| e.contains("never pushed")));
        let reordered = r
            .examples
            .iter()
            .find(|e| e.starts_with("seq out of order"))
            .unwrap();
        assert!(
            reordered.contains("seq 1 (message 10, the send by member 0)")
                && reordered.contains("after seq 2 (update of 10, the react by member 1)"),
            "{reordered}"
        );

        // A push of another message carrying an acked seq.
        let wrong = vec![push(10, 1, false), push(12, 2, true), push(10, 3, true)];
        let (r, _) = audit(&room(), &[log(1, wrong)]);
        assert_eq!(r.wrong_pushes, 1);
        assert_eq!(r.updates_lost, 0, "the seqs did arrive");
    }

    #[test]
    fn a_new_message_of_a_catch_up_may_come_below_an_earlier_change() {
        // From a store read: a change of 5 at 24, new 11 (edited since) at 25, new 12 at 23.
        let read = vec![push(5, 24, true), push(11, 25, false), push(12, 23, false)];
        let (r, _) = audit(&[Vec::new()], &[log(1, read)]);
        assert_eq!(r.seq_out_of_order, 0, "{r:?}");
        // A change behind a higher position is not allowed: a prefix would miss it.
        let behind = vec![push(11, 25, false), push(5, 24, true)];
        let (r, _) = audit(&[Vec::new()], &[log(1, behind)]);
        assert_eq!(r.seq_out_of_order, 1, "{r:?}");
    }

    #[test]
    fn a_later_state_supersedes_a_skipped_one() {
        // A catch-up from the store: member 1 gets 10 at seq 1, then straight its state at
        // seq 3, which includes the reaction of seq 2. Member 2 gets the message only once,
        // already in its latest state, as its chat:message.
        let caught_up = vec![push(10, 1, false), push(10, 3, true)];
        let late = vec![push(10, 3, false)];
        let (r, d) = audit(&room(), &[log(1, caught_up), log(2, late)]);
        assert_eq!(r.violations(), 0, "{r:?}");
        assert_eq!(
            r.updates_superseded, 2,
            "seq 2 for member 1 and for member 2"
        );
        assert_eq!(r.updates_lost, 0);
        // Only exact states, each by its own push type, are timed: the send and the edit
        // at member 1; member 2's chat:message in the edit's state times neither.
        assert_eq!(d[OpKind::Edit.index()].len(), 1);
        assert_eq!(d[OpKind::Send.index()].len(), 1);
    }

    #[test]
    fn examples_are_capped_per_category() {
        // Ten changes nobody received, and a reordering: both categories get described.
        let mut ops = vec![op(0, OpKind::Send, 10, 1)];
        ops.extend((2..12).map(|seq| op(0, OpKind::Edit, 10, seq)));
        let pushes = vec![push(10, 1, false), push(10, 0, false)];
        let (r, _) = audit(&[ops], &[log(1, pushes)]);
        assert_eq!(r.updates_lost, 10);
        let lost = r
            .examples
            .iter()
            .filter(|e| e.starts_with("update lost:"))
            .count();
        assert_eq!(lost, EXAMPLES_PER_CATEGORY);
        assert!(
            r.examples
                .iter()
                .any(|e| e.starts_with("seq out of order:")),
            "{:?}",
            r.examples
        );
    }

    #[test]
    fn duplicate_seqs_and_members_that_never_joined() {
        let mut ops = room();
        ops[0].push(op(1, OpKind::Unreact, 10, 3));
        let mut absent = log(2, vec![]);
        absent.joined = false;
        let (r, _) = audit(&ops, &[log(0, complete()), absent]);
        assert_eq!(r.duplicate_seqs, 1);
        assert_eq!(r.acked_changes, 3);
        assert_eq!(
            r.expected_update_deliveries, 3,
            "only the joined member is owed"
        );
        assert_eq!(r.violations(), 1);
    }

    #[test]
    fn kind_rows_count_acks_and_latencies_per_kind() {
        let ops = room();
        let (_, d) = audit(&ops, &[log(0, complete()), log(1, complete())]);
        let rows = kind_rows(&ops, &[4, 0, 1, 1, 0], &[3, 0, 0, 0, 0], &d, 2.0);
        let names: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(names, ["send", "reply", "edit", "react", "unreact"]);
        assert_eq!((rows[0].sent, rows[0].acked, rows[0].refused), (4, 1, 3));
        assert_eq!(rows[0].acked_per_s, 0.5);
        assert!((rows[2].ack_latency.p50_ms - 2.0).abs() < 0.01);
        assert_eq!(rows[2].delivery_latency.count, 1);
        assert_eq!(rows[1].acked, 0);
        assert_eq!(rows[1].ack_latency.count, 0);
    }
}
