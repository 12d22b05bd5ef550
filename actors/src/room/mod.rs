//! The room actor: one per live room on this node.
//!
//! It knows the room's local members and their nicknames, stamps the sender of each
//! message, hands sends to the room's persistence shard, and pushes committed messages to
//! its members in id order and without gaps ([`order`] holds that rule). Its files:
//!
//! - this one: the actor, its members and presence, how it reads the store, and
//!   `RoomStopped`, what it tells its supervisor;
//! - [`messages`]: what it is asked;
//! - `requests.rs`: the handlers of sessions' and REST requests (join, leave, send, typing);
//! - `changes.rs`: the handlers of edits, deletions and reactions;
//! - `cluster.rs`: the handlers of what other nodes did (their messages, presence, typing).
//!
//! A room gets its dependencies ([`RoomDeps`]) passed in, not the node's whole state.

mod changes;
mod cluster;
pub mod messages;
pub mod order;
mod requests;
mod typing;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix::WeakAddr;
use bytestring::ByteString;

use crate::cluster::Cluster;
use crate::directory::RoomGauges;
use crate::guards::Guards;
use crate::ids::{Nickname, RoomCode, SessionId};
use crate::limits::Limits;
use crate::metric_names;
use crate::model::{Member, Room, RoomRecord};
use crate::outbound::{Outbound, Outbox};
use crate::persistence::PersistencePool;
use crate::protocol::push::{self, Presence};
use crate::stats::NodeCounters;
use crate::store::Store;

pub use messages::*;
use order::{Accepted, NextRead, Order, Push, Read};
use typing::TypingRelay;

/// Most messages read to close one gap in a room's stream.
const GAP_FILL_MAX: u32 = 10_000;
/// Wait before retrying a gap fill that failed or made no progress.
const GAP_FILL_RETRY: Duration = Duration::from_millis(200);
/// How often a room with members checks whether it should catch up from the store.
const CATCH_UP_TICK: Duration = Duration::from_secs(1);

/// What every room actor of the node uses, shared by all of them.
pub struct RoomDeps {
    /// The message store, for reads (history on join, gap fills).
    pub store: Arc<dyn Store>,
    /// Where sends are committed.
    pub persistence: PersistencePool,
    /// Limits and timings.
    pub limits: Limits,
    /// The members-per-room limit.
    pub guards: Arc<Guards>,
    /// The other nodes.
    pub cluster: Cluster,
    /// The node's counters (pushes, slow consumers), for its stats record.
    pub counters: Arc<NodeCounters>,
    /// Told when a room actor stops.
    pub supervisor: Recipient<RoomStopped>,
    /// Room retention is on (`retention.rs`): a room's first local member marks it used in
    /// the store at once.
    pub retention: bool,
}

/// The room's outbox: it stopped. Its supervisor forgets it if it is still the registered
/// one, and starts a fresh one if it failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomStopped {
    /// The room.
    pub code: RoomCode,
    /// The actor that stopped.
    pub addr: Addr<RoomActor>,
    /// It stopped because it failed, not because it was idle.
    pub failed: bool,
}

struct MemberEntry {
    nickname: Nickname,
    addr: Outbox,
    typing: TypingRelay,
    /// The author id its messages carry.
    author_id: Option<String>,
    /// It joined with the room's owner key.
    owner: bool,
    /// Who its reactions count as: its author id, or a token of its own when it has none.
    reactor: String,
}

/// One live room on this node.
pub struct RoomActor {
    room: Room,
    /// The SHA-256 of the room's owner key (none for rooms from before owners).
    owner_key_hash: Option<String>,
    deps: Arc<RoomDeps>,
    members: HashMap<SessionId, MemberEntry>,
    /// Members on other nodes, by presence field.
    remote: HashMap<String, Nickname>,
    gauges: Arc<RoomGauges>,
    last_catch_up: Instant,
    order: Order,
    sends_in_flight: usize,
    idle_since: Instant,
    closed: bool,
    /// Members found unable to keep up while others were being removed (`remove_member`).
    leaving: Vec<SessionId>,
    /// A removal is under way.
    removing: bool,
    /// The periodic tick, while the room has use for it ([`RoomActor::needs_clock`]): a
    /// node of idle rooms with members then holds no timer per room.
    clock: Option<SpawnHandle>,
    /// This actor, for winding its clock again from where no context is at hand.
    me: Option<WeakAddr<RoomActor>>,
}

impl RoomActor {
    /// A room actor for the stored `record`, which starts pushing after its last message;
    /// it keeps `gauges` up to date for room listings and the node's stats.
    pub fn new(record: RoomRecord, gauges: Arc<RoomGauges>, deps: Arc<RoomDeps>) -> Self {
        let (last_message_id, last_seq) = (record.last_message_id, record.last_seq);
        RoomActor {
            room: record.room,
            owner_key_hash: record.owner_key_hash,
            deps,
            members: HashMap::new(),
            remote: HashMap::new(),
            gauges,
            last_catch_up: Instant::now(),
            order: Order::new(last_message_id, last_seq),
            sends_in_flight: 0,
            idle_since: Instant::now(),
            closed: false,
            leaving: Vec::new(),
            removing: false,
            clock: None,
            me: None,
        }
    }

    /// Everyone in the room, on this node and the others.
    fn member_list(&self) -> Vec<Member> {
        self.members
            .values()
            .map(|m| &m.nickname)
            .chain(self.remote.values())
            .map(|nickname| Member {
                nickname: nickname.clone(),
            })
            .collect()
    }

    fn member_total(&self) -> usize {
        self.members.len() + self.remote.len()
    }

    /// Sends the same bytes to every member but `except`. A member whose queue is full
    /// is closed as too slow; one that is gone is dropped.
    fn broadcast(&mut self, frame: &ByteString, except: Option<SessionId>) {
        let mut dropped = Vec::new();
        let mut delivered = 0u64;
        for (&id, member) in &self.members {
            if Some(id) == except {
                continue;
            }
            match member.addr.try_send(Outbound::Frame(frame.clone())) {
                Ok(()) => delivered += 1,
                Err(SendError::Full(_)) => {
                    // Counted here: a stuck session may never run its `Evict`.
                    metrics::counter!(metric_names::SLOW_CONSUMERS).increment(1);
                    self.deps.counters.slow_consumer();
                    member.addr.do_send(Outbound::Evict);
                    dropped.push(id);
                }
                Err(SendError::Closed(_)) => dropped.push(id),
            }
        }
        metrics::counter!(metric_names::PUSHES).increment(delivered);
        self.deps.counters.pushed(delivered);
        for id in dropped {
            if self.members.contains_key(&id) {
                tracing::debug!(room = %self.room.code, session = id, "dropping a member that cannot keep up");
                self.remove_member(id);
            }
        }
    }

    fn presence_frame(&self, joined: Option<&Nickname>, left: Option<&Nickname>) -> ByteString {
        let count = self.member_total();
        let members = (count <= self.deps.limits.presence_list_max).then(|| self.member_list());
        push::presence(Presence {
            room_code: self.room.code,
            count,
            joined,
            left,
            members,
        })
    }

    /// Removes a member and tells the others. Telling them can find more members that
    /// cannot keep up, whose removal tells the others again: those wait in `leaving` and
    /// are removed here one after the other, so a thousand stuck members cost a loop, not
    /// a thousand nested calls on the room thread's stack.
    fn remove_member(&mut self, session: SessionId) {
        self.leaving.push(session);
        if self.removing {
            return;
        }
        self.removing = true;
        while let Some(next) = self.leaving.pop() {
            self.remove_one(next);
        }
        self.removing = false;
    }

    fn remove_one(&mut self, session: SessionId) {
        if let Some(entry) = self.members.remove(&session) {
            self.gauges
                .members
                .store(self.members.len(), Ordering::Relaxed);
            let code = self.room.code;
            self.deps
                .cluster
                .announce(code, session, None, Some(&entry.nickname));
            if self.members.is_empty() {
                self.idle_since = Instant::now();
                self.deps.cluster.unsubscribe(code);
                if self.clock.is_none() {
                    // The idle timeout needs the clock again.
                    if let Some(me) = self.me.as_ref().and_then(WeakAddr::upgrade) {
                        me.do_send(WindClock);
                    }
                }
            }
            let frame = self.presence_frame(None, Some(&entry.nickname));
            self.broadcast(&frame, None);
        }
    }

    /// Adds a member, or renames it when the session is already one, and tells the others;
    /// its messages carry `author_id` from now on, and it owns the room if `owner`.
    fn add_member(
        &mut self,
        session: SessionId,
        addr: Outbox,
        nickname: Nickname,
        author_id: Option<String>,
        owner: bool,
    ) {
        let code = self.room.code;
        match self.members.get_mut(&session) {
            Some(entry) if entry.nickname == nickname => entry.identify(author_id, owner),
            Some(entry) => {
                entry.identify(author_id, owner);
                let old = std::mem::replace(&mut entry.nickname, nickname.clone());
                let frame = self.presence_frame(Some(&nickname), Some(&old));
                self.broadcast(&frame, Some(session));
                self.deps
                    .cluster
                    .announce(code, session, Some(&nickname), Some(&old));
            }
            None => {
                // Subscribed by the join's reads (see `join_reads`).
                let mut entry = MemberEntry {
                    nickname: nickname.clone(),
                    addr,
                    typing: TypingRelay::default(),
                    author_id: None,
                    owner: false,
                    reactor: String::new(),
                };
                entry.identify(author_id, owner);
                self.members.insert(session, entry);
                self.gauges
                    .members
                    .store(self.members.len(), Ordering::Relaxed);
                let frame = self.presence_frame(Some(&nickname), None);
                self.broadcast(&frame, Some(session));
                self.deps
                    .cluster
                    .announce(code, session, Some(&nickname), None);
            }
        }
    }

    /// Pushes new messages as `chat:message` and changed ones as `chat:update`, each
    /// encoded once for every member.
    fn push_all(&mut self, pushes: &[Push]) {
        for pushed in pushes {
            let frame = match pushed {
                Push::Message(message) => {
                    self.gauges.messages.fetch_add(1, Ordering::Relaxed);
                    push::message(message)
                }
                Push::Update(message) => push::update(message),
            };
            self.broadcast(&frame, None);
        }
    }

    /// Applies the ordering rule to a commit: push it (and whatever waited for it), or
    /// wait and read the gap.
    fn on_committed(&mut self, commit: Push, ctx: &mut Context<Self>) {
        match self.order.accept(commit) {
            Accepted::Push(pushes) => self.push_all(&pushes),
            Accepted::Wait => self.read_gap(ctx),
            Accepted::Unplaced => self.catch_up(ctx),
            Accepted::Overflow => self.fail(ctx, "too many commits waiting for a gap to close"),
        }
    }

    /// Gives up on this actor's state: members are told to reconnect (they resume with
    /// `sinceId`, which is always correct), and the registry starts a fresh actor from the
    /// store. The supervision of rooms is this: let it fail, start clean.
    fn fail(&mut self, ctx: &mut Context<Self>, why: &str) {
        tracing::error!(room = %self.room.code, why, "room actor failed; restarting");
        self.dismiss(ctx, "room restarted", true);
    }

    /// The room is gone from the store (retention deleted it): members are told to
    /// reconnect (a rejoin answers `not_found`), and the actor stops without a restart.
    fn deleted(&mut self, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        tracing::info!(room = %self.room.code, "room deleted from the store; stopping its actor");
        self.dismiss(ctx, "room deleted", false);
    }

    /// Tells every member to reconnect for `reason`, takes them out of the cluster's
    /// presence, and stops (`failed`: the supervisor starts a fresh actor).
    fn dismiss(&mut self, ctx: &mut Context<Self>, reason: &'static str, failed: bool) {
        for member in self.members.values() {
            member.addr.do_send(Outbound::Reconnect { reason });
        }
        let code = self.room.code;
        for (session, member) in self.members.drain() {
            self.deps
                .cluster
                .announce(code, session, None, Some(&member.nickname));
        }
        self.deps.cluster.unsubscribe(code);
        self.gauges.members.store(0, Ordering::Relaxed);
        self.stop(ctx, failed);
    }

    /// Stops the actor and tells the supervisor.
    fn stop(&mut self, ctx: &mut Context<Self>, failed: bool) {
        self.closed = true;
        self.deps.supervisor.do_send(RoomStopped {
            code: self.room.code,
            addr: ctx.address(),
            failed,
        });
        ctx.stop();
    }

    /// Reads the gap before the newest waiting message, unless a read is in flight.
    fn read_gap(&mut self, ctx: &mut Context<Self>) {
        if let Some(read) = self.order.begin_gap_read() {
            self.read_and_push(read, ctx);
        }
    }

    /// Catches up from the store: pushes whatever the room committed after the last
    /// pushed message. Covers events the broker lost, and the time it was down.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        self.last_catch_up = Instant::now();
        if self.closed {
            return;
        }
        if let Some(read) = self.order.begin_catch_up() {
            self.read_and_push(read, ctx);
        }
    }

    fn read_and_push(&mut self, read: Read, ctx: &mut Context<Self>) {
        let store = Arc::clone(&self.deps.store);
        let room_id = self.room.id;
        let since = async move {
            store
                .since(room_id, read.after_id, read.after_seq, GAP_FILL_MAX)
                .await
        };
        ctx.spawn(since.into_actor(self).map(|result, act, ctx| {
            if act.closed {
                return;
            }
            let found = match result {
                // Positions beyond the page may hide behind its last: the read cannot
                // vouch for the order, and the members resume from the store instead.
                Ok(page) if page.has_more => {
                    return act.fail(ctx, "too much to catch up in one read");
                }
                Ok(page) => Some(page.messages),
                Err(error) => {
                    tracing::warn!(room = %act.room.code, %error, "gap fill failed");
                    None
                }
            };
            let (pushes, next) = act.order.finish_read(found);
            act.push_all(&pushes);
            match next {
                NextRead::Idle => {}
                NextRead::Now(read) => act.read_and_push(read, ctx),
                NextRead::Later => {
                    ctx.run_later(GAP_FILL_RETRY, |act, ctx| act.read_gap(ctx));
                }
                NextRead::GiveUp => act.fail(ctx, "a gap in the room's messages did not close"),
            }
        }));
    }

    /// Whether the tick has anything to do: in a cluster it catches up, and on a node of
    /// its own it only watches an empty room for its idle timeout. So a single node's
    /// rooms with members stop their clocks: 1,900 rooms would otherwise cost as many timer
    /// wake-ups a second as the heartbeats of 19,000 idle sessions (BENCHMARKS.md, "Idle
    /// rooms hold no timer").
    fn needs_clock(&self) -> bool {
        !self.closed && (self.deps.cluster.broker().is_some() || self.members.is_empty())
    }

    /// Starts the tick if the room needs it and it is not running.
    fn wind_clock(&mut self, ctx: &mut Context<Self>) {
        if self.clock.is_none() && self.needs_clock() {
            let tick = (self.deps.limits.room_idle_timeout / 4)
                .clamp(Duration::from_millis(10), CATCH_UP_TICK);
            self.clock = Some(ctx.run_interval(tick, |act, ctx| act.tick(ctx)));
        }
    }

    /// Catches up when the cluster says so, and stops the room once it has had no members
    /// and no work for the idle timeout; stops its own clock when it has nothing to do.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        if !self.needs_clock() {
            if let Some(clock) = self.clock.take() {
                ctx.cancel_future(clock);
            }
            return;
        }
        let due = self.deps.cluster.catch_up_due(self.last_catch_up.elapsed());
        if !self.members.is_empty() && due {
            self.catch_up(ctx);
        }
        let idle = self.members.is_empty()
            && self.sends_in_flight == 0
            && !self.order.has_waiting()
            && self.idle_since.elapsed() >= self.deps.limits.room_idle_timeout;
        if idle {
            self.stop(ctx, false);
        }
    }
}

impl MemberEntry {
    /// Sets who the member is: its author id (a rejoin may bring another key) and whether
    /// it owns the room.
    fn identify(&mut self, author_id: Option<String>, owner: bool) {
        self.reactor = match &author_id {
            Some(id) => id.clone(),
            None if self.author_id.is_none() && !self.reactor.is_empty() => {
                std::mem::take(&mut self.reactor)
            }
            None => format!("~{}", nanoid::nanoid!(16)),
        };
        self.author_id = author_id;
        self.owner = owner;
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!(metric_names::ROOMS_ACTIVE).increment(1.0);
        self.me = Some(ctx.address().downgrade());
        self.wind_clock(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!(metric_names::ROOMS_ACTIVE).decrement(1.0);
    }
}

/// Sent by a room to itself when it became empty with its clock stopped.
#[derive(Message)]
#[rtype(result = "()")]
struct WindClock;

impl Handler<WindClock> for RoomActor {
    type Result = ();

    fn handle(&mut self, _: WindClock, ctx: &mut Self::Context) {
        self.wind_clock(ctx);
    }
}

impl Handler<RoomDeleted> for RoomActor {
    type Result = ();

    fn handle(&mut self, _: RoomDeleted, ctx: &mut Self::Context) {
        self.deleted(ctx);
    }
}
