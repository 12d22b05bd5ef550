//! Command-line interface: options shared by every scenario, then one subcommand per
//! scenario with its own flags (every flag can also come from a `--workload` JSON file).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::scenario::burst::BurstConfig;
use crate::scenario::connections::ConnectionsConfig;
use crate::scenario::fanout::FanoutConfig;
use crate::scenario::soak::SoakConfig;

/// Drives chat nodes over their WebSocket protocol and reports throughput, latency,
/// memory and lost messages.
#[derive(Debug, Parser)]
#[command(name = "chat-loadtest", version, about)]
pub struct Cli {
    /// Options every scenario takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: ScenarioCmd,
}

/// Options shared by every scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Node base URL; repeat (or comma-separate) for several nodes. Members of each room
    /// are spread round-robin over them. The load test talks to nothing else.
    #[arg(
        long = "url",
        env = "LOADTEST_URL",
        value_delimiter = ',',
        global = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub urls: Vec<String>,
    /// Local addresses to bind client sockets to, round-robin (e.g. 127.0.0.2,127.0.0.3),
    /// each adding its own range of ephemeral ports.
    #[arg(
        long,
        env = "LOADTEST_SOURCE_IPS",
        value_delimiter = ',',
        global = true
    )]
    pub source_ips: Vec<IpAddr>,
    /// The node's process id, for server memory (VmRSS) and CPU sampling.
    #[arg(long, env = "LOADTEST_SERVER_PID", global = true)]
    pub server_pid: Option<u32>,
    /// Write the full result as JSON here.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Write a self-contained HTML report (inline SVG charts) here.
    #[arg(long, global = true)]
    pub report: Option<PathBuf>,
    /// Errors tolerated before the run fails (lost messages always fail it).
    #[arg(long, env = "LOADTEST_MAX_ERRORS", default_value_t = 0, global = true)]
    pub max_errors: u64,
    /// No progress bar.
    #[arg(long, global = true)]
    pub quiet: bool,
}

/// One subcommand per scenario.
#[derive(Debug, Clone, Subcommand)]
pub enum ScenarioCmd {
    /// Open N sessions joined to R rooms and hold them: connect rate, failures, memory per session.
    Connections {
        /// Scenario flags.
        #[command(flatten)]
        config: ConnectionsConfig,
        /// JSON file whose keys replace the flags above.
        #[arg(long)]
        workload: Option<PathBuf>,
    },
    /// Open-loop fan-out: pushes/s, send→receive latency, lost messages.
    Fanout {
        /// Scenario flags.
        #[command(flatten)]
        config: FanoutConfig,
        /// JSON file whose keys replace the flags above.
        #[arg(long)]
        workload: Option<PathBuf>,
    },
    /// Closed loop: each sender sends its next message when its last is acked.
    Burst {
        /// Scenario flags.
        #[command(flatten)]
        config: BurstConfig,
        /// JSON file whose keys replace the flags above.
        #[arg(long)]
        workload: Option<PathBuf>,
    },
    /// Long steady fan-out with memory and latency sampled over time.
    Soak {
        /// Scenario flags.
        #[command(flatten)]
        config: SoakConfig,
        /// JSON file whose keys replace the flags above.
        #[arg(long)]
        workload: Option<PathBuf>,
    },
    /// The standard scenarios against two running nodes, A and B, interleaved round after
    /// round: medians per side and B / A (`--url` is not used).
    Compare(crate::compare::CompareArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_scenario_flags() {
        let cli = Cli::try_parse_from([
            "chat-loadtest",
            "--url",
            "http://a:1",
            "--url",
            "http://b:2",
            "fanout",
            "--rooms",
            "3",
            "--source-ips",
            "127.0.0.2,127.0.0.3",
        ])
        .unwrap();
        assert_eq!(cli.common.urls, vec!["http://a:1", "http://b:2"]);
        assert_eq!(cli.common.source_ips.len(), 2);
        match cli.scenario {
            ScenarioCmd::Fanout { config, workload } => {
                assert_eq!(config.rooms, 3);
                assert_eq!(config.members, 10);
                assert!(workload.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mix_is_off_by_default_and_parsed_from_flags_and_files() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["chat-loadtest"].iter().chain(args)).unwrap();
            match cli.scenario {
                ScenarioCmd::Burst { config, .. } => config,
                other => panic!("unexpected {other:?}"),
            }
        };
        let plain = parse(&["burst"]);
        assert_eq!(plain.mix, None);
        assert_eq!(plain.plan().unwrap().mix, None);
        // A plain configuration records no mix in the result file.
        assert!(serde_json::to_value(&plain).unwrap().get("mix").is_none());

        let mixed = parse(&[
            "burst",
            "--mix",
            "send=70,reply=10,edit=10,react=10",
            "--seed",
            "4",
        ]);
        let plan = mixed.plan().unwrap().mix.unwrap();
        assert_eq!(plan.mix.to_string(), "send=70,reply=10,edit=10,react=10");
        assert_eq!(plan.seed, 4);
        assert_eq!(
            serde_json::to_value(&mixed).unwrap()["mix"],
            "send=70,reply=10,edit=10,react=10"
        );

        let err = Cli::try_parse_from(["chat-loadtest", "burst", "--mix", "send=1,delete=1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown kind \"delete\""), "{err}");

        let from_file: crate::scenario::fanout::FanoutConfig = crate::workload::merge(
            &crate::scenario::fanout::FanoutConfig {
                rooms: 1,
                members: 2,
                senders: 1,
                rate: 1.0,
                duration: 1.0,
                grace: 1.0,
                content_bytes: 0,
                sample_every: 1.0,
                mix: None,
                seed: 1,
            },
            r#"{"mix": "edit=1,send=1", "seed": 9}"#,
            "fanout",
        )
        .unwrap();
        assert_eq!(
            from_file.mix.map(|m| m.to_string()).as_deref(),
            Some("send=1,edit=1")
        );
        assert_eq!(from_file.seed, 9);
    }
}
