//! What sessions and REST handlers ask of a room: join, leave, send, typing, members.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use crate::authors;
use crate::cluster::Event;
use crate::error::{ChatError, ErrorCode};
use crate::hops::{self, Hop};
use crate::ids::{ClientId, MessageId, Nickname, SessionId};
use crate::model::Seq;
use crate::persistence::Persist;
use crate::protocol::push::{self, Joined};
use crate::store::{NewMessage, Outcome, Page, StoreError, Write};

use super::messages::{
    Join, Leave, ListMembers, RoomError, SendMessage, SendOutcome, Sender, Typing,
};
use super::order::Push;
use super::typing::Relay;
use super::RoomActor;

/// What a join reads before the member is added: the missed messages and changes, the
/// position they are complete up to, the members on other nodes when this is the room's
/// first local member, and whether the store said the room is gone (retention).
struct JoinReads {
    missed: Result<Option<Page>, StoreError>,
    changes: Result<Option<Page>, StoreError>,
    seq: Seq,
    roster: Option<HashMap<String, Nickname>>,
    gone: bool,
}

type Reply<T> = ResponseActFuture<RoomActor, Result<T, RoomError>>;

impl RoomActor {
    /// Starts the reads a join needs, up to the last message and position pushed now.
    fn join_reads(
        &self,
        since_id: Option<MessageId>,
        since_change: Option<Seq>,
    ) -> impl Future<Output = JoinReads> + 'static {
        let (room_id, limit) = (self.room.id, self.deps.limits.missed_max);
        let seq = self.order.last_seq();
        let missed = match (since_id, self.order.last_pushed()) {
            (Some(since), Some(last)) if last > since => {
                let store = Arc::clone(&self.deps.store);
                Some(async move { store.range(room_id, since, last, limit).await })
            }
            _ => None,
        };
        // Changes to what the member holds; what it does not hold comes in `missed`, in
        // its current state.
        let changes = match (since_id, since_change) {
            (Some(since), Some(after)) if after < seq => {
                let store = Arc::clone(&self.deps.store);
                Some(async move { store.changed_since(room_id, since, after, limit).await })
            }
            _ => None,
        };
        // The first local member also needs the members on other nodes; later ones find
        // them kept up to date by the broker's events. The subscription is asked for
        // before the roster is read, so that a join arriving meanwhile waits for the
        // subscription's own roster (see `cluster/barrier.rs`) rather than trusting one
        // read before it.
        let roster = self.members.is_empty().then(|| {
            self.deps.cluster.subscribe(self.room.code);
            self.deps.cluster.remote_roster(self.room.code)
        });
        // With retention on, the first local member marks the room used in the store at once
        // (a member is a use), which also tells whether a sweep deleted the room while this
        // actor sat idle: then the join answers `not_found` instead of joining a room that is
        // gone. If the store does not answer, the join goes ahead; the periodic mark follows.
        let touch = (self.deps.retention && self.members.is_empty()).then(|| {
            let store = Arc::clone(&self.deps.store);
            let room_id = self.room.id;
            async move { store.touch_rooms(&[room_id]).await }
        });
        async move {
            let gone = match touch {
                Some(touch) => match touch.await {
                    Ok(gone) => !gone.is_empty(),
                    Err(error) => {
                        tracing::warn!(%error, "marking a joined room used failed");
                        false
                    }
                },
                None => false,
            };
            let (missed, changes, roster) = futures_util::join!(
                async {
                    match missed {
                        Some(read) => read.await.map(Some),
                        None => Ok(None),
                    }
                },
                async {
                    match changes {
                        Some(read) => read.await.map(Some),
                        None => Ok(None),
                    }
                },
                async {
                    match roster {
                        Some(roster) => roster.await,
                        None => None,
                    }
                }
            );
            JoinReads {
                missed,
                changes,
                seq,
                roster,
                gone,
            }
        }
    }

    /// Adds the member once its reads are done, and answers its ack. A first member that
    /// could not join takes back the subscription its reads asked for. A room the store no
    /// longer has stops this actor; the join is resolved again, and answers `not_found`.
    fn finish_join(
        &mut self,
        join: Join,
        reads: JoinReads,
        ctx: &mut Context<Self>,
    ) -> Result<Joined, RoomError> {
        let joined = if reads.gone {
            self.deleted(ctx);
            Err(RoomError::Gone)
        } else {
            self.add_joined(join, reads)
        };
        if joined.is_err() && self.members.is_empty() {
            self.deps.cluster.unsubscribe(self.room.code);
        }
        joined
    }

    fn add_joined(&mut self, join: Join, reads: JoinReads) -> Result<Joined, RoomError> {
        if self.closed {
            return Err(RoomError::Gone);
        }
        let JoinReads {
            missed,
            changes,
            seq,
            roster,
            ..
        } = reads;
        let read_failed = |error: StoreError| {
            tracing::warn!(%error, "reading missed messages failed");
            RoomError::Chat(ChatError::unavailable())
        };
        let page = missed.map_err(read_failed)?;
        let changes = changes.map_err(read_failed)?;
        if let Some(roster) = roster {
            self.remote = roster;
        }
        if !self.members.contains_key(&join.session) {
            self.deps.guards.room_has_space(self.member_total())?;
        }
        // A wrong owner key was refused before the reads (`handle`): one here is the room's.
        let owner = join.owner_key.is_some();
        self.add_member(
            join.session,
            join.addr,
            join.nickname,
            join.author_id,
            owner,
        );
        let (missed, has_more) = page.map_or((Vec::new(), false), |p| (p.messages, p.has_more));
        let (changes, changes_has_more) =
            changes.map_or((Vec::new(), false), |p| (p.messages, p.has_more));
        Ok(Joined {
            room: self.room.clone(),
            members: self.member_list(),
            missed,
            has_more,
            owner,
            seq,
            changes,
            changes_has_more,
        })
    }

    /// The nickname a message is sent under, and its author id.
    fn sender_of(&self, from: &Sender) -> Result<(Nickname, Option<String>), RoomError> {
        if self.closed {
            return Err(RoomError::Gone);
        }
        match from {
            Sender::Session(id) => self
                .members
                .get(id)
                .map(|m| (m.nickname.clone(), m.author_id.clone()))
                .ok_or(RoomError::Chat(ChatError::not_in_room())),
            Sender::Integration(nickname) => Ok((nickname.clone(), None)),
        }
    }

    /// A sender over its rate limit: answers the original of a known `clientId`, and
    /// `rate_limited` for anything new.
    fn resolve_duplicate(&self, client_id: Option<ClientId>) -> Reply<SendOutcome> {
        let store = Arc::clone(&self.deps.store);
        let room_id = self.room.id;
        let lookup = async move {
            let rate_limited = || RoomError::Chat(ChatError::send_rate_limited());
            let Some(client_id) = client_id else {
                return Err(rate_limited());
            };
            match store.find_by_client_id(room_id, &client_id).await {
                Ok(Some(message)) => Ok(SendOutcome {
                    message,
                    created: false,
                    answered_at: Instant::now(),
                }),
                Ok(None) => Err(rate_limited()),
                Err(_) => Err(RoomError::Chat(ChatError::unavailable())),
            }
        };
        Box::pin(lookup.into_actor(self))
    }

    /// Hands a message to the room's persistence shard; once committed it is published
    /// to the other nodes and pushed here, and the sender hears back.
    fn persist(&mut self, message: NewMessage, sent_at: Instant) -> Reply<SendOutcome> {
        self.sends_in_flight += 1;
        let shard = self.deps.persistence.shard(self.room.id);
        let persist = shard.send(Persist {
            write: Write::Send(message),
            sent_at,
        });
        Box::pin(persist.into_actor(self).map(|result, act, ctx| {
            act.sends_in_flight -= 1;
            match result {
                Ok(Ok(stored)) => {
                    let handled = hops::record(Hop::ToRoomAfterCommit, stored.committed_at);
                    let mut sent = act.on_stored(stored.outcome, ctx);
                    if let Ok(sent) = &mut sent {
                        sent.answered_at = hops::record(Hop::FanOut, handled);
                    }
                    sent
                }
                Ok(Err(error)) => {
                    // The one `not_found` a commit answers: the room is gone from the store
                    // (retention deleted it), so this actor must not keep it alive.
                    if error.code == ErrorCode::NotFound {
                        act.deleted(ctx);
                    }
                    Err(RoomError::Chat(error))
                }
                Err(_) => Err(RoomError::Chat(ChatError::internal(
                    "persistence is not running",
                ))),
            }
        }))
    }

    fn on_stored(
        &mut self,
        outcome: Outcome,
        ctx: &mut Context<Self>,
    ) -> Result<SendOutcome, RoomError> {
        Ok(match outcome {
            Outcome::Created(committed) => {
                let message = committed.message.clone();
                self.deps.cluster.publish(
                    self.room.code,
                    Event::Message {
                        message: message.clone(),
                        prev_id: committed.prev_id,
                    },
                );
                self.on_committed(Push::Message(committed.message), ctx);
                SendOutcome {
                    message,
                    created: true,
                    answered_at: Instant::now(),
                }
            }
            Outcome::Duplicate(message) => SendOutcome {
                message,
                created: false,
                answered_at: Instant::now(),
            },
            Outcome::ReplyTargetMissing => {
                return Err(RoomError::Chat(ChatError::new(
                    ErrorCode::NotFound,
                    "replyTo: no such message in this room",
                )))
            }
            Outcome::Changed(_) | Outcome::Unchanged(_) | Outcome::Refused(_) => {
                return Err(RoomError::Chat(ChatError::internal(
                    "the store answered a send as a change",
                )))
            }
        })
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
        if msg
            .owner_key
            .as_ref()
            .is_some_and(|key| !key.opens(self.owner_key_hash.as_deref()))
        {
            let refused = RoomError::Chat(authors::not_the_owner_key());
            return AtomicResponse::new(Box::pin(fut::ready(Err(refused))));
        }
        let atomic = fut::ready(()).then(move |(), act: &mut Self, _| {
            act.join_reads(msg.since_id, msg.since_change)
                .into_actor(act)
                .map(move |reads, act, ctx| act.finish_join(msg, reads, ctx))
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
        let (sender, author_id) = match self.sender_of(&msg.from) {
            Ok(sender) => sender,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        if msg.dedupe_only {
            return self.resolve_duplicate(msg.client_id);
        }
        let handled = hops::record(Hop::ToRoom, msg.received_at);
        self.persist(
            NewMessage {
                room_id: self.room.id,
                room_code: self.room.code,
                sender: sender.as_str().to_owned(),
                content: msg.content.into_string(),
                client_id: msg.client_id,
                bot: matches!(msg.from, Sender::Integration(_)),
                author_id,
                reply_to: msg.reply_to,
            },
            handled,
        )
    }
}

impl Handler<Typing> for RoomActor {
    type Result = ();

    /// Relayed to everyone but the typist, here and on the other nodes, unless it repeats
    /// what they were just told or comes too soon (see `room/typing.rs`).
    fn handle(&mut self, msg: Typing, ctx: &mut Self::Context) {
        let Some(member) = self.members.get_mut(&msg.session) else {
            return;
        };
        let session = msg.session;
        match member.typing.decide(msg.typing, Instant::now()) {
            Relay::Now => self.relay_typing(session, msg.typing),
            Relay::After(delay) => {
                ctx.run_later(delay, move |act, _| {
                    let due = act
                        .members
                        .get_mut(&session)
                        .is_some_and(|member| member.typing.due(Instant::now()));
                    if due {
                        act.relay_typing(session, true);
                    }
                });
            }
            Relay::Skip => {}
        }
    }
}

impl RoomActor {
    /// Tells everyone but the member, here and on the other nodes, whether it types.
    fn relay_typing(&mut self, session: SessionId, typing: bool) {
        let Some(member) = self.members.get(&session) else {
            return;
        };
        let nickname = member.nickname.clone();
        let frame = push::typing(self.room.code, &nickname, typing);
        self.broadcast(&frame, Some(session));
        self.deps
            .cluster
            .publish(self.room.code, Event::Typing { nickname, typing });
    }
}

impl Handler<ListMembers> for RoomActor {
    type Result = MessageResult<ListMembers>;

    fn handle(&mut self, _: ListMembers, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.member_list())
    }
}
