//! The storage interface the actors need. The node implements it twice (embedded SQLite
//! and PostgreSQL, in `src/store/`); the actors never know which one they talk to.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::changes::{NewChange, Refusal};
use crate::ids::{ClientId, MessageId, RoomCode, RoomId};
use crate::model::{Committed, Message, RoomRecord, Seq};

/// Why the store did not do what was asked. Every variant means nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the work (connection lost, pool timed
    /// out, disk full). Retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A room code was already taken (random codes can collide).
    #[error("room code already exists")]
    CodeTaken,
    /// The store cannot hold a value of the request (PostgreSQL text cannot hold U+0000,
    /// say). Validation refuses such values first; this is the defence behind it, so that
    /// one message's data fails only that message.
    #[error("store refused the data: {0}")]
    Rejected(String),
    /// A message names a room that is not in the store.
    #[error("room {0} does not exist")]
    NoSuchRoom(RoomId),
}

/// A message on its way into the store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room it belongs to.
    pub room_id: RoomId,
    /// The room's code, copied into the committed message.
    pub room_code: RoomCode,
    /// The sender's nickname.
    pub sender: String,
    /// The validated content.
    pub content: String,
    /// The idempotency key, if any.
    pub client_id: Option<ClientId>,
    /// Posted by an integration through the REST API.
    pub bot: bool,
    /// The author's public id, if the sender has one.
    pub author_id: Option<String>,
    /// The message of the same room it replies to (checked by the store's commit).
    pub reply_to: Option<MessageId>,
}

impl NewMessage {
    /// The message as the store keeps it, once it has been given `id` at `created_at`;
    /// every store builds its answer with this, so they cannot disagree on a field.
    pub fn stored_as(&self, id: MessageId, created_at: DateTime<Utc>) -> Message {
        Message {
            id,
            room_id: self.room_id,
            room_code: self.room_code,
            sender: self.sender.clone(),
            content: self.content.clone(),
            created_at,
            client_id: self.client_id.as_ref().map(|c| c.as_str().to_owned()),
            bot: self.bot,
            author_id: self.author_id.clone(),
            reply_to: self.reply_to,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            seq: 0,
        }
    }
}

/// One write of a commit: a new message, or a change to a stored one.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new message.
    Send(NewMessage),
    /// An edit, deletion or reaction.
    Change(NewChange),
}

impl From<NewMessage> for Write {
    fn from(message: NewMessage) -> Write {
        Write::Send(message)
    }
}

impl From<NewChange> for Write {
    fn from(change: NewChange) -> Write {
        Write::Change(change)
    }
}

impl Write {
    /// The room the write belongs to, whose persistence shard commits it.
    pub fn room_id(&self) -> RoomId {
        match self {
            Write::Send(message) => message.room_id,
            Write::Change(change) => change.room_id,
        }
    }
}

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now.
    Created(Committed),
    /// Its `clientId` was already stored in that room (earlier, or earlier in this very
    /// batch): nothing new was stored; this is the original.
    Duplicate(Message),
    /// Its `reply_to` is not a message of its room (stored before, or earlier in this
    /// batch): nothing was stored. Checked inside the commit, so that a reply keeps its
    /// place among the sender's other messages.
    ReplyTargetMissing,
    /// A change was stored: the message's new state, whose `seq` is the change's.
    Changed(Message),
    /// A change that changes nothing (see [`crate::changes::Effect::Nothing`]): nothing was
    /// stored; this is the message as it is.
    Unchanged(Message),
    /// A change that was not permitted or names no message of its room: nothing stored.
    Refused(Refusal),
}

/// One page of a room's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The messages, in the order the call documents.
    pub messages: Vec<Message>,
    /// Whether more messages exist beyond this page in the direction of the query.
    pub has_more: bool,
}

/// What one retention sweep did ([`Store::sweep_unused_rooms`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Another node was sweeping (it holds the sweep lock): this one did nothing.
    pub skipped: bool,
    /// The rooms deleted completely by this sweep (tombstoned by it, or by an earlier
    /// sweep that stopped half way), so that the node can stop their live actors.
    pub rooms: Vec<(RoomId, RoomCode)>,
    /// The messages deleted with them.
    pub messages: u64,
}

/// A message store. Implementations must be safe to call from many actors at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a room with this code, owned by whoever holds the key hashed to
    /// `owner_key_hash`. [`StoreError::CodeTaken`] when the code exists.
    async fn create_room(
        &self,
        code: RoomCode,
        owner_key_hash: &str,
    ) -> Result<RoomRecord, StoreError>;

    /// Finds a room by code.
    async fn find_room(&self, code: RoomCode) -> Result<Option<RoomRecord>, StoreError>;

    /// Commits a batch in one transaction, all or nothing. Per room, new messages get
    /// increasing ids in batch order, and each records its predecessor; a message whose
    /// `(room, clientId)` is already stored resolves to the original instead, and one whose
    /// `reply_to` is not a message of its room stores nothing
    /// ([`Outcome::ReplyTargetMissing`]). Changes are decided by [`crate::changes::decide`]
    /// on the message as stored (after the batch's earlier changes) and applied with
    /// [`crate::changes::apply`]. Every new message and every stored change takes the next
    /// `seq` of its room, in batch order. The result has one outcome per input, in input
    /// order.
    async fn commit_batch(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError>;

    /// Finds the message a client id resolved to, if that id is stored in the room.
    async fn find_by_client_id(
        &self,
        room_id: RoomId,
        client_id: &ClientId,
    ) -> Result<Option<Message>, StoreError>;

    /// Up to `limit` messages with id < `before_id` (all when `None`), newest first;
    /// `has_more` tells whether an older message exists.
    async fn history(
        &self,
        room_id: RoomId,
        before_id: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// Messages with `after_id < id <= up_to_id`, ascending. When there are more than
    /// `limit`, the newest `limit` of them, with `has_more` set.
    async fn range(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        up_to_id: MessageId,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// What a room's pushes may have missed: the messages with `id > after_id` or
    /// `seq > after_seq`, in their current state, ascending by id; at most `limit`, with
    /// `has_more` set when more exist.
    async fn since(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// What a resuming member missed of older messages: those with `id <= up_to_id` and
    /// `seq > after_seq`, in their current state, ascending by seq; at most `limit`, with
    /// `has_more` set when more exist.
    async fn changed_since(
        &self,
        room_id: RoomId,
        up_to_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// Whether message `id` belongs to the room (a reply may point only there).
    async fn message_in_room(&self, room_id: RoomId, id: MessageId) -> Result<bool, StoreError>;

    /// A secret the nodes share, made by the migrations (`author_id`); `None` if unknown.
    async fn secret(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Answers when the store is reachable; for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Marks `rooms` as used now (retention: nodes call it periodically, in one statement,
    /// for their rooms with members). Answers those of `rooms` that are gone (deleted, or
    /// tombstoned by a sweep), whose live actors must stop.
    async fn touch_rooms(&self, rooms: &[RoomId]) -> Result<Vec<RoomId>, StoreError>;

    /// Closes a room at an operator's request: tombstones it, so from now on it is not
    /// found and commits into it fail with [`StoreError::NoSuchRoom`] (a commit holding the
    /// room's row finishes first); a retention sweep deletes its messages. Answers false
    /// when the room was gone already.
    async fn close_room(&self, room: RoomId) -> Result<bool, StoreError>;

    /// Deletes the rooms unused since before `unused_before`, with their messages: first
    /// tombstones them in one short transaction (re-checking under the row lock that
    /// nothing used them meanwhile; from then on commits into them fail with
    /// [`StoreError::NoSuchRoom`], so nothing acked is deleted afterwards), then deletes
    /// their messages `batch` at a time, each batch its own short transaction, then the
    /// rooms. Finishes rooms an earlier sweep tombstoned but did not delete. With several
    /// nodes on one store, one sweeps at a time; the others answer
    /// [`SweepReport::skipped`].
    async fn sweep_unused_rooms(
        &self,
        unused_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<SweepReport, StoreError>;
}
