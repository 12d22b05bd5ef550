//! The Redis bridge actor: relays room events between nodes.
//!
//! Rooms hand it their events (committed messages, presence changes, typing); it writes
//! them, in order, as one pipelined round trip per batch: presence hash updates and one
//! `PUBLISH` per event, never one per recipient. It holds a dedicated pub/sub connection
//! subscribed to exactly the rooms that have local members, and hands what other nodes
//! publish to the node's rooms through [`ClusterEvents`]; the rooms push it in order (see
//! `room/order.rs`). It knows neither the hub nor the room actor.
//!
//! When Redis is down, local delivery goes on; room actors poll the store now and then, so
//! cross-node messages arrive late rather than never. The bridge reconnects with backoff,
//! resubscribes, and has each room re-announce its members and catch up.
//!
//! A pub/sub connection only ever reads, so a silent network partition (no FIN, no RST)
//! would leave it waiting forever, and so would a Redis that restarted behind one: the
//! node would believe itself subscribed while it receives nothing. The bridge therefore
//! pings its pub/sub connection on every heartbeat, and bounds every connection attempt
//! and subscription by the broker's timeout; a connection that misses one is dropped and
//! reopened, and the node is not ready until it has resubscribed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

pub use super::barrier::Waiter;
use super::barrier::{Ask, Barriers, WriteMarks};
use super::broker::{self, Broker, ClusterEvents, Envelope, Event, Write};
use super::connections::{Incoming, Subscriber};
use super::validate::EventRules;
use crate::ids::{Nickname, RoomCode};
use crate::metric_names;

/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Every this many heartbeats the bridge sweeps all its rooms for members of dead nodes even
/// when every node it knows of is alive: a safety net for a node it never heard of.
const FULL_SWEEP_EVERY: u32 = 60;
/// Writes kept while Redis is slow or down; older ones are dropped (rooms catch up from
/// the store, and re-announce presence on reconnect).
const OUTBOX_MAX: usize = 50_000;

/// Publishes an event of a room to the other nodes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    /// The room.
    pub code: RoomCode,
    /// The event.
    pub event: Event,
}

/// Records a local member in the room's presence hash (`None` removes it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    /// The room.
    pub code: RoomCode,
    /// The member's presence field.
    pub member: String,
    /// Its nickname, or `None` when it left.
    pub nickname: Option<Nickname>,
}

/// A room has local members now: subscribe to its channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// The room.
    pub code: RoomCode,
}

/// A room has no local members any more: stop receiving its traffic.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The room.
    pub code: RoomCode,
}

/// Wakes `done` once everything queued for Redis before it is written (or its write
/// failed). A join's ack waits for it, so that the member's presence entry and `join`
/// event are in Redis before the client hears that it joined.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AfterWrites {
    /// Woken when written.
    pub done: Waiter,
}

/// Wakes `done` once every event published on the room's channel before it has been
/// handed to the room (see `cluster/barrier.rs`); a join waits for it before the room adds
/// the member and lists the others.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Barrier {
    /// The room.
    pub code: RoomCode,
    /// Woken when passed.
    pub done: Waiter,
}

/// Writes out everything queued and removes this node's heartbeat; answers when done.
/// The last step of a graceful shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Goodbye;

/// The bridge between this node's rooms and Redis.
pub struct RedisBridge {
    events: Arc<dyn ClusterEvents>,
    broker: Arc<Broker>,
    rules: EventRules,
    wanted: HashSet<RoomCode>,
    sink: Option<Subscriber>,
    /// The pub/sub stream being read, to cancel when its connection is given up.
    stream: Option<SpawnHandle>,
    /// Counts pub/sub connections, so that the late answer of a ping or subscription made
    /// on an earlier connection cannot tear down the current one.
    generation: u64,
    /// A health-check ping is in flight.
    pinging: bool,
    connecting: bool,
    backoff: Duration,
    outbox: Vec<Write>,
    writing: bool,
    sweeping: bool,
    /// Other nodes this one has seen members or events of: the heartbeats to check.
    peers: HashSet<String>,
    /// Heartbeats since the last sweep of every room.
    beats_since_sweep: u32,
    swept_own: bool,
    marks: WriteMarks,
    barriers: Barriers,
}

impl RedisBridge {
    /// A bridge that hands other nodes' events to `events` once they pass `rules`, using
    /// `broker`'s connections.
    pub fn new(events: Arc<dyn ClusterEvents>, broker: Arc<Broker>, rules: EventRules) -> Self {
        RedisBridge {
            events,
            broker,
            rules,
            wanted: HashSet::new(),
            sink: None,
            stream: None,
            generation: 0,
            pinging: false,
            connecting: false,
            backoff: Duration::from_millis(100),
            outbox: Vec::new(),
            // Nothing is written before this node's leftovers from a previous run are
            // cleared (see `sweep_own_leftovers`), so that the sweep never removes an entry
            // of this run.
            writing: true,
            sweeping: false,
            peers: HashSet::new(),
            beats_since_sweep: 0,
            swept_own: false,
            marks: WriteMarks::default(),
            barriers: Barriers::default(),
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.connecting || self.sink.is_some() {
            return;
        }
        self.connecting = true;
        let broker = Arc::clone(&self.broker);
        let timeout = self.broker.timeout;
        let channels: Vec<String> = self
            .wanted
            .iter()
            .map(|c| self.broker.keys.channel(*c))
            .collect();
        let connect = async move {
            let (mut sink, stream) = broker.target.subscriber().await?;
            sink.subscribe_everywhere(broker::LOCKOUTS_CHANNEL).await?;
            sink.subscribe_everywhere(broker::ADMIN_CHANNEL).await?;
            sink.subscribe_rooms(&channels).await?;
            Ok::<_, redis::RedisError>((sink, stream))
        };
        let connect = async move {
            tokio::time::timeout(timeout, connect)
                .await
                .unwrap_or_else(|_| Err(timed_out("connecting", timeout)))
        };
        ctx.spawn(connect.into_actor(self).map(|result, act, ctx| {
            act.connecting = false;
            match result {
                Ok((sink, stream)) => {
                    tracing::info!(rooms = act.wanted.len(), "connected to Redis");
                    if !act.swept_own {
                        act.swept_own = true;
                        act.sweep_own_leftovers(ctx);
                    }
                    act.sink = Some(sink);
                    act.generation += 1;
                    act.backoff = Duration::from_millis(100);
                    act.broker.set_up(true);
                    act.stream = Some(ctx.add_stream(stream));
                    act.heartbeat(ctx);
                    let codes: Vec<RoomCode> = act.wanted.iter().copied().collect();
                    for code in codes {
                        act.sync_room(code, ctx);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?act.backoff, "cannot reach Redis");
                    act.broker.set_up(false);
                    ctx.run_later(act.backoff, |act, ctx| act.connect(ctx));
                    act.backoff = (act.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }));
    }

    /// Gives up the pub/sub connection of `generation` (if it is still the current one) and
    /// reconnects after the backoff; everything wanted is subscribed again then.
    fn lost(&mut self, generation: u64, why: &str, ctx: &mut Context<Self>) {
        if generation != self.generation || self.sink.is_none() {
            return;
        }
        tracing::warn!(why, retry_in = ?self.backoff, "lost the Redis pub/sub connection; reconnecting");
        self.sink = None;
        if let Some(stream) = self.stream.take() {
            ctx.cancel_future(stream);
        }
        self.barriers.connection_lost();
        self.broker.set_up(false);
        ctx.run_later(self.backoff, |act, ctx| act.connect(ctx));
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Pings the pub/sub connection: reading alone cannot tell a quiet channel from a
    /// connection that a silent partition has cut.
    fn check_pubsub(&mut self, ctx: &mut Context<Self>) {
        if self.pinging {
            return;
        }
        let Some(mut sink) = self.sink.clone() else {
            return;
        };
        self.pinging = true;
        let (generation, timeout) = (self.generation, self.broker.timeout);
        let ping = async move {
            match tokio::time::timeout(timeout, sink.ping()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(timed_out("ping", timeout)),
            }
        };
        ctx.spawn(ping.into_actor(self).map(move |result, act, ctx| {
            act.pinging = false;
            if let Err(error) = result {
                act.lost(generation, &error.to_string(), ctx);
            }
        }));
    }

    /// Sends a room its cluster-wide roster, after which it re-announces its members and
    /// catches up from the store: whatever happened while it was not subscribed is covered.
    fn sync_room(&mut self, code: RoomCode, ctx: &mut Context<Self>) {
        let broker = Arc::clone(&self.broker);
        let roster = async move { broker.roster(code).await };
        ctx.spawn(roster.into_actor(self).map(move |result, act, _| {
            let roster = match result {
                Ok((live, dead)) => {
                    for field in live.keys().chain(dead.iter().map(|(field, _)| field)) {
                        act.met(broker::node_of(field));
                    }
                    live
                }
                Err(error) => {
                    tracing::warn!(%error, %code, "reading the roster failed");
                    Default::default()
                }
            };
            act.events.synced(code, roster);
            if act.wanted.contains(&code) {
                act.barriers.synced(code);
            }
        }));
    }

    fn queue(&mut self, write: Write, ctx: &mut Context<Self>) {
        if self.outbox.len() >= OUTBOX_MAX {
            self.outbox.remove(0);
        }
        self.outbox.push(write);
        self.marks.queued();
        self.write_out(ctx);
    }

    /// Writes everything queued in one pipeline, then the next batch; one at a time, so
    /// events leave in the order rooms produced them.
    fn write_out(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        if self.outbox.is_empty() {
            self.marks.written_up_to(self.marks.mark());
            return;
        }
        self.writing = true;
        let writes = std::mem::take(&mut self.outbox);
        let mark = self.marks.mark();
        let broker = Arc::clone(&self.broker);
        let write = async move { broker.write(&writes).await };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            match result {
                Ok(published) => {
                    metrics::counter!(metric_names::BROKER_PUBLISHED).increment(published);
                }
                Err(error) => {
                    tracing::warn!(%error, "writing to Redis failed; rooms will catch up");
                    act.barriers.write_failed();
                }
            }
            act.marks.written_up_to(mark);
            act.write_out(ctx);
        }));
    }

    /// Refreshes this node's heartbeat and removes the presence of nodes whose heartbeat
    /// expired, publishing their members' `leave` on their behalf.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let broker = Arc::clone(&self.broker);
        let beat = async move { broker.beat().await };
        ctx.spawn(beat.into_actor(self).map(|result, _, _| {
            if let Err(error) = result {
                tracing::debug!(%error, "heartbeat not written");
            }
        }));
        self.sweep_expired(ctx);
    }

    /// Removes the members of dead nodes from the rooms this node watches, when one of
    /// the nodes it knows of has lost its heartbeat (one command to Redis per beat, however
    /// many rooms), and every [`FULL_SWEEP_EVERY`] beats anyway. A sweep reads each room's
    /// roster; only the node that removed an entry announces it, so each gets one `leave`.
    fn sweep_expired(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping || self.wanted.is_empty() {
            return;
        }
        self.sweeping = true;
        self.beats_since_sweep += 1;
        let full = self.beats_since_sweep >= FULL_SWEEP_EVERY;
        let broker = Arc::clone(&self.broker);
        let peers: Vec<String> = self.peers.iter().cloned().collect();
        let codes: Vec<RoomCode> = self.wanted.iter().copied().collect();
        let sweep = async move {
            let dead = match broker.dead_nodes(&peers).await {
                Ok(dead) => dead,
                Err(error) => {
                    tracing::debug!(%error, "reading the other nodes' heartbeats failed");
                    return None;
                }
            };
            if dead.is_empty() && !full {
                return None;
            }
            Some((dead, broker.remove_expired(codes).await))
        };
        ctx.spawn(sweep.into_actor(self).map(|swept, act, ctx| {
            act.sweeping = false;
            let Some((dead, expired)) = swept else {
                return;
            };
            act.beats_since_sweep = 0;
            for node in &dead {
                act.peers.remove(node);
            }
            for (code, field, nickname) in expired {
                let node = broker::node_of(&field).to_owned();
                tracing::info!(%code, %node, "a node's member expired");
                let envelope = Envelope {
                    node,
                    event: Event::Leave {
                        member: field,
                        nickname,
                    },
                };
                act.publish(code, envelope, ctx);
            }
        }));
    }

    /// Notes another node seen in a roster or an event, whose heartbeat the sweeps check.
    fn met(&mut self, node: &str) {
        if node != self.broker.node_id && !self.peers.contains(node) {
            self.peers.insert(node.to_owned());
        }
    }

    /// A node that restarts under the same id finds presence entries of its previous
    /// life (it crashed before saying goodbye); it has no members yet, so all of them go,
    /// with their `leave`s.
    fn sweep_own_leftovers(&mut self, ctx: &mut Context<Self>) {
        let broker = Arc::clone(&self.broker);
        let sweep = async move { broker.remove_own_leftovers().await };
        ctx.spawn(sweep.into_actor(self).map(|result, act, ctx| {
            match result {
                Ok(leftovers) => {
                    for (code, member, nickname) in leftovers {
                        act.queue_publish(code, Event::Leave { member, nickname }, ctx);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "could not clear presence left from a previous run")
                }
            }
            act.writing = false;
            act.write_out(ctx);
        }));
    }

    /// A node found a client address over the failed-lookup limit (ours included: applying
    /// it twice changes nothing).
    fn on_lockout(&mut self, msg: &redis::Msg) {
        match serde_json::from_slice::<broker::Lockout>(msg.get_payload_bytes()) {
            Ok(lockout) => self
                .events
                .locked_out(lockout.address, Duration::from_millis(lockout.for_ms)),
            Err(error) => malformed("lockout", &error),
        }
    }

    fn on_admin(&mut self, msg: &redis::Msg) {
        match serde_json::from_slice::<super::operators::AdminCommand>(msg.get_payload_bytes()) {
            Ok(command) => {
                tracing::info!(?command, "an operator's command arrived");
                self.events.admin(command);
            }
            Err(error) => malformed("admin command", &error),
        }
    }

    fn queue_publish(&mut self, code: RoomCode, event: Event, ctx: &mut Context<Self>) {
        let envelope = Envelope {
            node: self.broker.node_id.clone(),
            event,
        };
        self.publish(code, envelope, ctx);
    }

    fn publish(&mut self, code: RoomCode, envelope: Envelope, ctx: &mut Context<Self>) {
        match serde_json::to_string(&envelope) {
            Ok(payload) => self.queue(Write::Publish { code, payload }, ctx),
            Err(error) => tracing::error!(%error, "cannot encode a broker event"),
        }
    }
}

impl Actor for RedisBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
        let beat = (self.broker.presence_ttl / 3).max(Duration::from_millis(100));
        ctx.run_interval(beat, |act, ctx| {
            if act.sink.is_some() {
                act.heartbeat(ctx);
                act.check_pubsub(ctx);
            }
        });
    }
}

/// Events from other nodes, and news of the subscriptions, from the pub/sub connection.
impl StreamHandler<Incoming> for RedisBridge {
    fn handle(&mut self, incoming: Incoming, ctx: &mut Self::Context) {
        match incoming {
            Incoming::Message(msg) => self.on_message(&msg),
            Incoming::Dropped { channel } => {
                if let Some(code) = broker::room_of_channel(&channel) {
                    self.resubscribe(code, ctx);
                }
            }
            Incoming::Disconnected => self.lost(
                self.generation,
                "a connection to a cluster master closed",
                ctx,
            ),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.lost(self.generation, "the server closed it", ctx);
    }
}

impl RedisBridge {
    /// An event another node published (or a marker of this one, or a lockout).
    fn on_message(&mut self, msg: &redis::Msg) {
        metrics::counter!(metric_names::BROKER_RECEIVED).increment(1);
        if msg.get_channel_name() == broker::LOCKOUTS_CHANNEL {
            return self.on_lockout(msg);
        }
        if msg.get_channel_name() == broker::ADMIN_CHANNEL {
            return self.on_admin(msg);
        }
        let Some(code) = broker::room_of_channel(msg.get_channel_name()) else {
            return;
        };
        let envelope: Envelope = match serde_json::from_slice(msg.get_payload_bytes()) {
            Ok(envelope) => envelope,
            Err(error) => return malformed("room event", &error),
        };
        let own = envelope.node == self.broker.node_id;
        if let Event::Barrier { token } = envelope.event {
            if own {
                self.barriers.read_back(token);
            }
            return;
        }
        // Our own events were delivered locally already. (Expiries are published under
        // the dead node's id, so the node that published one applies it too.)
        if own {
            return;
        }
        if let Event::Join { .. } = envelope.event {
            self.met(&envelope.node);
        }
        if let Err(reason) = self.rules.check(code, &envelope.event) {
            metrics::counter!(metric_names::BROKER_REJECTED, "reason" => reason).increment(1);
            tracing::warn!(%code, reason, node = %envelope.node, "ignoring a broker event that fails validation");
            return;
        }
        if let Event::Message { message, .. } = &envelope.event {
            let lag = chrono::Utc::now() - message.created_at;
            let lag = lag.to_std().unwrap_or_default();
            metrics::histogram!(metric_names::BROKER_LAG_SECONDS).record(lag.as_secs_f64());
            self.events.lag(lag);
        }
        self.events.event(code, envelope.event);
    }

    /// The cluster dropped the subscription of a room (its slot moved to another master):
    /// if the room is still wanted, subscribe again, which reaches the slot's new owner, and
    /// have the room catch up on what it missed meanwhile.
    fn resubscribe(&mut self, code: RoomCode, ctx: &mut Context<Self>) {
        if !self.wanted.contains(&code) {
            return;
        }
        metrics::counter!(metric_names::BROKER_RESUBSCRIBED).increment(1);
        tracing::info!(%code, "the cluster moved a room's slot; subscribing again");
        self.subscribe_room(code, ctx);
    }

    /// Subscribes to a wanted room's channel on the current connection, then syncs the
    /// room (roster, catch-up from the store).
    fn subscribe_room(&mut self, code: RoomCode, ctx: &mut Context<Self>) {
        let Some(mut sink) = self.sink.clone() else {
            return;
        };
        let channel = self.broker.keys.channel(code);
        let (generation, timeout) = (self.generation, self.broker.timeout);
        let subscribe = async move {
            tokio::time::timeout(timeout, sink.subscribe_rooms(&[channel]))
                .await
                .unwrap_or_else(|_| Err(timed_out("subscribe", timeout)))
        };
        ctx.spawn(
            subscribe
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(()) => act.sync_room(code, ctx),
                    // Whether the server has the subscription is unknown: start over on a
                    // new connection, which subscribes to everything wanted.
                    Err(error) => {
                        tracing::warn!(%error, %code, "subscribe failed");
                        act.lost(generation, "a subscription failed", ctx);
                    }
                }),
        );
    }
}

impl Handler<Publish> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) {
        self.queue_publish(msg.code, msg.event, ctx);
    }
}

impl Handler<SetPresence> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: SetPresence, ctx: &mut Self::Context) {
        let write = match msg.nickname {
            Some(nickname) => Write::SetMember {
                code: msg.code,
                field: msg.member,
                nickname: nickname.as_str().to_owned(),
            },
            None => Write::RemoveMember {
                code: msg.code,
                field: msg.member,
            },
        };
        self.queue(write, ctx);
    }
}

impl Handler<Subscribe> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, ctx: &mut Self::Context) {
        if self.wanted.insert(msg.code) {
            self.subscribe_room(msg.code, ctx);
        }
    }
}

impl Handler<Unsubscribe> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Self::Context) {
        if !self.wanted.remove(&msg.code) {
            return;
        }
        self.barriers.unsubscribed(msg.code);
        let Some(mut sink) = self.sink.clone() else {
            return;
        };
        let code = msg.code;
        let channel = self.broker.keys.channel(code);
        let unsubscribe = async move { sink.unsubscribe_room(&channel).await };
        ctx.spawn(unsubscribe.into_actor(self).map(move |result, _, _| {
            if let Err(error) = result {
                tracing::warn!(%error, %code, "unsubscribe failed");
            }
        }));
    }
}

impl Handler<AfterWrites> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: AfterWrites, _: &mut Self::Context) {
        self.marks.wait(msg.done);
    }
}

impl Handler<Barrier> for RedisBridge {
    type Result = ();

    fn handle(&mut self, msg: Barrier, ctx: &mut Self::Context) {
        let subscribed = self.wanted.contains(&msg.code);
        let connected = self.sink.is_some();
        if let Ask::Publish(token) = self.barriers.ask(msg.code, subscribed, connected, msg.done) {
            self.queue_publish(msg.code, Event::Barrier { token }, ctx);
        }
    }
}

impl Handler<Goodbye> for RedisBridge {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Goodbye, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.marks.wait(tx);
        self.write_out(ctx);
        let broker = Arc::clone(&self.broker);
        Box::pin(async move {
            let _ = rx.await;
            if let Ok(mut conn) = broker.commands.get().await {
                let _: redis::RedisResult<()> =
                    redis::AsyncCommands::del(&mut conn, broker.keys.node(&broker.node_id)).await;
            }
        })
    }
}

/// Counts and logs a payload read from Redis that is not what nodes publish.
fn malformed(what: &str, error: &serde_json::Error) {
    metrics::counter!(metric_names::BROKER_REJECTED, "reason" => "malformed").increment(1);
    tracing::warn!(%error, what, "ignoring a malformed message from Redis");
}

/// The error of a Redis call that took longer than `timeout`.
fn timed_out(what: &'static str, timeout: Duration) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Io,
        "no answer from Redis",
        format!("{what} took longer than {timeout:?}"),
    ))
}
