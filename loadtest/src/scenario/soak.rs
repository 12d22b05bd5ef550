//! `soak`: steady open-loop fan-out for a long time, with memory (with `--server-pid`) and
//! latency sampled every few seconds, to show leaks and latency drift rather than peaks.

use serde::{Deserialize, Serialize};

use crate::error::LoadError;
use crate::mix::{default_seed, Mix, DEFAULT_SEED};
use crate::outcome::Outcome;
use crate::scenario::mixed::MixPlan;
use crate::scenario::traffic::{self, Pace, TrafficPlan};
use crate::scenario::Env;
use crate::workload::seconds;

/// Soak parameters: a moderate steady load for ten minutes by default.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SoakConfig {
    /// Rooms.
    #[arg(long, default_value_t = 50)]
    pub rooms: usize,
    /// Members (sessions) per room.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Senders per room.
    #[arg(long, default_value_t = 2)]
    pub senders: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Sending phase, seconds.
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    /// Longest wait after sending for outstanding acks and pushes, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Filler characters per message.
    #[arg(long, default_value_t = 32)]
    pub content_bytes: usize,
    /// How often memory and latency are sampled, seconds.
    #[arg(long, default_value_t = 5.0)]
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

impl SoakConfig {
    /// The engine plan for this configuration.
    pub fn plan(&self) -> Result<TrafficPlan, LoadError> {
        Ok(TrafficPlan {
            name: "soak".into(),
            config: serde_json::to_value(self).map_err(|e| LoadError::Config(e.to_string()))?,
            rooms: self.rooms,
            members: self.members,
            senders: self.senders,
            pace: Pace::Open { rate: self.rate },
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

/// Runs the soak scenario.
pub async fn run(env: &Env, config: &SoakConfig) -> Result<Outcome, LoadError> {
    traffic::run(env, &config.plan()?).await
}
