//! `chat-loadtest`: a load generator that speaks the chat node's wire protocol
//! (PROTOCOL.md) against one or many nodes and reports throughput, send→receive latency,
//! server memory and **lost messages** (acked but not delivered to a member that had joined).
//!
//! # Layout
//! - [`cli`]: flags; [`workload`]: JSON workload files over them.
//! - [`target`]: the `--url`s and `--source-ips`; [`client`]: the WebSocket protocol
//!   client; [`http`]: room creation and health.
//! - [`scenario`]: `connections`, and `fanout` / `burst` / `soak` on one message engine
//!   ([`scenario::traffic`]).
//! - [`mix`]: `--mix` ratios and operation kinds; [`rng`]: the seeded choices;
//!   [`ops`]: what a mixed member does next ([`scenario::mixed`] runs it).
//! - [`stats`]: HdrHistogram latency and per-interval throughput; [`loss`]: the loss audit;
//!   [`changes`]: the change audit and per-kind rows; [`history`]: the final-state check;
//!   [`procfs`]: server RSS and CPU; [`hops`]: the node's latency budget of a send, from
//!   its `/metrics`.
//! - [`outcome`]: the result and its verdict; [`report`]: summary, JSON and HTML.
//! - [`compare`]: the standard scenarios against two nodes, interleaved, medians and ratios.
//!
//! The scenarios are library functions so tests can run them against a node they start.

pub mod changes;
pub mod cli;
pub mod client;
pub mod compare;
pub mod error;
pub mod history;
pub mod hops;
pub mod http;
pub mod loss;
pub mod mix;
pub mod ops;
pub mod outcome;
pub mod procfs;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod workload;

use cli::{Cli, ScenarioCmd};
use error::LoadError;
use outcome::Outcome;
use scenario::Env;
use target::Targets;

/// Raises the soft open-file limit to the hard limit: every session is a socket, and the
/// default soft limit (1024) would cap a connections run long before the machine does.
/// Returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Runs the scenario the command line names and judges it (files are written by the caller).
pub async fn run(cli: &Cli) -> Result<Outcome, LoadError> {
    let env = Env {
        targets: Targets::new(&cli.common.urls, cli.common.source_ips.clone()).await?,
        server_pid: cli.common.server_pid,
        progress: !cli.common.quiet,
    };
    let mut outcome = match &cli.scenario {
        ScenarioCmd::Connections { config, workload } => {
            let config = workload::load(config, workload.as_deref(), "connections")?;
            scenario::connections::run(&env, &config).await?
        }
        ScenarioCmd::Fanout { config, workload } => {
            let config = workload::load(config, workload.as_deref(), "fanout")?;
            scenario::fanout::run(&env, &config).await?
        }
        ScenarioCmd::Burst { config, workload } => {
            let config = workload::load(config, workload.as_deref(), "burst")?;
            scenario::burst::run(&env, &config).await?
        }
        ScenarioCmd::Soak { config, workload } => {
            let config = workload::load(config, workload.as_deref(), "soak")?;
            scenario::soak::run(&env, &config).await?
        }
        ScenarioCmd::Compare(_) => {
            return Err(LoadError::Config(
                "compare runs through compare::run, not as one scenario".into(),
            ))
        }
    };
    outcome.judge(cli.common.max_errors);
    Ok(outcome)
}
