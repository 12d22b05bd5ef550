//! The room actor's inbox: what sessions, REST handlers, the bridge and tests ask of it.
//! (Its outbox to its supervisor, `RoomStopped`, names the actor's address, so it lives
//! beside the actor in `room/mod.rs`.)

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;

use crate::authors::OwnerKey;
use crate::changes::ChangeKind;
use crate::cluster::Event;
use crate::error::ChatError;
use crate::ids::{ClientId, Content, MessageId, Nickname, SessionId};
use crate::model::{Member, Message, Seq};
use crate::outbound::Outbox;
use crate::protocol::push::Joined;

use super::order::Push;

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
    pub addr: Outbox,
    /// Its nickname in this room.
    pub nickname: Nickname,
    /// Resume point: messages after it are returned in `missed`.
    pub since_id: Option<MessageId>,
    /// Resume point of the change stream: changes after it, to messages up to `since_id`,
    /// are returned in `changes`.
    pub since_change: Option<Seq>,
    /// The author id its messages carry, if it has one.
    pub author_id: Option<String>,
    /// The owner key it presented, if any: checked against the room's.
    pub owner_key: Option<OwnerKey>,
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
    /// The message of this room it replies to.
    pub reply_to: Option<MessageId>,
    /// The sender is over its rate limit: only resolve a known `client_id` to its
    /// original message, store nothing new (precise rule 10).
    pub dedupe_only: bool,
    /// When the sender's request was handled, for the latency budget ([`crate::hops`]).
    pub received_at: Instant,
}

/// The result of a send.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// The committed message, or the original one for a known `clientId`.
    pub message: Message,
    /// Whether this send stored a new message.
    pub created: bool,
    /// When the room answered (the start of the last hop of the latency budget).
    pub answered_at: Instant,
}

/// Who asks for a change of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changer {
    /// A joined WebSocket session: its author id and owner key decide what it may do.
    Session(SessionId),
    /// A REST caller with an API key: the owner of every room (moderation bots).
    Moderator,
}

/// Edits, deletes or reacts to a stored message of the room; pushed to the members as
/// `chat:update` once committed.
#[derive(Message)]
#[rtype(result = "Result<ChangeOutcome, RoomError>")]
pub struct ChangeMessage {
    /// Who asks.
    pub from: Changer,
    /// The message to change.
    pub message_id: MessageId,
    /// What to do.
    pub kind: ChangeKind,
}

/// The result of a change.
#[derive(Debug, Clone)]
pub struct ChangeOutcome {
    /// The message as it is now.
    pub message: Message,
    /// Whether the change stored something (false when it would have changed nothing).
    pub changed: bool,
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

/// A message or change committed elsewhere (another node, or a path that bypassed this
/// actor); pushed in order like any other.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relay {
    /// The commit.
    pub push: Push,
}

/// An event of this room from another node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Remote {
    /// What happened there.
    pub event: Event,
}

/// The room was deleted from the store (retention): the actor tells its members to
/// reconnect (their rejoin then answers `not_found`) and stops for good, so that it does
/// not keep a room alive that is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomDeleted;

/// The bridge (re)subscribed to this room: here are the members on every live node.
/// The room re-announces its own members and catches up from the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Synced {
    /// Presence field → nickname, for every live node (this one included).
    pub roster: HashMap<String, Nickname>,
}
