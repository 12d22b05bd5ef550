//! `connections`: opens N sessions joined to R rooms, holds them, and reports the connect
//! rate, failures and what one joined session costs the node in memory (RSS sampled before
//! and after, from `--server-pid`). Sessions keep reading while held so they answer the
//! node's pings and drain presence pushes, as real idle clients do.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client;
use crate::error::LoadError;
use crate::http;
use crate::outcome::{ConnectionsSummary, Outcome};
use crate::procfs::{self, CpuMeter, CpuOf};
use crate::scenario::traffic::{error_kind, MAX_DURATION, MAX_SESSIONS};
use crate::scenario::{progress_bar, unix_secs, Env};
use crate::stats::{new_histogram, LatencySummary, TimePoint};
use crate::workload::seconds;

/// Connects in progress at once (the node's listen backlog is finite).
const CONNECT_CONCURRENCY: usize = 256;
/// Pause after the last join before RSS is read, so the node's per-join work settles.
const SETTLE: Duration = Duration::from_millis(500);

/// Connection-scenario parameters.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Sessions to open.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Rooms they join (session i joins room i mod rooms).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// How long to hold them once all joined, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    /// Time-series resolution while holding, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub sample_every: f64,
}

struct Shared {
    connect_latency: Mutex<Histogram<u64>>,
    done: AtomicUsize,
    live: AtomicU64,
    dropped: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn error(&self, kind: &str) {
        let mut e = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *e.entry(kind.to_string()).or_default() += 1;
    }
}

/// Runs the connections scenario.
pub async fn run(env: &Env, config: &ConnectionsConfig) -> Result<Outcome, LoadError> {
    let hold = seconds("hold", config.hold)?;
    let sample_every =
        seconds("sample_every", config.sample_every)?.max(Duration::from_millis(100));
    if config.sessions == 0 || config.sessions > MAX_SESSIONS || hold > MAX_DURATION {
        return Err(LoadError::Config(format!(
            "sessions must be in 1..={MAX_SESSIONS} and hold at most 7 days"
        )));
    }
    if config.rooms == 0 || config.rooms > config.sessions {
        return Err(LoadError::Config("rooms must be in 1..=sessions".into()));
    }
    let started_unix = unix_secs();
    let http = http::client()?;
    let codes: Vec<Arc<str>> = http::create_rooms(&http, &env.targets, config.rooms)
        .await?
        .into_iter()
        .map(Arc::from)
        .collect();
    let rss_before = env.server_pid.and_then(procfs::rss_kib);
    let shared = Arc::new(Shared {
        connect_latency: Mutex::new(new_histogram()),
        done: AtomicUsize::new(0),
        live: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let loadgen_cpu = CpuMeter::start(None);
    let server_cpu = env.server_pid.map(|p| CpuMeter::start(Some(p)));
    let machine_cpu = CpuMeter::of(CpuOf::Machine);

    let bar = progress_bar(env.progress, config.sessions as u64, "joined");
    bar.set_prefix("connect");
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..config.sessions {
        let room = i % config.rooms;
        let node = env.targets.node_for(room, i / config.rooms).clone();
        let source = env.targets.source_for(i);
        let code = codes[room].clone();
        let shared = shared.clone();
        let permits = permits.clone();
        let mut stop_rx = stop_rx.clone();
        tasks.spawn(async move {
            let joined = {
                let _permit = permits.acquire().await;
                let t0 = Instant::now();
                let r =
                    client::connect_and_join(&node, source, &code, &format!("s{i}"), None).await;
                if r.is_ok() {
                    let us = t0.elapsed().as_micros().clamp(1, u128::from(u64::MAX)) as u64;
                    let mut h = shared
                        .connect_latency
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    h.saturating_record(us);
                }
                r
            };
            shared.done.fetch_add(1, Relaxed);
            let mut ws = match joined {
                Ok(ws) => ws,
                Err(e) => {
                    shared.error(error_kind(&e));
                    return;
                }
            };
            shared.live.fetch_add(1, Relaxed);
            loop {
                tokio::select! {
                    changed = stop_rx.changed() => {
                        if changed.is_err() || *stop_rx.borrow() {
                            break;
                        }
                    }
                    frame = ws.next() => match frame {
                        Some(Ok(_)) => {}
                        _ => {
                            if !*stop_rx.borrow() {
                                shared.dropped.fetch_add(1, Relaxed);
                                shared.error("dropped");
                            }
                            break;
                        }
                    }
                }
            }
            shared.live.fetch_sub(1, Relaxed);
        });
    }
    let waves = config.sessions.div_ceil(CONNECT_CONCURRENCY) as u32 + 1;
    let deadline = start + client::SETUP_TIMEOUT * waves;
    while shared.done.load(Relaxed) < config.sessions && Instant::now() < deadline {
        bar.set_position(shared.done.load(Relaxed) as u64);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let connected = shared.live.load(Relaxed);
    tokio::time::sleep(SETTLE).await;
    let rss_after = env.server_pid.and_then(procfs::rss_kib);

    // Hold, sampling live sessions and memory.
    let bar = progress_bar(env.progress, hold.as_secs(), "s");
    bar.set_prefix("hold");
    let hold_start = Instant::now();
    let idle_cpu = env.server_pid.map(|p| CpuMeter::start(Some(p)));
    let mut timeline = Vec::new();
    let mut next_sample = hold_start;
    while hold_start.elapsed() < hold {
        if Instant::now() >= next_sample {
            timeline.push(TimePoint {
                t: hold_start.elapsed().as_secs_f64(),
                server_rss_kib: env.server_pid.and_then(procfs::rss_kib),
                sessions: Some(shared.live.load(Relaxed)),
                ..TimePoint::default()
            });
            next_sample += sample_every;
        }
        bar.set_position(hold_start.elapsed().as_secs());
        tokio::time::sleep(Duration::from_millis(100).min(hold)).await;
    }
    let held_s = hold_start.elapsed().as_secs_f64();
    let server_idle_cpu_percent = idle_cpu.and_then(|m| m.percent());
    bar.finish_and_clear();
    let loadgen_cpu_percent = loadgen_cpu.percent();
    let server_cpu_percent = server_cpu.and_then(|m| m.percent());
    let machine_cpu_percent = machine_cpu.percent();
    let rss_end = env.server_pid.and_then(procfs::rss_kib);
    let _ = stop_tx.send(true);
    let collect = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .is_err()
    {
        tasks.abort_all();
    }

    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let connect_latency = {
        let h = shared
            .connect_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        LatencySummary::of(&h)
    };
    let per_session = match (rss_before, rss_after) {
        (Some(b), Some(a)) if connected > 0 => Some((a as f64 - b as f64) / connected as f64),
        _ => None,
    };
    Ok(Outcome {
        scenario: "connections".into(),
        urls: env.urls(),
        config: serde_json::to_value(config).map_err(|e| LoadError::Config(e.to_string()))?,
        started_unix,
        traffic: None,
        connections: Some(ConnectionsSummary {
            requested: config.sessions as u64,
            connected,
            failed: config.sessions as u64 - connected,
            connect_s,
            connects_per_s: connected as f64 / connect_s.max(f64::EPSILON),
            connect_latency,
            held_s,
            dropped: shared.dropped.load(Relaxed),
            server_rss_kib_after: rss_after,
            server_kib_per_session: per_session,
            server_idle_cpu_percent,
        }),
        timeline,
        error_total: errors.values().sum(),
        errors,
        server_rss_kib_before: rss_before,
        server_rss_kib_end: rss_end,
        loadgen_cpu_percent,
        server_cpu_percent,
        machine_cpu_percent,
        failures: Vec::new(),
    })
}
