//! How a PostgreSQL commit applies the edits, deletions and reactions of its batch.
//!
//! The commit's first round trip reads the messages the batch changes and the reactors it
//! touches, with the rooms locked; the changes are then decided and applied here, in Rust
//! and in batch order (a message changed twice in one batch sees its first change), with
//! the rules of [`chat_actors::changes`]; the second round trip writes the net result
//! column by column: one `UPDATE` for every changed message's final state, one statement
//! each for the reactors that went and came. So a batch of changes costs two round
//! trips whatever its size (a batch of only sends takes one: `postgres_sends.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chat_actors::changes::{self, ChangeKind, Effect, NewChange, Refusal};
use chat_actors::ids::MessageId;
use chat_actors::model::{Message, Seq};
use chrono::{DateTime, Utc};

use super::{Outcome, StoreError, Write};

/// One reactor of one emoji on one message: a row of `reactions`.
pub(super) type Reactor = (MessageId, String, String);

/// What the first round trip looks up for a batch's changes.
#[derive(Debug, Default)]
pub(super) struct ChangeKeys {
    /// The messages changed, once each.
    pub targets: Vec<MessageId>,
    /// The reactors touched, column by column.
    pub reactor_messages: Vec<MessageId>,
    /// Their emoji.
    pub reactor_emoji: Vec<String>,
    /// Who reacted.
    pub reactor_names: Vec<String>,
}

impl ChangeKeys {
    /// The keys of the changes of `batch`.
    pub fn of(batch: &[Write]) -> ChangeKeys {
        let mut keys = ChangeKeys::default();
        for write in batch {
            let Write::Change(change) = write else {
                continue;
            };
            keys.targets.push(change.message_id);
            if let ChangeKind::React { emoji, .. } = &change.kind {
                keys.reactor_messages.push(change.message_id);
                keys.reactor_emoji.push(emoji.as_str().to_owned());
                keys.reactor_names.push(change.by.reactor.clone());
            }
        }
        keys.targets.sort_unstable();
        keys.targets.dedup();
        keys
    }

    /// Whether the batch changes anything at all.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// The changed messages and their reactors while a batch is decided.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// The messages the batch changes, as stored and then as changed so far.
    current: HashMap<MessageId, Message>,
    /// The reactors stored before the batch, of the ones it touches.
    stored_reactors: HashSet<Reactor>,
    /// Those reactors as the batch left them so far.
    reactors: HashSet<Reactor>,
    /// The messages changed, in id order: their final states are written.
    changed: BTreeMap<MessageId, ()>,
    /// The messages deleted: every reactor of theirs goes, looked up or not.
    deleted: Vec<MessageId>,
}

/// The net writes of a batch's changes, column by column as the statements take them.
#[derive(Debug, Default)]
pub(super) struct ChangeColumns {
    /// Final states: ids.
    pub ids: Vec<MessageId>,
    /// Final states: contents.
    pub contents: Vec<String>,
    /// Final states: edit times.
    pub edited_at: Vec<Option<DateTime<Utc>>>,
    /// Final states: deleted.
    pub deleted: Vec<bool>,
    /// Final states: reactions as stored.
    pub reactions: Vec<Option<String>>,
    /// Final states: positions.
    pub seqs: Vec<Seq>,
    /// Messages whose every reactor goes.
    pub cleared: Vec<MessageId>,
    /// Reactors that go.
    pub gone: Columns3,
    /// Reactors that come.
    pub came: Columns3,
}

/// Reactor rows column by column.
#[derive(Debug, Default)]
pub(super) struct Columns3 {
    /// Messages.
    pub messages: Vec<MessageId>,
    /// Emoji.
    pub emoji: Vec<String>,
    /// Reactors.
    pub names: Vec<String>,
}

impl Columns3 {
    fn push(&mut self, (message, emoji, name): Reactor) {
        self.messages.push(message);
        self.emoji.push(emoji);
        self.names.push(name);
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl Changes {
    /// The state the first round trip found: the changed messages and touched reactors.
    pub fn found(messages: Vec<Message>, reactors: Vec<Reactor>) -> Changes {
        let stored_reactors: HashSet<Reactor> = reactors.into_iter().collect();
        Changes {
            current: messages.into_iter().map(|m| (m.id, m)).collect(),
            reactors: stored_reactors.clone(),
            stored_reactors,
            ..Changes::default()
        }
    }

    /// Decides one change on the message as the batch left it so far and applies it,
    /// taking the room's next position from `next_seq` only when it changes something.
    pub fn apply(
        &mut self,
        change: &NewChange,
        now: DateTime<Utc>,
        next_seq: impl FnOnce() -> Result<Seq, StoreError>,
    ) -> Result<Outcome, StoreError> {
        let Some(message) = self.current.get_mut(&change.message_id) else {
            return Ok(Outcome::Refused(Refusal::NotFound));
        };
        let reactor = match &change.kind {
            ChangeKind::React { emoji, .. } => Some((
                change.message_id,
                emoji.as_str().to_owned(),
                change.by.reactor.clone(),
            )),
            _ => None,
        };
        let already = reactor.as_ref().is_some_and(|r| self.reactors.contains(r));
        match changes::decide(change, message, already) {
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
            Ok(Effect::Nothing) => return Ok(Outcome::Unchanged(message.clone())),
            Ok(Effect::Change) => {}
        }
        changes::apply(message, &change.kind, next_seq()?, now);
        match (&change.kind, reactor) {
            (ChangeKind::React { add: true, .. }, Some(reactor)) => {
                self.reactors.insert(reactor);
            }
            (ChangeKind::React { add: false, .. }, Some(reactor)) => {
                self.reactors.remove(&reactor);
            }
            (ChangeKind::Delete, _) => {
                self.reactors.retain(|(id, _, _)| *id != change.message_id);
                self.deleted.push(change.message_id);
            }
            _ => {}
        }
        self.changed.insert(change.message_id, ());
        Ok(Outcome::Changed(message.clone()))
    }

    /// The net writes: the final state of every changed message, and the reactors that
    /// went and came since the batch began.
    pub fn columns(&self) -> ChangeColumns {
        let mut columns = ChangeColumns::default();
        for id in self.changed.keys() {
            let Some(message) = self.current.get(id) else {
                continue;
            };
            columns.ids.push(message.id);
            columns.contents.push(message.content.clone());
            columns.edited_at.push(message.edited_at);
            columns.deleted.push(message.deleted);
            columns
                .reactions
                .push(changes::reactions_to_text(&message.reactions));
            columns.seqs.push(message.seq);
        }
        columns.cleared = self.deleted.clone();
        for gone in self.stored_reactors.difference(&self.reactors) {
            columns.gone.push(gone.clone());
        }
        for came in self.reactors.difference(&self.stored_reactors) {
            columns.came.push(came.clone());
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_actors::changes::ChangedBy;
    use chat_actors::ids::{Emoji, RoomCode};

    fn stored(id: MessageId) -> Message {
        Message {
            id,
            room_id: 1,
            room_code: RoomCode::parse("K7QX2M").unwrap(),
            sender: "ada".into(),
            content: "hi".into(),
            created_at: DateTime::from_timestamp_millis(0).unwrap(),
            client_id: None,
            bot: false,
            author_id: Some("ada-id".into()),
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            seq: 1,
        }
    }

    fn react(id: MessageId, who: &str, add: bool) -> NewChange {
        NewChange {
            room_id: 1,
            message_id: id,
            by: ChangedBy {
                author_id: Some(who.into()),
                reactor: who.into(),
                owner: false,
            },
            kind: ChangeKind::React {
                emoji: Emoji::parse("👍").unwrap(),
                add,
            },
        }
    }

    #[test]
    fn a_batch_writes_the_net_result_of_its_changes() {
        let now = DateTime::from_timestamp_millis(9).unwrap();
        let bob_before = (7, "👍".to_owned(), "bob".to_owned());
        let mut changes = Changes::found(vec![stored(7)], vec![bob_before.clone()]);
        let mut seq = 10;
        let mut next = || {
            seq += 1;
            Ok(seq)
        };
        assert!(
            matches!(changes.apply(&react(7, "eve", true), now, &mut next), Ok(Outcome::Changed(m)) if m.seq == 11)
        );
        assert!(matches!(
            changes.apply(&react(7, "eve", true), now, &mut next),
            Ok(Outcome::Unchanged(_))
        ));
        assert!(
            matches!(changes.apply(&react(7, "bob", false), now, &mut next), Ok(Outcome::Changed(m)) if m.seq == 12)
        );
        assert!(matches!(
            changes.apply(&react(8, "bob", true), now, &mut next),
            Ok(Outcome::Refused(Refusal::NotFound))
        ));
        let columns = changes.columns();
        assert_eq!(
            (columns.ids.clone(), columns.seqs.clone()),
            (vec![7], vec![12])
        );
        assert_eq!(columns.gone.names, ["bob"]);
        assert_eq!(columns.came.names, ["eve"]);
        assert!(columns.cleared.is_empty());
    }

    #[test]
    fn a_deletion_clears_the_reactors_the_batch_added() {
        let now = DateTime::from_timestamp_millis(9).unwrap();
        let mut changes = Changes::found(vec![stored(7)], Vec::new());
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            Ok(seq)
        };
        changes
            .apply(&react(7, "eve", true), now, &mut next)
            .unwrap();
        let mut delete = react(7, "ada-id", true);
        delete.kind = ChangeKind::Delete;
        assert!(
            matches!(changes.apply(&delete, now, &mut next), Ok(Outcome::Changed(m)) if m.deleted)
        );
        let columns = changes.columns();
        assert!(
            columns.came.is_empty(),
            "nothing is added to a deleted message"
        );
        assert_eq!(columns.cleared, [7]);
        assert_eq!(columns.contents, [""]);
    }
}
