//! The message engine behind `fanout`, `burst` and `soak`: R rooms × M members, the first
//! S members of each room sending. Every member is its own session (one WebSocket, one
//! task), members of a room are spread over the nodes, and every member records what it
//! receives, so latency is measured at every receiver and loss is audited per member.
//!
//! Phases: *setup* (create rooms, connect and join everyone, bounded concurrency), *run*
//! (send for `duration`), *drain* (stop sending, wait up to `grace` for outstanding acks
//! and pushes, ending early once everything owed has arrived), *stop*.
//!
//! With a mix ([`TrafficPlan::mix`]) senders also reply, edit and react instead of only
//! sending ([`super::mixed`]); each operation is one frame with a ref, paced and counted
//! like a send, and owes every member one push.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{self, ServerEvent, Ws, JOIN_REF};
use crate::error::LoadError;
use crate::hops;
use crate::http;
use crate::loss::{self, MemberLog};
use crate::outcome::{Outcome, TrafficSummary};
use crate::procfs::{self, CpuMeter, CpuOf};
use crate::scenario::mixed::{self, AckEffect, MixPlan, MixedMember, MixedResult};
use crate::scenario::{progress_bar, unix_secs, Env};
use crate::stats::{LatencySummary, Recorder, TimePoint, Window};
use crate::target::NodeUrl;

/// Most sessions one run may open (hard cap, whatever the flags say).
pub const MAX_SESSIONS: usize = 200_000;
/// Longest sending phase (hard cap).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest grace period.
pub const MAX_GRACE: Duration = Duration::from_secs(600);
/// Highest per-sender open-loop rate.
pub const MAX_RATE: f64 = 100_000.0;
/// Sends one open-loop sender may have unacked; beyond it ticks are skipped (and counted
/// as throttled) so an overloaded node cannot make the load generator queue without bound.
pub const OPEN_LOOP_MAX_IN_FLIGHT: u32 = 256;
/// Connects + joins in progress at once: more only overflows the node's listen backlog.
const SETUP_CONCURRENCY: usize = 256;
/// How often the coordinator updates the progress bar and checks phase ends.
const TICK: Duration = Duration::from_millis(100);
/// How long stopped member tasks get to hand in their logs.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each sender sends `rate` messages per second regardless of acks (fanout, soak).
    Open {
        /// Messages per second per sender.
        rate: f64,
    },
    /// Each sender keeps `window` sends outstanding, sending the next when one is acked
    /// (burst: window 1 is "send the next when the last is acked").
    Closed {
        /// Outstanding sends per sender.
        window: u32,
    },
}

/// A message scenario, as the engine runs it.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// Scenario name for the result.
    pub name: String,
    /// The configuration as given, for the result file.
    pub config: serde_json::Value,
    /// Rooms.
    pub rooms: usize,
    /// Members (sessions) per room.
    pub members: usize,
    /// Senders per room (the first `senders` members).
    pub senders: usize,
    /// Pacing.
    pub pace: Pace,
    /// Sending phase.
    pub duration: Duration,
    /// Longest wait for outstanding deliveries after sending stops.
    pub grace: Duration,
    /// Filler characters per message (besides the timestamp and client id).
    pub content_bytes: usize,
    /// Time-series resolution.
    pub sample_every: Duration,
    /// The mixed workload, or `None` for plain sends only (the behaviour figures measured
    /// before mixes existed were taken with).
    pub mix: Option<MixPlan>,
}

impl TrafficPlan {
    /// Refuses plans outside the hard caps, so no flag or file can make a loop unbounded.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        if self.rooms == 0 || self.members == 0 {
            return bad("rooms and members must be at least 1".into());
        }
        if self.senders > self.members {
            return bad(format!(
                "{} senders > {} members",
                self.senders, self.members
            ));
        }
        if self.rooms.saturating_mul(self.members) > MAX_SESSIONS {
            return bad(format!("rooms × members exceeds {MAX_SESSIONS}"));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION || self.grace > MAX_GRACE {
            return bad("duration must be in (0, 7 days] and grace at most 600 s".into());
        }
        if self.sample_every < Duration::from_millis(100) {
            return bad("sample interval must be at least 0.1 s".into());
        }
        if self.content_bytes > 1800 {
            return bad("content_bytes must be at most 1800 (the node's limit is 2000)".into());
        }
        match self.pace {
            Pace::Open { rate } if !(rate > 0.0 && rate <= MAX_RATE) => {
                bad(format!("rate must be in (0, {MAX_RATE}]"))
            }
            Pace::Closed { window } if window == 0 || window > OPEN_LOOP_MAX_IN_FLIGHT => {
                bad(format!("window must be in 1..={OPEN_LOOP_MAX_IN_FLIGHT}"))
            }
            _ => Ok(()),
        }
    }
}

/// The engine's phase, broadcast to every member task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Run,
    Drain,
    Stop,
}

/// State shared by the member tasks and the coordinator.
struct Shared {
    recorder: Recorder,
    errors: Mutex<BTreeMap<String, u64>>,
    joined_in_room: Vec<AtomicU64>,
    acked_in_room: Vec<AtomicU64>,
    received: AtomicU64,
    in_flight: AtomicI64,
    setup_done: AtomicUsize,
    throttled: AtomicU64,
}

impl Shared {
    fn error(&self, key: usize, kind: &str) {
        self.recorder.shard(key).errors += 1;
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Deliveries owed so far: acked messages × joined members, per room.
    fn expected_deliveries(&self) -> u64 {
        self.acked_in_room
            .iter()
            .zip(&self.joined_in_room)
            .map(|(a, j)| a.load(Relaxed) * j.load(Relaxed))
            .sum()
    }
}

/// Where one member connects and what it does.
struct MemberSpec {
    room: usize,
    member: usize,
    key: usize,
    code: Arc<str>,
    node: NodeUrl,
    source: Option<std::net::IpAddr>,
    sender: bool,
    /// Open loop: when this sender's first tick falls, spreading senders over a period.
    offset: Duration,
    /// `authorKey` to join with (mixed workloads).
    author_key: Option<String>,
}

/// What a member task hands back.
struct MemberResult {
    log: MemberLog,
    acked: Vec<i64>,
    mixed: Option<MixedResult>,
}

/// Runs a message scenario and returns its outcome (not yet judged).
pub async fn run(env: &Env, plan: &TrafficPlan) -> Result<Outcome, LoadError> {
    plan.validate()?;
    let started_unix = unix_secs();
    let nonce = client::unix_nanos();
    let http = http::client()?;
    let codes = http::create_rooms(&http, &env.targets, plan.rooms).await?;
    let rss_before = env.server_pid.and_then(procfs::rss_kib);

    let shared = Arc::new(Shared {
        recorder: Recorder::new(16),
        errors: Mutex::new(BTreeMap::new()),
        joined_in_room: (0..plan.rooms).map(|_| AtomicU64::new(0)).collect(),
        acked_in_room: (0..plan.rooms).map(|_| AtomicU64::new(0)).collect(),
        received: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        setup_done: AtomicUsize::new(0),
        throttled: AtomicU64::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let total = plan.rooms * plan.members;
    let total_senders = (plan.rooms * plan.senders).max(1);
    let mut tasks = JoinSet::new();
    for (room, code) in codes.iter().enumerate() {
        let code: Arc<str> = code.as_str().into();
        for member in 0..plan.members {
            let key = room * plan.members + member;
            let sender_index = room * plan.senders + member;
            let offset = match plan.pace {
                Pace::Open { rate } => Duration::from_secs_f64(
                    (sender_index % total_senders) as f64 / total_senders as f64 / rate,
                ),
                Pace::Closed { .. } => Duration::ZERO,
            };
            let spec = MemberSpec {
                room,
                member,
                key,
                code: code.clone(),
                node: env.targets.node_for(room, member).clone(),
                source: env.targets.source_for(key),
                sender: member < plan.senders,
                offset,
                author_key: plan.mix.map(|_| mixed::author_key(nonce, room, member)),
            };
            tasks.spawn(member_task(
                spec,
                plan.clone(),
                shared.clone(),
                phase_rx.clone(),
                permits.clone(),
            ));
        }
    }

    // Setup: wait until every member has joined or failed, bounded by the worst case of
    // every connect timing out in turn.
    let bar = progress_bar(env.progress, total as u64, "joined");
    bar.set_prefix("setup");
    let waves = total.div_ceil(SETUP_CONCURRENCY) as u32 + 1;
    let setup_deadline = Instant::now() + client::SETUP_TIMEOUT * waves;
    while shared.setup_done.load(Relaxed) < total && Instant::now() < setup_deadline {
        bar.set_position(shared.setup_done.load(Relaxed) as u64);
        tokio::time::sleep(TICK).await;
    }
    bar.finish_and_clear();
    let joined: u64 = shared.joined_in_room.iter().map(|j| j.load(Relaxed)).sum();
    shared.recorder.take(); // setup errors stay in the error map, not the timeline

    // Run.
    let first_node = env.targets.node_for(0, 0).clone();
    let hops_before = hops::scrape(&http, &first_node).await;
    let loadgen_cpu = CpuMeter::start(None);
    let server_cpu = env.server_pid.map(|p| CpuMeter::start(Some(p)));
    let machine_cpu = CpuMeter::of(CpuOf::Machine);
    let secs = plan.duration.as_secs_f64();
    let bar = progress_bar(env.progress, secs.ceil() as u64, "s");
    bar.set_prefix(plan.name.clone());
    let _ = phase_tx.send(Phase::Run);
    let start = Instant::now();
    let run_end = start + plan.duration;
    let mut sampler = Sampler::new(start);
    while Instant::now() < run_end {
        tokio::time::sleep(TICK.min(run_end.saturating_duration_since(Instant::now()))).await;
        let now = Instant::now();
        if now.duration_since(sampler.last) >= plan.sample_every || now >= run_end {
            let p = sampler
                .sample(now, &shared.recorder, env.server_pid)
                .clone();
            bar.set_message(format!(
                "acks/s {:.0}  pushes/s {:.0}  p99 {:.1} ms  errors {}",
                p.acks_per_s, p.pushes_per_s, p.latency.p99_ms, sampler.total.errors
            ));
        }
        bar.set_position(now.duration_since(start).as_secs());
    }
    let measured_s = start.elapsed().as_secs_f64();
    let loadgen_cpu_percent = loadgen_cpu.percent();
    let server_cpu_percent = server_cpu.and_then(|m| m.percent());
    let machine_cpu_percent = machine_cpu.percent();
    let hop_budget = match (hops_before, hops::scrape(&http, &first_node).await) {
        (Some(before), Some(after)) => hops::between(&before, &after),
        _ => Vec::new(),
    };

    // Drain: stop sending; wait for outstanding acks and every owed push, at most `grace`.
    let _ = phase_tx.send(Phase::Drain);
    bar.set_prefix("drain");
    let drain_start = Instant::now();
    let drain_end = drain_start + plan.grace;
    while Instant::now() < drain_end {
        let settled = shared.in_flight.load(Relaxed) <= 0
            && shared.received.load(Relaxed) >= shared.expected_deliveries();
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    sampler.sample(Instant::now(), &shared.recorder, env.server_pid);
    let Sampler {
        total: total_window,
        timeline,
        ..
    } = sampler;
    bar.finish_and_clear();
    let rss_end = env.server_pid.and_then(procfs::rss_kib);

    // Stop and collect every member's log.
    let _ = phase_tx.send(Phase::Stop);
    let mut acked_by_room = vec![Vec::new(); plan.rooms];
    let mut logs = Vec::with_capacity(total);
    let mut mixed_results = Vec::new();
    let collect_end = Instant::now() + COLLECT_TIMEOUT;
    while let Ok(Some(joined)) = tokio::time::timeout_at(collect_end, tasks.join_next()).await {
        match joined {
            Ok(r) => {
                acked_by_room[r.log.room].extend(r.acked);
                logs.push(r.log);
                mixed_results.extend(r.mixed);
            }
            Err(_) => shared.error(0, "task_panicked"),
        }
    }
    if !tasks.is_empty() {
        shared.error(0, "task_not_stopped");
        tasks.abort_all();
    }
    let loss = loss::audit(acked_by_room, &logs);
    let mix = match &plan.mix {
        Some(mp) => {
            let (summary, failed_reads) =
                mixed::summarise(&http, &env.targets, &codes, mp, mixed_results, measured_s).await;
            for _ in 0..failed_reads {
                shared.error(0, "history_read");
            }
            Some(summary)
        }
        None => None,
    };
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();

    let per_s = |n: u64| n as f64 / measured_s.max(f64::EPSILON);
    let traffic = TrafficSummary {
        rooms: plan.rooms,
        members_per_room: plan.members,
        senders_per_room: plan.senders,
        members_joined: joined,
        members_failed: total as u64 - joined,
        measured_s,
        drain_s,
        sends: total_window.sends,
        acks: total_window.acks,
        pushes: total_window.pushes,
        sends_per_s: per_s(total_window.sends),
        acks_per_s: per_s(total_window.acks),
        pushes_per_s: per_s(total_window.pushes),
        throttled: shared.throttled.load(Relaxed),
        latency: LatencySummary::of(&total_window.latency),
        ack_latency: LatencySummary::of(&total_window.ack_latency),
        loss,
        mix,
        hops: hop_budget,
    };
    Ok(Outcome {
        scenario: plan.name.clone(),
        urls: env.urls(),
        config: plan.config.clone(),
        started_unix,
        traffic: Some(traffic),
        connections: None,
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

/// Turns the recorder's windows into the time series and the run's totals.
pub struct Sampler {
    start: Instant,
    /// When the previous sample was taken.
    pub last: Instant,
    /// Everything sampled so far, merged.
    pub total: Window,
    /// One point per sample.
    pub timeline: Vec<TimePoint>,
}

impl Sampler {
    /// A sampler whose time axis starts at `start`.
    pub fn new(start: Instant) -> Sampler {
        Sampler {
            start,
            last: start,
            total: Window::default(),
            timeline: Vec::new(),
        }
    }

    /// Takes the interval since the last sample and appends its point.
    pub fn sample(&mut self, now: Instant, recorder: &Recorder, pid: Option<u32>) -> &TimePoint {
        let w = recorder.take();
        let point = TimePoint::from_window(
            now.duration_since(self.start).as_secs_f64(),
            now.duration_since(self.last).as_secs_f64(),
            &w,
            pid.and_then(procfs::rss_kib),
        );
        self.total.merge(&w);
        self.last = now;
        self.timeline.push(point);
        &self.timeline[self.timeline.len() - 1]
    }
}

/// Per-sender send state.
struct SendState {
    next_ref: u64,
    in_flight: u32,
}

/// One member: connect, join, then read (and, for senders, send) until told to stop.
async fn member_task(
    spec: MemberSpec,
    plan: TrafficPlan,
    shared: Arc<Shared>,
    mut phase_rx: watch::Receiver<Phase>,
    permits: Arc<Semaphore>,
) -> MemberResult {
    let mut result = MemberResult {
        log: MemberLog {
            room: spec.room,
            member: spec.member,
            joined: false,
            received: Vec::new(),
        },
        acked: Vec::new(),
        mixed: None,
    };
    let mut mixed = plan
        .mix
        .map(|mp| MixedMember::new(&mp, &spec.code, spec.room, spec.member, plan.content_bytes));
    let nickname = format!("m{}-{}", spec.room, spec.member);
    let connected = {
        let _permit = permits.acquire().await;
        let key = spec.author_key.as_deref();
        client::connect_and_join(&spec.node, spec.source, &spec.code, &nickname, key).await
    };
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(e) => {
            shared.error(spec.key, error_kind(&e));
            shared.setup_done.fetch_add(1, Relaxed);
            result.mixed = mixed.map(|m| m.finish(false));
            return result;
        }
    };
    result.log.joined = true;
    shared.joined_in_room[spec.room].fetch_add(1, Relaxed);
    shared.setup_done.fetch_add(1, Relaxed);

    let mut phase = *phase_rx.borrow_and_update();
    let mut st = SendState {
        next_ref: JOIN_REF + 1,
        in_flight: 0,
    };
    let (open_rate, window) = match plan.pace {
        Pace::Open { rate } => (Some(rate), OPEN_LOOP_MAX_IN_FLIGHT),
        Pace::Closed { window } => (None, window),
    };
    let period = Duration::from_secs_f64(1.0 / open_rate.unwrap_or(1.0));
    let mut ticker = tokio::time::interval_at(Instant::now() + MAX_DURATION, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let ticking = spec.sender && open_rate.is_some();

    loop {
        tokio::select! {
            changed = phase_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                phase = *phase_rx.borrow_and_update();
                match phase {
                    Phase::Run if ticking => ticker.reset_at(Instant::now() + spec.offset),
                    Phase::Run if spec.sender => {
                        while st.in_flight < window {
                            if send_next(&mut ws, &mut st, &spec, &plan, &shared, mixed.as_mut()).await.is_err() {
                                break;
                            }
                        }
                    }
                    Phase::Stop => break,
                    _ => {}
                }
            }
            _ = ticker.tick(), if ticking && phase == Phase::Run => {
                if st.in_flight >= window {
                    shared.throttled.fetch_add(1, Relaxed);
                } else if send_next(&mut ws, &mut st, &spec, &plan, &shared, mixed.as_mut()).await.is_err() {
                    break;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Close(_))) | None => {
                        shared.error(spec.key, "disconnected");
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => {
                        shared.error(spec.key, "ws_read");
                        break;
                    }
                };
                let acked = on_frame(&text, &spec, &mut st, &mut result, &shared, mixed.as_mut());
                let refill = acked && !ticking && spec.sender && phase == Phase::Run;
                if refill && send_next(&mut ws, &mut st, &spec, &plan, &shared, mixed.as_mut()).await.is_err() {
                    break;
                }
            }
        }
    }
    // Sends that will never be answered must not hold the drain open.
    shared.in_flight.fetch_sub(i64::from(st.in_flight), Relaxed);
    result.mixed = mixed.map(|m| m.finish(true));
    result
}

/// Writes the next `chat:send` (or, in a mixed workload, the next operation).
async fn send_next(
    ws: &mut Ws,
    st: &mut SendState,
    spec: &MemberSpec,
    plan: &TrafficPlan,
    shared: &Shared,
    mixed: Option<&mut MixedMember>,
) -> Result<(), ()> {
    let reference = st.next_ref;
    st.next_ref += 1;
    let frame = match mixed {
        Some(m) => m.next(reference, client::unix_nanos()),
        None => {
            let client_id = format!("{}-{}-{}", spec.room, spec.member, reference);
            client::send_frame(reference, &spec.code, &client_id, plan.content_bytes)
        }
    };
    match ws.send(WsMessage::text(frame)).await {
        Ok(()) => {
            st.in_flight += 1;
            shared.in_flight.fetch_add(1, Relaxed);
            shared.recorder.shard(spec.key).sends += 1;
            Ok(())
        }
        Err(_) => {
            shared.error(spec.key, "ws_write");
            Err(())
        }
    }
}

/// Accounts one text frame; returns true when it answered one of this member's sends.
fn on_frame(
    text: &str,
    spec: &MemberSpec,
    st: &mut SendState,
    result: &mut MemberResult,
    shared: &Shared,
    mixed: Option<&mut MixedMember>,
) -> bool {
    match client::parse_event(text) {
        Ok(ServerEvent::Message(info)) => {
            let now = client::unix_nanos();
            result.log.received.push(info.id);
            shared.received.fetch_add(1, Relaxed);
            let mut w = shared.recorder.shard(spec.key);
            w.pushes += 1;
            if let Some(sent) = info.sent_at_nanos {
                Window::record_latency(&mut w.latency, sent, now);
            }
            if let Some(m) = mixed {
                m.on_push(&info, false, now);
            }
            false
        }
        Ok(ServerEvent::Update(info)) => {
            // Only a mixed workload changes messages; a plain run ignores updates as it
            // always ignored events it does not know.
            if let Some(m) = mixed {
                m.on_push(&info, true, client::unix_nanos());
                shared.received.fetch_add(1, Relaxed);
                shared.recorder.shard(spec.key).pushes += 1;
            }
            false
        }
        Ok(ServerEvent::Ack {
            reference: Some(r),
            result: answer,
        }) if r > JOIN_REF => {
            st.in_flight = st.in_flight.saturating_sub(1);
            shared.in_flight.fetch_sub(1, Relaxed);
            if let Some(m) = mixed {
                let now = client::unix_nanos();
                on_mixed_ack(m.on_ack(r, answer, now), now, spec, result, shared);
                return true;
            }
            match answer {
                Ok(Some(info)) => {
                    let now = client::unix_nanos();
                    result.acked.push(info.id);
                    shared.acked_in_room[spec.room].fetch_add(1, Relaxed);
                    let mut w = shared.recorder.shard(spec.key);
                    w.acks += 1;
                    if let Some(sent) = info.sent_at_nanos {
                        Window::record_latency(&mut w.ack_latency, sent, now);
                    }
                }
                Ok(None) => shared.error(spec.key, "send:ack_without_message"),
                Err(code) => shared.error(spec.key, &format!("send:{code}")),
            }
            true
        }
        Ok(ServerEvent::Error(code)) => {
            shared.error(spec.key, &format!("push:{code}"));
            false
        }
        Ok(_) => false,
        Err(_) => {
            shared.error(spec.key, "unparsable_frame");
            false
        }
    }
}

/// Counts the ack of a mixed member's operation.
fn on_mixed_ack(
    effect: AckEffect,
    now: u64,
    spec: &MemberSpec,
    result: &mut MemberResult,
    shared: &Shared,
) {
    match effect {
        AckEffect::Done {
            message,
            sent_nanos,
        } => {
            result.acked.extend(message);
            // Every acked operation owes each member one push (a message or an update).
            shared.acked_in_room[spec.room].fetch_add(1, Relaxed);
            let mut w = shared.recorder.shard(spec.key);
            w.acks += 1;
            Window::record_latency(&mut w.ack_latency, sent_nanos, now);
        }
        AckEffect::Error(key) => shared.error(spec.key, &key),
    }
}

/// A short error label for the error map.
pub fn error_kind(e: &LoadError) -> &'static str {
    match e {
        LoadError::Ws(_) | LoadError::Io(_) => "connect",
        LoadError::Protocol(_) => "join",
        _ => "setup",
    }
}
