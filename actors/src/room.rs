//! The room actor: one per live room on this node.
//!
//! It knows the room's local members and their nicknames, stamps the sender of each
//! message, hands sends to the room's persistence shard, and pushes committed messages to
//! its members — in id order and without gaps. The rule that guarantees it: a committed
//! message is pushed only when its predecessor in the room (`prev_id`, recorded by the
//! store) is the last message pushed; otherwise it waits while the room reads the gap from
//! the store. Messages at or below the last pushed id are duplicates and are dropped, so the
//! same commit may arrive from several paths (local persistence, another node) harmlessly.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use serde::Serialize;

use crate::broker::{self, Event};
use crate::error::{ChatError, ErrorCode};
use crate::hub::Hub;
use crate::ids::{ClientId, Content, MessageId, Nickname, RoomCode, SessionId};
use crate::metric_names;
use crate::model::{Committed, Member, Message, Room};
use crate::persistence::Persist;
use crate::protocol::{self, Joined};
use crate::redis_bridge::{Publish, SetPresence, Subscribe, Unsubscribe};
use crate::registry::RoomStopped;
use crate::session::{Deliver, Evict, Reconnect, WsSession};
use crate::store::{NewMessage, Outcome};

/// Most messages read to close one gap in a room's stream.
const GAP_FILL_MAX: u32 = 10_000;
/// Wait before retrying a gap fill that failed or made no progress.
const GAP_FILL_RETRY: Duration = Duration::from_millis(200);
/// Gap fills in a row that may fail or make no progress before the room gives up on its
/// in-memory order and restarts (its members resume through `sinceId`).
const GAP_FILL_ATTEMPTS: u32 = 10;
/// Messages that may wait for a predecessor before the room restarts.
const WAITING_MAX: usize = 10_000;

/// Why a room did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// This room actor was stopped for idleness; resolve the room again.
    Gone,
    /// The request failed with a protocol error.
    Chat(ChatError),
}

impl From<ChatError> for RoomError {
    fn from(error: ChatError) -> Self {
        RoomError::Chat(error)
    }
}

/// Who is sending a message.
#[derive(Debug, Clone)]
pub enum Sender {
    /// A joined WebSocket session; its nickname in the room is the sender.
    Session(SessionId),
    /// A trusted integration over REST, with the sender name it gave.
    Integration(Nickname),
}

/// Adds a session to the room, or renames it if it is already a member.
#[derive(Message)]
#[rtype(result = "Result<Joined, RoomError>")]
pub struct Join {
    /// The joining session.
    pub session: SessionId,
    /// Where its pushes go.
    pub addr: Addr<WsSession>,
    /// Its nickname in this room.
    pub nickname: Nickname,
    /// Resume point: messages after it are returned in `missed`.
    pub since_id: Option<MessageId>,
}

/// Removes a session from the room (leave, or the connection closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The session that leaves.
    pub session: SessionId,
}

/// Stores a message and pushes it to the members once committed.
#[derive(Message)]
#[rtype(result = "Result<SendOutcome, RoomError>")]
pub struct SendMessage {
    /// Who sends.
    pub from: Sender,
    /// What.
    pub content: Content,
    /// The idempotency key.
    pub client_id: Option<ClientId>,
    /// The sender is over its rate limit: only resolve a known `client_id` to its
    /// original message, store nothing new (precise rule 10).
    pub dedupe_only: bool,
}

/// The result of a send.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// The committed message, or the original one for a known `clientId`.
    pub message: Message,
    /// Whether this send stored a new message.
    pub created: bool,
}

/// Relays a member's typing state to the other members.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Typing {
    /// The typing session.
    pub session: SessionId,
    /// Typing now or not.
    pub typing: bool,
}

/// Lists the local members, for `GET /api/rooms/{code}`.
#[derive(Message)]
#[rtype(result = "Vec<Member>")]
pub struct ListMembers;

/// A message committed elsewhere (another node, or a path that bypassed this actor);
/// pushed in order like any other.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relay {
    /// The committed message and its predecessor's id.
    pub committed: Committed,
}

/// An event of this room from another node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Remote {
    /// What happened there.
    pub event: Event,
}

/// The bridge (re)subscribed to this room: here are the members on every live node.
/// The room re-announces its own members and catches up from the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Synced {
    /// Presence field → nickname, for every live node (this one included).
    pub roster: HashMap<String, Nickname>,
}

/// How often a room with members checks whether it should catch up from the store.
const CATCH_UP_TICK: Duration = Duration::from_secs(1);
/// A room with members catches up from the store at least this often, even when the
/// broker is up: a cheap safety net for an event the broker lost.
const CATCH_UP_EVERY: Duration = Duration::from_secs(10);

struct MemberEntry {
    nickname: Nickname,
    addr: Addr<WsSession>,
}

/// `presence` push data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Presence<'a> {
    room_code: RoomCode,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    joined: Option<&'a Nickname>,
    #[serde(skip_serializing_if = "Option::is_none")]
    left: Option<&'a Nickname>,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Vec<Member>>,
}

/// `typing` push data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypingPush<'a> {
    room_code: RoomCode,
    nickname: &'a Nickname,
    typing: bool,
}

/// One live room on this node.
pub struct RoomActor {
    room: Room,
    hub: Arc<Hub>,
    members: HashMap<SessionId, MemberEntry>,
    /// Members on other nodes, by presence field.
    remote: HashMap<String, Nickname>,
    member_count: Arc<AtomicUsize>,
    last_catch_up: Instant,
    last_pushed_id: Option<MessageId>,
    waiting: BTreeMap<MessageId, Committed>,
    filling_gap: bool,
    gap_fill_failures: u32,
    sends_in_flight: usize,
    idle_since: Instant,
    closed: bool,
}

impl RoomActor {
    /// A room actor that starts pushing after `last_message_id`.
    pub fn new(
        room: Room,
        last_message_id: Option<MessageId>,
        member_count: Arc<AtomicUsize>,
        hub: Arc<Hub>,
    ) -> Self {
        RoomActor {
            room,
            hub,
            members: HashMap::new(),
            remote: HashMap::new(),
            member_count,
            last_catch_up: Instant::now(),
            last_pushed_id: last_message_id,
            waiting: BTreeMap::new(),
            filling_gap: false,
            gap_fill_failures: 0,
            sends_in_flight: 0,
            idle_since: Instant::now(),
            closed: false,
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

    /// Publishes an event to the other nodes, when there are any.
    fn publish(&self, event: Event) {
        if let Some(bridge) = &self.hub.bridge {
            bridge.do_send(Publish {
                code: self.room.code,
                event,
            });
        }
    }

    /// Announces a local member's presence to the other nodes (`None`: it left).
    fn announce(&self, session: SessionId, nickname: Option<&Nickname>, old: Option<&Nickname>) {
        let (Some(bridge), Some(broker)) = (&self.hub.bridge, &self.hub.broker) else {
            return;
        };
        let member = broker::member_field(&broker.node_id, session);
        bridge.do_send(SetPresence {
            code: self.room.code,
            member: member.clone(),
            nickname: nickname.cloned(),
        });
        let event = match (nickname, old) {
            (Some(nickname), old) => Event::Join {
                member,
                nickname: nickname.clone(),
                old: old.cloned(),
            },
            (None, Some(old)) => Event::Leave {
                member,
                nickname: old.clone(),
            },
            (None, None) => return,
        };
        self.publish(event);
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
            let sent = member.addr.try_send(Deliver(frame.clone()));
            match sent {
                Ok(()) => delivered += 1,
                Err(SendError::Full(_)) => {
                    // Counted here: a stuck session may never run its `Evict`.
                    metrics::counter!(metric_names::SLOW_CONSUMERS).increment(1);
                    member.addr.do_send(Evict);
                    dropped.push(id);
                }
                Err(SendError::Closed(_)) => dropped.push(id),
            }
        }
        metrics::counter!(metric_names::PUSHES).increment(delivered);
        for id in dropped {
            if self.members.contains_key(&id) {
                tracing::debug!(room = %self.room.code, session = id, "dropping a member that cannot keep up");
                self.remove_member(id);
            }
        }
    }

    fn presence_frame(&self, joined: Option<&Nickname>, left: Option<&Nickname>) -> ByteString {
        let count = self.member_total();
        let members = (count <= self.hub.limits.presence_list_max).then(|| self.member_list());
        protocol::push(
            "presence",
            Presence {
                room_code: self.room.code,
                count,
                joined,
                left,
                members,
            },
        )
    }

    fn remove_member(&mut self, session: SessionId) {
        if let Some(entry) = self.members.remove(&session) {
            self.member_count
                .store(self.members.len(), Ordering::Relaxed);
            self.announce(session, None, Some(&entry.nickname));
            if self.members.is_empty() {
                self.idle_since = Instant::now();
                if let Some(bridge) = &self.hub.bridge {
                    bridge.do_send(Unsubscribe {
                        code: self.room.code,
                    });
                }
            }
            let frame = self.presence_frame(None, Some(&entry.nickname));
            self.broadcast(&frame, None);
        }
    }

    /// Adds a member, or renames it when the session is already one, and tells the others.
    fn add_member(&mut self, session: SessionId, addr: Addr<WsSession>, nickname: Nickname) {
        match self.members.get_mut(&session) {
            Some(entry) if entry.nickname == nickname => {}
            Some(entry) => {
                let old = std::mem::replace(&mut entry.nickname, nickname.clone());
                let frame = self.presence_frame(Some(&nickname), Some(&old));
                self.broadcast(&frame, Some(session));
                self.announce(session, Some(&nickname), Some(&old));
            }
            None => {
                if self.members.is_empty() {
                    if let Some(bridge) = &self.hub.bridge {
                        bridge.do_send(Subscribe {
                            code: self.room.code,
                        });
                    }
                }
                self.members.insert(
                    session,
                    MemberEntry {
                        nickname: nickname.clone(),
                        addr,
                    },
                );
                self.member_count
                    .store(self.members.len(), Ordering::Relaxed);
                let frame = self.presence_frame(Some(&nickname), None);
                self.broadcast(&frame, Some(session));
                self.announce(session, Some(&nickname), None);
            }
        }
    }

    fn push_message(&mut self, message: &Message) {
        self.last_pushed_id = Some(message.id);
        let frame = protocol::push("chat:message", message);
        self.broadcast(&frame, None);
    }

    /// Applies the ordering rule to a committed message.
    fn on_committed(&mut self, committed: Committed, ctx: &mut Context<Self>) {
        let id = committed.message.id;
        if self.last_pushed_id.is_some_and(|last| id <= last) {
            return;
        }
        if committed.prev_id == self.last_pushed_id {
            self.push_message(&committed.message);
            self.push_waiting();
        } else {
            self.waiting.insert(id, committed);
            if self.waiting.len() > WAITING_MAX {
                return self.fail(ctx, "too many messages waiting for a gap to close");
            }
            self.fill_gap(ctx);
        }
    }

    /// Gives up on this actor's state: members are told to reconnect (they resume with
    /// `sinceId`, which is always correct), and the registry starts a fresh actor from the
    /// store. The supervision of rooms is this: let it fail, start clean.
    fn fail(&mut self, ctx: &mut Context<Self>, why: &str) {
        tracing::error!(room = %self.room.code, why, "room actor failed; restarting");
        for member in self.members.values() {
            member.addr.do_send(Reconnect {
                reason: "room restarted",
            });
        }
        let members: Vec<(SessionId, Nickname)> = self
            .members
            .drain()
            .map(|(id, m)| (id, m.nickname))
            .collect();
        for (session, nickname) in members {
            self.announce(session, None, Some(&nickname));
        }
        if let Some(bridge) = &self.hub.bridge {
            bridge.do_send(Unsubscribe {
                code: self.room.code,
            });
        }
        self.member_count.store(0, Ordering::Relaxed);
        self.closed = true;
        self.hub.registry.do_send(RoomStopped {
            code: self.room.code,
            addr: ctx.address(),
            failed: true,
        });
        ctx.stop();
    }

    /// Pushes waiting messages whose predecessor has now been pushed.
    fn push_waiting(&mut self) {
        while let Some(entry) = self.waiting.first_entry() {
            let committed = entry.get();
            if self
                .last_pushed_id
                .is_some_and(|last| committed.message.id <= last)
            {
                entry.remove();
            } else if committed.prev_id == self.last_pushed_id {
                let committed = entry.remove();
                self.push_message(&committed.message);
            } else {
                break;
            }
        }
    }

    /// Reads the messages between the last pushed one and the newest waiting one from the
    /// store and pushes them in order. All of them are committed: ids of a room commit in
    /// increasing order, and the newest waiting one has committed.
    fn fill_gap(&mut self, ctx: &mut Context<Self>) {
        if self.filling_gap {
            return;
        }
        let Some(&up_to) = self.waiting.keys().next_back() else {
            return;
        };
        self.read_and_push(up_to, ctx);
    }

    /// Catches up from the store: pushes whatever the room committed after the last
    /// pushed message. Covers events the broker lost, and the time it was down.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        self.last_catch_up = Instant::now();
        if !self.filling_gap && !self.closed {
            self.read_and_push(MessageId::MAX, ctx);
        }
    }

    fn read_and_push(&mut self, up_to: MessageId, ctx: &mut Context<Self>) {
        self.filling_gap = true;
        let store = Arc::clone(&self.hub.store);
        let room_id = self.room.id;
        let after = self.last_pushed_id.unwrap_or(0);
        let read = async move { store.range(room_id, after, up_to, GAP_FILL_MAX).await };
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| {
            act.filling_gap = false;
            if act.closed {
                return;
            }
            let before = act.last_pushed_id;
            match result {
                Ok(page) => {
                    if page.has_more {
                        tracing::warn!(room = %act.room.code, "gap larger than {GAP_FILL_MAX} messages; members resume through sinceId");
                    }
                    for message in &page.messages {
                        if act.last_pushed_id.is_none_or(|last| message.id > last) {
                            act.push_message(message);
                        }
                    }
                    act.push_waiting();
                }
                Err(error) => {
                    tracing::warn!(room = %act.room.code, %error, "gap fill failed");
                }
            }
            if act.waiting.is_empty() || act.last_pushed_id != before {
                act.gap_fill_failures = 0;
                act.fill_gap(ctx);
            } else {
                // The store does not (yet) show what the waiting messages follow.
                act.gap_fill_failures += 1;
                if act.gap_fill_failures >= GAP_FILL_ATTEMPTS {
                    act.fail(ctx, "a gap in the room's messages did not close");
                } else {
                    ctx.run_later(GAP_FILL_RETRY, |act, ctx| act.fill_gap(ctx));
                }
            }
        }));
    }

    /// Stops the room once it has had no members and no work for the idle timeout.
    fn stop_if_idle(&mut self, ctx: &mut Context<Self>) {
        let idle = self.members.is_empty()
            && self.sends_in_flight == 0
            && self.waiting.is_empty()
            && self.idle_since.elapsed() >= self.hub.limits.room_idle_timeout;
        if !self.closed && !self.members.is_empty() {
            if let Some(broker) = &self.hub.broker {
                if !broker.is_up() || self.last_catch_up.elapsed() >= CATCH_UP_EVERY {
                    self.catch_up(ctx);
                }
            }
        }
        if idle && !self.closed {
            self.closed = true;
            self.hub.registry.do_send(RoomStopped {
                code: self.room.code,
                addr: ctx.address(),
                failed: false,
            });
            ctx.stop();
        }
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!(metric_names::ROOMS_ACTIVE).increment(1.0);
        let tick =
            (self.hub.limits.room_idle_timeout / 4).clamp(Duration::from_millis(10), CATCH_UP_TICK);
        ctx.run_interval(tick, |act, ctx| act.stop_if_idle(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!(metric_names::ROOMS_ACTIVE).decrement(1.0);
    }
}

impl Handler<Join> for RoomActor {
    type Result = AtomicResponse<Self, Result<Joined, RoomError>>;

    /// Missed messages are read up to the last pushed id while the room handles nothing
    /// else (an atomic response), and the member is added only after that read: every later
    /// message reaches the joiner as a push, so `missed` followed by the pushes has no gap
    /// and no overlap, and a failed read leaves no half-joined member behind.
    ///
    /// The last pushed id is taken once the atomic part runs, not in the handler: between a
    /// handler that starts a wait and the first poll of that wait, actix still polls one
    /// spawned future of the actor, and a commit finishing there would push a message that
    /// is neither in a `missed` read up to an older id nor pushed to the not-yet-added
    /// member.
    fn handle(&mut self, msg: Join, _: &mut Self::Context) -> Self::Result {
        if self.closed {
            return AtomicResponse::new(Box::pin(fut::ready(Err(RoomError::Gone))));
        }
        let atomic = fut::ready(()).then(move |(), act: &mut Self, _| {
            let read = match (msg.since_id, act.last_pushed_id) {
                (Some(since), Some(last)) if last > since => {
                    let store = Arc::clone(&act.hub.store);
                    let (room_id, limit) = (act.room.id, act.hub.limits.missed_max);
                    Some(async move { store.range(room_id, since, last, limit).await })
                }
                _ => None,
            };
            // The first local member also needs the members on other nodes; later ones
            // find them kept up to date by the broker's events.
            let roster = match &act.hub.broker {
                Some(broker) if act.members.is_empty() && broker.is_up() => {
                    let broker = Arc::clone(broker);
                    let code = act.room.code;
                    Some(async move { broker.roster(code).await })
                }
                _ => None,
            };
            let read = async move {
                let page = match read {
                    Some(read) => read.await.map(Some),
                    None => Ok(None),
                };
                let roster = match roster {
                    Some(roster) => roster.await.ok().map(|(live, _)| live),
                    None => None,
                };
                (page, roster)
            };
            read.into_actor(act).map(move |(page, roster), act, _| {
                if act.closed {
                    return Err(RoomError::Gone);
                }
                let page = page.map_err(|error| {
                    tracing::warn!(%error, "reading missed messages failed");
                    RoomError::Chat(ChatError::unavailable())
                })?;
                if let (Some(roster), Some(broker)) = (roster, &act.hub.broker) {
                    act.remote = roster
                        .into_iter()
                        .filter(|(field, _)| broker::node_of(field) != broker.node_id)
                        .collect();
                }
                if !act.members.contains_key(&msg.session) {
                    act.hub.guards.room_has_space(act.member_total())?;
                }
                act.add_member(msg.session, msg.addr, msg.nickname);
                let (missed, has_more) =
                    page.map_or((Vec::new(), false), |p| (p.messages, p.has_more));
                Ok(Joined {
                    room: act.room.clone(),
                    members: act.member_list(),
                    missed,
                    has_more,
                })
            })
        });
        AtomicResponse::new(Box::pin(atomic))
    }
}

impl Handler<Leave> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) {
        self.remove_member(msg.session);
    }
}

impl Handler<SendMessage> for RoomActor {
    type Result = ResponseActFuture<Self, Result<SendOutcome, RoomError>>;

    fn handle(&mut self, msg: SendMessage, _: &mut Self::Context) -> Self::Result {
        let sender = match (&msg.from, self.closed) {
            (_, true) => Err(RoomError::Gone),
            (Sender::Session(id), false) => self
                .members
                .get(id)
                .map(|m| m.nickname.clone())
                .ok_or(RoomError::Chat(ChatError::not_in_room())),
            (Sender::Integration(nickname), false) => Ok(nickname.clone()),
        };
        let sender = match sender {
            Ok(sender) => sender,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let room_id = self.room.id;
        if msg.dedupe_only {
            let store = Arc::clone(&self.hub.store);
            let client_id = msg.client_id;
            return Box::pin(
                async move {
                    let rate_limited = || {
                        RoomError::Chat(ChatError::new(
                            ErrorCode::RateLimited,
                            "too many messages; wait a moment before sending again",
                        ))
                    };
                    let Some(client_id) = client_id else {
                        return Err(rate_limited());
                    };
                    match store.find_by_client_id(room_id, &client_id).await {
                        Ok(Some(message)) => Ok(SendOutcome {
                            message,
                            created: false,
                        }),
                        Ok(None) => Err(rate_limited()),
                        Err(_) => Err(RoomError::Chat(ChatError::unavailable())),
                    }
                }
                .into_actor(self),
            );
        }
        let message = NewMessage {
            room_id,
            room_code: self.room.code,
            sender: sender.as_str().to_owned(),
            content: msg.content.into_string(),
            client_id: msg.client_id,
        };
        self.sends_in_flight += 1;
        let persist = self
            .hub
            .persistence
            .shard(room_id)
            .send(Persist { message });
        Box::pin(persist.into_actor(self).map(|result, act, ctx| {
            act.sends_in_flight -= 1;
            match result {
                Ok(Ok(Outcome::Created(committed))) => {
                    let message = committed.message.clone();
                    act.publish(Event::Message {
                        message: message.clone(),
                        prev_id: committed.prev_id,
                    });
                    act.on_committed(committed, ctx);
                    Ok(SendOutcome {
                        message,
                        created: true,
                    })
                }
                Ok(Ok(Outcome::Duplicate(message))) => Ok(SendOutcome {
                    message,
                    created: false,
                }),
                Ok(Err(error)) => Err(RoomError::Chat(error)),
                Err(_) => Err(RoomError::Chat(ChatError::internal(
                    "persistence is not running",
                ))),
            }
        }))
    }
}

impl Handler<Typing> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Typing, _: &mut Self::Context) {
        let Some(member) = self.members.get(&msg.session) else {
            return;
        };
        let nickname = member.nickname.clone();
        let frame = protocol::push(
            "typing",
            TypingPush {
                room_code: self.room.code,
                nickname: &nickname,
                typing: msg.typing,
            },
        );
        self.broadcast(&frame, Some(msg.session));
        self.publish(Event::Typing {
            nickname,
            typing: msg.typing,
        });
    }
}

impl Handler<ListMembers> for RoomActor {
    type Result = MessageResult<ListMembers>;

    fn handle(&mut self, _: ListMembers, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.member_list())
    }
}

impl Handler<Relay> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Relay, ctx: &mut Self::Context) {
        self.on_committed(msg.committed, ctx);
    }
}

impl Handler<Remote> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Remote, ctx: &mut Self::Context) {
        if self.closed {
            return;
        }
        match msg.event {
            Event::Message { message, prev_id } => {
                self.on_committed(Committed { message, prev_id }, ctx)
            }
            Event::Join {
                member,
                nickname,
                old,
            } => {
                let previous = self.remote.insert(member, nickname.clone());
                if previous.as_ref() != Some(&nickname) {
                    let left = old.or(previous);
                    let frame = self.presence_frame(Some(&nickname), left.as_ref());
                    self.broadcast(&frame, None);
                }
            }
            Event::Leave { member, nickname } => {
                if self.remote.remove(&member).is_some() {
                    let frame = self.presence_frame(None, Some(&nickname));
                    self.broadcast(&frame, None);
                }
            }
            Event::Typing { nickname, typing } => {
                let frame = protocol::push(
                    "typing",
                    TypingPush {
                        room_code: self.room.code,
                        nickname: &nickname,
                        typing,
                    },
                );
                self.broadcast(&frame, None);
            }
        }
    }
}

impl Handler<Synced> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Synced, ctx: &mut Self::Context) {
        let Some(broker) = self.hub.broker.clone() else {
            return;
        };
        let (own, remote): (Vec<_>, Vec<_>) = msg
            .roster
            .into_iter()
            .partition(|(field, _)| broker::node_of(field) == broker.node_id);
        let remote: HashMap<String, Nickname> = remote.into_iter().collect();
        if remote != self.remote {
            self.remote = remote;
            let frame = self.presence_frame(None, None);
            self.broadcast(&frame, None);
        }
        // Entries of ours that are no longer members (a removal that was lost while Redis
        // was unreachable) go, with their `leave`.
        for (field, nickname) in own {
            let still_here = field
                .rsplit_once('/')
                .and_then(|(_, id)| id.parse::<SessionId>().ok())
                .is_some_and(|id| self.members.contains_key(&id));
            if !still_here {
                if let Some(bridge) = &self.hub.bridge {
                    bridge.do_send(SetPresence {
                        code: self.room.code,
                        member: field.clone(),
                        nickname: None,
                    });
                }
                self.publish(Event::Leave {
                    member: field,
                    nickname,
                });
            }
        }
        // Redis may have lost our entries (a restart, or our heartbeat expired while it
        // was unreachable): write them again, and tell the others.
        let sessions: Vec<(SessionId, Nickname)> = self
            .members
            .iter()
            .map(|(id, m)| (*id, m.nickname.clone()))
            .collect();
        for (session, nickname) in sessions {
            self.announce(session, Some(&nickname), None);
        }
        self.catch_up(ctx);
    }
}
