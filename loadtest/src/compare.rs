//! `compare`: the standard scenarios against two running nodes, A (say the previous build)
//! and B (the change), in one sitting. Runs are interleaved (round after round: every
//! scenario on A, then on B), so both see the same machine at the same time; the result is
//! each figure's median per side and the ratio B / A, which is what a noisy machine can
//! vouch for (BENCHMARKS.md quotes ratios measured this way).
//!
//! The nodes are started by the caller (fresh, same flags, `--send-rate 0
//! --room-create-rate 0`); every run creates rooms of its own, so both nodes grow alike.

use std::fmt::Write as _;

use clap::{Args, Parser, ValueEnum};
use serde::Serialize;

use crate::cli::CommonArgs;
use crate::error::LoadError;
use crate::outcome::Outcome;
use crate::scenario::{self, Env};
use crate::target::Targets;

/// The scenarios `compare` knows: the standard ones of `run-standard.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standard {
    /// Closed loop, 50 rooms × 2 senders: acked/s and ack latency.
    Burst,
    /// Open loop, 100 rooms × 10 members, 2 senders × 5/s: latency at 10,000 pushes/s.
    Fanout,
    /// 5,000 sessions in 500 rooms held 10 s: KiB per session (needs the pids).
    Connections,
    /// Open loop, 100 rooms × 100 members, 2 senders × 20/s (up to 400,000 pushes/s asked):
    /// the most pushes per second the node delivers.
    Fanout100,
}

/// Flags of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Node A's base URL (the reference).
    #[arg(long)]
    pub a: String,
    /// Node B's base URL (the change).
    #[arg(long)]
    pub b: String,
    /// Node A's pid, for memory and CPU.
    #[arg(long)]
    pub a_pid: Option<u32>,
    /// Node B's pid.
    #[arg(long)]
    pub b_pid: Option<u32>,
    /// Rounds; each runs every scenario on A, then on B.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Which scenarios, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "burst,fanout")]
    pub scenarios: Vec<Standard>,
    /// Sending phase of the message scenarios, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

/// The figures of one run that `compare` sets side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Acked messages per second.
    pub acked_per_s: Option<f64>,
    /// Ack latency p50 / p99, ms.
    pub ack_p50_ms: Option<f64>,
    /// Ack latency p99, ms.
    pub ack_p99_ms: Option<f64>,
    /// Pushes delivered per second.
    pub pushes_per_s: Option<f64>,
    /// Send → receive latency p50, ms.
    pub latency_p50_ms: Option<f64>,
    /// Send → receive latency p99, ms.
    pub latency_p99_ms: Option<f64>,
    /// Server KiB per joined session.
    pub kib_per_session: Option<f64>,
    /// Server CPU while the sessions are only held, % of one core.
    pub idle_cpu_pct: Option<f64>,
    /// Server CPU, % of one core.
    pub server_cpu_pct: Option<f64>,
}

impl Figures {
    /// The figures of a run.
    pub fn of(outcome: &Outcome) -> Figures {
        let mut figures = Figures {
            server_cpu_pct: outcome.server_cpu_percent,
            ..Figures::default()
        };
        if let Some(t) = &outcome.traffic {
            figures.acked_per_s = Some(t.acks_per_s);
            figures.ack_p50_ms = Some(t.ack_latency.p50_ms);
            figures.ack_p99_ms = Some(t.ack_latency.p99_ms);
            figures.pushes_per_s = Some(t.pushes_per_s);
            figures.latency_p50_ms = Some(t.latency.p50_ms);
            figures.latency_p99_ms = Some(t.latency.p99_ms);
        }
        if let Some(c) = &outcome.connections {
            figures.kib_per_session = c.server_kib_per_session;
            figures.idle_cpu_pct = c.server_idle_cpu_percent;
        }
        figures
    }

    /// Name and value of every figure, in print order.
    fn named(&self) -> [(&'static str, Option<f64>); 9] {
        [
            ("acked/s", self.acked_per_s),
            ("ack p50 ms", self.ack_p50_ms),
            ("ack p99 ms", self.ack_p99_ms),
            ("pushes/s", self.pushes_per_s),
            ("send→receive p50 ms", self.latency_p50_ms),
            ("send→receive p99 ms", self.latency_p99_ms),
            ("KiB per session", self.kib_per_session),
            ("idle CPU %", self.idle_cpu_pct),
            ("server CPU %", self.server_cpu_pct),
        ]
    }
}

/// One scenario's runs on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRuns {
    /// The scenario.
    pub scenario: Standard,
    /// A's runs, in round order.
    pub a: Vec<Figures>,
    /// B's runs.
    pub b: Vec<Figures>,
}

/// A whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// A's URL.
    pub a: String,
    /// B's URL.
    pub b: String,
    /// Per scenario.
    pub scenarios: Vec<ScenarioRuns>,
    /// Runs that failed their verdict (lost messages, errors), as "side scenario round: why".
    pub failures: Vec<String>,
}

impl Comparison {
    /// Whether every run passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The median of the values present; `None` when there are none.
pub fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().flatten().collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// A scenario's configuration: the flags of `run-standard.sh`, read by the scenario's own
/// parser so that every other flag keeps its default.
fn config<T: Args>(flags: &[String]) -> Result<T, LoadError> {
    #[derive(Parser)]
    struct Flags<T: Args> {
        #[command(flatten)]
        config: T,
    }
    Flags::<T>::try_parse_from(std::iter::once("compare".to_owned()).chain(flags.iter().cloned()))
        .map(|flags| flags.config)
        .map_err(|e| LoadError::Config(e.to_string()))
}

/// Runs `scenario` once against `url`.
async fn run_one(
    common: &CommonArgs,
    scenario: Standard,
    url: &str,
    pid: Option<u32>,
    duration: f64,
) -> Result<Outcome, LoadError> {
    let env = Env {
        targets: Targets::new(&[url.to_owned()], common.source_ips.clone()).await?,
        server_pid: pid,
        progress: false,
    };
    let duration = duration.to_string();
    let flags = |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
    let mut outcome = match scenario {
        Standard::Burst => {
            let args = flags(&[
                "--rooms",
                "50",
                "--members",
                "2",
                "--senders",
                "2",
                "--duration",
                &duration,
            ]);
            scenario::burst::run(&env, &config(&args)?).await?
        }
        Standard::Fanout => {
            let args = flags(&[
                "--rooms",
                "100",
                "--members",
                "10",
                "--senders",
                "2",
                "--rate",
                "5",
                "--duration",
                &duration,
            ]);
            scenario::fanout::run(&env, &config(&args)?).await?
        }
        Standard::Fanout100 => {
            let args = flags(&[
                "--rooms",
                "100",
                "--members",
                "100",
                "--senders",
                "2",
                "--rate",
                "20",
                "--duration",
                &duration,
            ]);
            scenario::fanout::run(&env, &config(&args)?).await?
        }
        Standard::Connections => {
            let args = flags(&["--sessions", "5000", "--rooms", "500", "--hold", "10"]);
            scenario::connections::run(&env, &config(&args)?).await?
        }
    };
    outcome.judge(common.max_errors);
    Ok(outcome)
}

/// Runs the comparison: `rounds` × (every scenario on A, then on B).
pub async fn run(common: &CommonArgs, args: &CompareArgs) -> Result<Comparison, LoadError> {
    let mut comparison = Comparison {
        a: args.a.clone(),
        b: args.b.clone(),
        scenarios: args
            .scenarios
            .iter()
            .map(|&scenario| ScenarioRuns {
                scenario,
                a: Vec::new(),
                b: Vec::new(),
            })
            .collect(),
        failures: Vec::new(),
    };
    for round in 1..=args.rounds.max(1) {
        for runs in &mut comparison.scenarios {
            for (side, url, pid) in [("A", &args.a, args.a_pid), ("B", &args.b, args.b_pid)] {
                let outcome = run_one(common, runs.scenario, url, pid, args.duration).await?;
                if !outcome.passed() {
                    let why = outcome.failures.join("; ");
                    comparison
                        .failures
                        .push(format!("{side} {:?} round {round}: {why}", runs.scenario));
                }
                if !common.quiet {
                    eprintln!("round {round} {:?} {side}: done", runs.scenario);
                }
                let figures = Figures::of(&outcome);
                if side == "A" {
                    runs.a.push(figures);
                } else {
                    runs.b.push(figures);
                }
            }
        }
    }
    Ok(comparison)
}

/// The comparison as text: per scenario and figure, both medians and B / A.
pub fn summary(comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "compare: A = {}, B = {}", comparison.a, comparison.b);
    for runs in &comparison.scenarios {
        let rounds = runs.a.len().min(runs.b.len());
        let _ = writeln!(out, "{:?} ({rounds} rounds, medians):", runs.scenario);
        let _ = writeln!(
            out,
            "  {:<22} {:>12} {:>12} {:>8}",
            "figure", "A", "B", "B / A"
        );
        for index in 0..Figures::default().named().len() {
            let pick = |f: &Figures| f.named()[index].1;
            let (a, b) = (
                median(runs.a.iter().map(pick)),
                median(runs.b.iter().map(pick)),
            );
            let (Some(a), Some(b)) = (a, b) else { continue };
            let name = Figures::default().named()[index].0;
            let ratio = if a == 0.0 { f64::NAN } else { b / a };
            let _ = writeln!(out, "  {name:<22} {a:>12.2} {b:>12.2} {ratio:>8.3}");
        }
    }
    if comparison.passed() {
        let _ = writeln!(out, "every run passed (0 lost)");
    } else {
        for failure in &comparison.failures {
            let _ = writeln!(out, "FAILED {failure}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::TrafficSummary;

    #[test]
    fn medians_of_odd_even_and_missing_values() {
        assert_eq!(median([Some(3.0), Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(
            median([Some(4.0), None, Some(1.0), Some(2.0), Some(3.0)]),
            Some(2.5)
        );
        assert_eq!(median([None, None]), None);
    }

    #[test]
    fn the_standard_flags_parse_and_keep_the_other_defaults() {
        let burst: crate::scenario::burst::BurstConfig = config(&[
            "--rooms".into(),
            "50".into(),
            "--duration".into(),
            "7".into(),
        ])
        .unwrap();
        assert_eq!((burst.rooms, burst.duration, burst.window), (50, 7.0, 1));
        assert!(config::<crate::scenario::burst::BurstConfig>(&["--nope".into()]).is_err());
    }

    #[test]
    fn the_summary_sets_medians_side_by_side_with_their_ratio() {
        let run = |acked: f64| {
            let outcome = Outcome {
                traffic: Some(TrafficSummary {
                    acks_per_s: acked,
                    ..TrafficSummary::default()
                }),
                ..Outcome::default()
            };
            Figures::of(&outcome)
        };
        let comparison = Comparison {
            a: "http://a".into(),
            b: "http://b".into(),
            scenarios: vec![ScenarioRuns {
                scenario: Standard::Burst,
                a: vec![run(100.0), run(300.0), run(200.0)],
                b: vec![run(250.0), run(150.0), run(300.0)],
            }],
            failures: Vec::new(),
        };
        let text = summary(&comparison);
        let line = text.lines().find(|l| l.contains("acked/s")).unwrap();
        assert!(
            line.contains("200.00") && line.contains("250.00") && line.contains("1.250"),
            "{line}"
        );
        assert!(text.contains("every run passed"));
    }
}
