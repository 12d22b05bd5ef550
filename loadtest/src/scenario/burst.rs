//! `burst`: the closed-loop ceiling. Every sender keeps `window` sends outstanding and
//! sends the next one as soon as one is acked, so the acked rate is what the node (and
//! its store) sustain, not what the load generator offers.

use serde::{Deserialize, Serialize};

use crate::error::LoadError;
use crate::mix::{default_seed, Mix, DEFAULT_SEED};
use crate::outcome::Outcome;
use crate::scenario::mixed::MixPlan;
use crate::scenario::traffic::{self, Pace, TrafficPlan};
use crate::scenario::Env;
use crate::workload::seconds;

/// Closed-loop parameters. The defaults are the target scenario: 50 rooms × 2
/// members, both sending, each waiting for its ack.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BurstConfig {
    /// Rooms.
    #[arg(long, default_value_t = 50)]
    pub rooms: usize,
    /// Members (sessions) per room.
    #[arg(long, default_value_t = 2)]
    pub members: usize,
    /// Senders per room.
    #[arg(long, default_value_t = 2)]
    pub senders: usize,
    /// Sends each sender keeps outstanding (1 = wait for each ack).
    #[arg(long, default_value_t = 1)]
    pub window: u32,
    /// Sending phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Longest wait after sending for outstanding acks and pushes, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// Filler characters per message.
    #[arg(long, default_value_t = 32)]
    pub content_bytes: usize,
    /// Time-series resolution, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub sample_every: f64,
    /// Mixed workload: relative weights of `send`, `reply`, `edit`, `react` and `unreact`
    /// (e.g. `send=70,reply=10,edit=10,react=8,unreact=2`). Without it senders only send
    /// plain messages, exactly as before mixes existed.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<Mix>,
    /// Seed of the mixed workload's choices (kinds and targets), so a mix can be repeated.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    #[serde(default = "default_seed")]
    pub seed: u64,
}

impl BurstConfig {
    /// The engine plan for this configuration.
    pub fn plan(&self) -> Result<TrafficPlan, LoadError> {
        Ok(TrafficPlan {
            name: "burst".into(),
            config: serde_json::to_value(self).map_err(|e| LoadError::Config(e.to_string()))?,
            rooms: self.rooms,
            members: self.members,
            senders: self.senders,
            pace: Pace::Closed {
                window: self.window,
            },
            duration: seconds("duration", self.duration)?,
            grace: seconds("grace", self.grace)?,
            content_bytes: self.content_bytes,
            sample_every: seconds("sample_every", self.sample_every)?,
            mix: self.mix.map(|mix| MixPlan {
                mix,
                seed: self.seed,
            }),
        })
    }
}

/// Runs the closed-loop scenario.
pub async fn run(env: &Env, config: &BurstConfig) -> Result<Outcome, LoadError> {
    traffic::run(env, &config.plan()?).await
}
