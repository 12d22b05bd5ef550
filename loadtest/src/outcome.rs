//! The result of a scenario run: what is printed, written to `--out` and drawn in the
//! report, and the pass/fail verdict that decides the exit code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hops::HopFigure;

use crate::changes::{ChangeReport, KindRow};
use crate::loss::LossReport;
use crate::stats::{LatencySummary, TimePoint};

/// Figures of the mixed workload (`--mix`): per-kind rows and the change audit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MixSummary {
    /// The mix, canonical form (`send=70,reply=10,...`).
    pub mix: String,
    /// The seed of the members' operation choices.
    pub seed: u64,
    /// One row per kind, in `send, reply, edit, react, unreact` order.
    pub kinds: Vec<KindRow>,
    /// Delivery, order and final-state checks of the changes.
    pub changes: ChangeReport,
    /// `changes.violations()`: what must be 0 (any fails the run), written out for scripts.
    #[serde(default)]
    pub violations: u64,
}

/// Figures of a message scenario (fanout, burst, soak).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrafficSummary {
    /// Rooms created.
    pub rooms: usize,
    /// Members per room requested.
    pub members_per_room: usize,
    /// Senders per room.
    pub senders_per_room: usize,
    /// Members whose connect and join succeeded.
    pub members_joined: u64,
    /// Members that failed to connect or join.
    pub members_failed: u64,
    /// Length of the sending phase, s (rates are per second of it).
    pub measured_s: f64,
    /// Length of the grace period actually waited for outstanding deliveries, s.
    pub drain_s: f64,
    /// `chat:send` frames written (with `--mix`: frames of every operation).
    pub sends: u64,
    /// Ok acks (with `--mix`: of every operation).
    pub acks: u64,
    /// Pushes received by members (with `--mix`: `chat:update` pushes too).
    pub pushes: u64,
    /// Sends per second.
    pub sends_per_s: f64,
    /// Acked messages per second (the closed-loop ceiling in `burst`).
    pub acks_per_s: f64,
    /// Pushes delivered per second.
    pub pushes_per_s: f64,
    /// Open-loop ticks skipped because a sender had too many sends in flight (overload).
    pub throttled: u64,
    /// send→receive latency at every receiving member.
    pub latency: LatencySummary,
    /// send→ack latency at the sender (with `--mix`: of every operation).
    pub ack_latency: LatencySummary,
    /// The loss audit.
    pub loss: LossReport,
    /// The mixed workload's figures; absent without `--mix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixSummary>,
    /// The first node's latency budget of the sends of the sending phase, hop by hop
    /// (from its `/metrics`; empty when the node does not serve it to us).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<HopFigure>,
}

/// Figures of the `connections` scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectionsSummary {
    /// Sessions requested.
    pub requested: u64,
    /// Sessions connected and joined.
    pub connected: u64,
    /// Sessions that failed to connect or join.
    pub failed: u64,
    /// Time to connect and join them all, s.
    pub connect_s: f64,
    /// Connected-and-joined sessions per second.
    pub connects_per_s: f64,
    /// Connect+join latency per session.
    pub connect_latency: LatencySummary,
    /// How long they were held, s.
    pub held_s: f64,
    /// Sessions that dropped while held.
    pub dropped: u64,
    /// Server RSS after all joined, KiB.
    pub server_rss_kib_after: Option<u64>,
    /// (after − before) / connected, KiB: what one joined session costs the node.
    pub server_kib_per_session: Option<f64>,
    /// Node CPU while the sessions were only held (no connects, no traffic but the node's
    /// heartbeats and the clients' answers), % of one core: what idle sessions cost.
    #[serde(default)]
    pub server_idle_cpu_percent: Option<f64>,
}

/// One scenario run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// `connections`, `fanout`, `burst` or `soak`.
    pub scenario: String,
    /// The node URLs driven.
    pub urls: Vec<String>,
    /// The effective scenario configuration (flags merged with the workload file).
    pub config: serde_json::Value,
    /// When the run started, Unix seconds.
    pub started_unix: u64,
    /// Message-scenario figures.
    pub traffic: Option<TrafficSummary>,
    /// Connections-scenario figures.
    pub connections: Option<ConnectionsSummary>,
    /// Per-interval samples for the report.
    pub timeline: Vec<TimePoint>,
    /// Error counts by kind (`connect`, `send:rate_limited`, `disconnect`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub error_total: u64,
    /// Server RSS before the sessions connected, KiB (with `--server-pid`).
    pub server_rss_kib_before: Option<u64>,
    /// Server RSS at the end, KiB.
    pub server_rss_kib_end: Option<u64>,
    /// Load generator CPU during the measured phase, % of one core (it shares the machine).
    pub loadgen_cpu_percent: Option<f64>,
    /// Node CPU during the measured phase, % of one core (with `--server-pid`).
    pub server_cpu_percent: Option<f64>,
    /// The whole machine's busy CPU during the measured phase, % of one core (200 = both
    /// cores of a 2-core machine): what is left after the load generator and the node is
    /// the database, Redis and anything else running.
    #[serde(default)]
    pub machine_cpu_percent: Option<f64>,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
}

impl Outcome {
    /// Decides pass/fail: any lost message or change violation fails, and so do more
    /// errors than allowed.
    pub fn judge(&mut self, max_errors: u64) {
        self.failures.clear();
        if let Some(t) = &self.traffic {
            if t.loss.lost > 0 {
                self.failures.push(format!(
                    "{} messages lost ({} members affected)",
                    t.loss.lost, t.loss.members_with_loss
                ));
            }
            if let Some(m) = &t.mix {
                let v = m.changes.violations().max(m.violations);
                if v > 0 {
                    self.failures.push(format!("{v} change violations"));
                }
            }
        }
        if self.error_total > max_errors {
            self.failures.push(format!(
                "{} errors (allowed: {max_errors})",
                self.error_total
            ));
        }
    }

    /// True when [`Outcome::judge`] found nothing wrong.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_or_too_many_errors_fail() {
        let mut o = Outcome::default();
        o.judge(0);
        assert!(o.passed());
        o.error_total = 3;
        o.judge(5);
        assert!(o.passed());
        o.judge(2);
        assert!(!o.passed());
        o.error_total = 0;
        o.traffic = Some(TrafficSummary {
            loss: LossReport {
                lost: 1,
                members_with_loss: 1,
                ..Default::default()
            },
            ..Default::default()
        });
        o.judge(100);
        assert_eq!(o.failures.len(), 1);
    }

    #[test]
    fn change_violations_fail_the_run() {
        let mut o = Outcome {
            traffic: Some(TrafficSummary {
                mix: Some(MixSummary::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        o.judge(0);
        assert!(o.passed());
        if let Some(m) = o.traffic.as_mut().and_then(|t| t.mix.as_mut()) {
            m.changes.history.mismatches = 2;
        }
        o.judge(0);
        assert_eq!(o.failures, vec!["2 change violations".to_string()]);
    }
}
