//! The mixed workload (`--mix`) inside the message engine: each member's [`Planner`], what
//! it logs while the run goes, and, after the run, the change audit and the history check
//! that turn those logs into the per-kind rows of [`MixSummary`]. [`super::traffic`] calls
//! in here only when the plan has a mix; without one the engine runs exactly as before.

use std::collections::HashSet;

use crate::changes::{self, PushEntry, PushLog, RoomOp};
use crate::client::MessageInfo;
use crate::history::{self, HistoryReport};
use crate::mix::{Mix, OpKind};
use crate::ops::{Acked, OpRecord, Planner};
use crate::outcome::MixSummary;
use crate::rng::Rng;
use crate::target::Targets;

/// Rooms whose history is read at once after the run.
const HISTORY_CONCURRENCY: usize = 8;
/// Mismatching acks described per member.
const MISMATCH_EXAMPLES: usize = 3;

/// The mix of a plan and the seed of its members' choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixPlan {
    /// Weights of the kinds.
    pub mix: Mix,
    /// Seed; member (room, member) draws from [`Rng::for_member`].
    pub seed: u64,
}

/// The `authorKey` of a member: unique per simulated user (and per run, through `nonce`),
/// within the 16..128 characters the protocol allows. Joining with it is what lets the
/// member edit its own messages.
pub fn author_key(nonce: u64, room: usize, member: usize) -> String {
    format!("loadtest-author-{nonce:016x}-{room}-{member}")
}

/// What the engine does with an ack of a mixed member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckEffect {
    /// An ok ack: count it and its latency from `sent_nanos`; `message` is the new message
    /// of a send or reply (owed to every member, audited by the loss check).
    Done {
        /// The new message's id, for send and reply.
        message: Option<i64>,
        /// When the operation was written.
        sent_nanos: u64,
    },
    /// Count an error under this key (`edit:forbidden`, `ack_unknown_ref`, ...).
    Error(String),
}

/// One member's mixed-workload state during the run.
#[derive(Debug)]
pub struct MixedMember {
    planner: Planner,
    room: usize,
    member: usize,
    pushes: Vec<PushEntry>,
    records: Vec<OpRecord>,
    sent: [u64; 5],
    refused: [u64; 5],
    tainted: Vec<i64>,
    mismatches: u64,
    mismatch_examples: Vec<String>,
}

/// What a mixed member hands back at the end.
#[derive(Debug, Clone, Default)]
pub struct MixedResult {
    /// Every push it received.
    pub pushes: PushLog,
    /// Its acked operations.
    pub records: Vec<OpRecord>,
    /// Frames written per kind.
    pub sent: [u64; 5],
    /// Refused (or message-less) acks per kind.
    pub refused: [u64; 5],
    /// Messages targeted by refused or unanswered operations.
    pub tainted: Vec<i64>,
    /// Acks that contradicted their operation.
    pub mismatches: u64,
    /// A few of them, described.
    pub mismatch_examples: Vec<String>,
}

impl MixedMember {
    /// The state of member `member` of room `room` (code `code`).
    pub fn new(plan: &MixPlan, code: &str, room: usize, member: usize, pad: usize) -> Self {
        let rng = Rng::for_member(plan.seed, room, member);
        MixedMember {
            planner: Planner::new(plan.mix, rng, code, room, member, pad),
            room,
            member,
            pushes: Vec::new(),
            records: Vec::new(),
            sent: [0; 5],
            refused: [0; 5],
            tainted: Vec::new(),
            mismatches: 0,
            mismatch_examples: Vec::new(),
        }
    }

    /// The next frame to write, with ref `reference`, at `now_nanos`.
    pub fn next(&mut self, reference: u64, now_nanos: u64) -> String {
        let planned = self.planner.next(reference, now_nanos);
        self.sent[planned.kind.index()] += 1;
        planned.frame
    }

    /// Logs a `chat:message` (`update` false) or `chat:update` push read at `now_nanos`.
    pub fn on_push(&mut self, info: &MessageInfo, update: bool, now_nanos: u64) {
        if !update {
            self.planner.on_message(info.id);
        }
        self.pushes.push(PushEntry {
            id: info.id,
            seq: info.seq.unwrap_or(0),
            recv_nanos: now_nanos,
            update,
        });
    }

    /// Accounts the ack of `reference` read at `now_nanos`.
    pub fn on_ack(
        &mut self,
        reference: u64,
        result: Result<Option<MessageInfo>, String>,
        now_nanos: u64,
    ) -> AckEffect {
        match self.planner.on_ack(reference, result, now_nanos) {
            Acked::Done { record, mismatch } => {
                if mismatch {
                    self.mismatches += 1;
                    if self.mismatch_examples.len() < MISMATCH_EXAMPLES {
                        self.mismatch_examples.push(format!(
                            "ack mismatch: room {} member {}: the ack of a {} (ref {reference}) carries message {} seq {}",
                            self.room, self.member, record.kind.name(), record.id, record.seq
                        ));
                    }
                }
                let effect = AckEffect::Done {
                    message: (!record.kind.is_change()).then_some(record.id),
                    sent_nanos: record.sent_nanos,
                };
                self.records.push(record);
                effect
            }
            Acked::Refused { kind, code, target } => {
                self.refused[kind.index()] += 1;
                self.tainted.extend(target);
                AckEffect::Error(format!("{}:{code}", kind.name()))
            }
            Acked::NoMessage { kind } => {
                self.refused[kind.index()] += 1;
                AckEffect::Error(format!("{}:ack_without_message", kind.name()))
            }
            Acked::Unknown => AckEffect::Error("ack_unknown_ref".into()),
        }
    }

    /// Hands in the logs; `joined` says whether the member was in the room at all.
    pub fn finish(mut self, joined: bool) -> MixedResult {
        self.tainted.extend(self.planner.unresolved_targets());
        MixedResult {
            pushes: PushLog {
                room: self.room,
                member: self.member,
                joined,
                entries: self.pushes,
            },
            records: self.records,
            sent: self.sent,
            refused: self.refused,
            tainted: self.tainted,
            mismatches: self.mismatches,
            mismatch_examples: self.mismatch_examples,
        }
    }
}

/// Turns every member's logs into the summary: the change audit, the history check of every
/// room (read over REST from the room's first node), and the per-kind rows. Returns the
/// summary and how many rooms' history could not be read (counted as errors by the caller).
pub async fn summarise(
    http: &reqwest::Client,
    targets: &Targets,
    codes: &[String],
    plan: &MixPlan,
    results: Vec<MixedResult>,
    measured_s: f64,
) -> (MixSummary, u64) {
    let rooms = codes.len();
    let mut ops_by_room: Vec<Vec<RoomOp>> = vec![Vec::new(); rooms];
    let mut tainted: Vec<HashSet<i64>> = vec![HashSet::new(); rooms];
    let mut logs = Vec::with_capacity(results.len());
    let (mut sent, mut refused) = ([0u64; 5], [0u64; 5]);
    let (mut mismatches, mut mismatch_examples) = (0, Vec::new());
    for r in results {
        let (room, member) = (r.pushes.room, r.pushes.member);
        if room >= rooms {
            continue;
        }
        ops_by_room[room].extend(
            r.records
                .into_iter()
                .map(|record| RoomOp { member, record }),
        );
        tainted[room].extend(r.tainted);
        for k in 0..OpKind::ALL.len() {
            sent[k] += r.sent[k];
            refused[k] += r.refused[k];
        }
        mismatches += r.mismatches;
        mismatch_examples.extend(r.mismatch_examples);
        logs.push(r.pushes);
    }
    let (mut report, deliveries) = changes::audit(&ops_by_room, &logs);
    report.ack_mismatches = mismatches;
    let room_space = 20usize.saturating_sub(report.examples.len());
    report
        .examples
        .extend(mismatch_examples.into_iter().take(room_space));

    let mut failed_reads = 0;
    let mut start = 0;
    while start < rooms {
        let end = (start + HISTORY_CONCURRENCY).min(rooms);
        let batch = (start..end).map(|room| {
            let (want, unverified) = history::expected(&ops_by_room[room], &tainted[room]);
            let node = targets.node_for(room, 0);
            let code = codes[room].as_str();
            async move {
                let Some(lowest) = history::oldest_needed(&want) else {
                    return Ok(HistoryReport {
                        unverified,
                        ..Default::default()
                    });
                };
                let messages = history::fetch(http, node, code, lowest).await?;
                let mut r = history::compare(&want, &messages);
                r.unverified = unverified;
                Ok::<_, crate::error::LoadError>(r)
            }
        });
        for r in futures_util::future::join_all(batch).await {
            match r {
                Ok(r) => merge(&mut report.history, r),
                Err(_) => failed_reads += 1,
            }
        }
        start = end;
    }
    let kinds = changes::kind_rows(&ops_by_room, &sent, &refused, &deliveries, measured_s);
    let summary = MixSummary {
        mix: plan.mix.to_string(),
        seed: plan.seed,
        kinds,
        violations: report.violations(),
        changes: report,
    };
    (summary, failed_reads)
}

fn merge(total: &mut HistoryReport, r: HistoryReport) {
    total.checked += r.checked;
    total.mismatches += r.mismatches;
    total.unverified += r.unverified;
    let room = 20usize.saturating_sub(total.examples.len());
    total.examples.extend(r.examples.into_iter().take(room));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: i64, seq: u64) -> Option<MessageInfo> {
        Some(MessageInfo {
            id,
            sent_at_nanos: None,
            seq: Some(seq),
            reply_to: None,
        })
    }

    #[test]
    fn author_keys_are_unique_and_within_the_protocol_bounds() {
        let a = author_key(u64::MAX, 199_999, 99);
        let b = author_key(0, 0, 0);
        for k in [&a, &b] {
            assert!((16..=128).contains(&k.chars().count()), "{k}");
            assert!(k.chars().all(|c| c.is_ascii_graphic()));
        }
        assert_ne!(author_key(1, 1, 23), author_key(1, 12, 3));
        assert_ne!(author_key(1, 0, 0), author_key(2, 0, 0));
    }

    #[test]
    fn a_member_counts_per_kind_and_hands_in_its_logs() {
        let plan = MixPlan {
            mix: "send=1".parse().unwrap(),
            seed: 1,
        };
        let mut m = MixedMember::new(&plan, "ABCDEF", 2, 1, 0);
        let frame = m.next(2, 10);
        assert!(frame.contains("chat:send"));
        m.on_push(&info(50, 1).unwrap(), false, 15);
        assert_eq!(
            m.on_ack(2, Ok(info(50, 1)), 20),
            AckEffect::Done {
                message: Some(50),
                sent_nanos: 10
            }
        );
        m.next(3, 30);
        assert_eq!(
            m.on_ack(3, Err("rate_limited".into()), 31),
            AckEffect::Error("send:rate_limited".into())
        );
        assert_eq!(
            m.on_ack(3, Err("x".into()), 31),
            AckEffect::Error("ack_unknown_ref".into())
        );
        m.next(4, 40); // never answered
        let r = m.finish(true);
        assert_eq!(r.sent[OpKind::Send.index()], 3);
        assert_eq!(r.refused[OpKind::Send.index()], 1);
        assert_eq!(r.records.len(), 1);
        assert_eq!(
            (r.pushes.room, r.pushes.member, r.pushes.joined),
            (2, 1, true)
        );
        assert_eq!(
            r.pushes.entries,
            vec![PushEntry {
                id: 50,
                seq: 1,
                recv_nanos: 15,
                update: false
            }]
        );
        assert!(r.tainted.is_empty(), "sends target nothing");
    }
}
