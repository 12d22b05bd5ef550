//! Edits, deletions and reactions (PROTOCOL.md v2): who may change a message, and what a
//! change does to it.
//!
//! Both stores decide a change inside the commit transaction, with the room locked, from
//! the message as stored then; the rules live here once, as plain functions, so the stores
//! cannot disagree and the rules are tested without a database.

use chrono::{DateTime, Utc};

use crate::error::{ChatError, ErrorCode};
use crate::ids::{Content, Emoji, MessageId, RoomId};
use crate::model::{Message, Reaction, Seq};

/// Most distinct emoji one message holds.
pub const REACTIONS_MAX: usize = 20;

/// Who asks for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedBy {
    /// The author id of the session, if it joined with an author key.
    pub author_id: Option<String>,
    /// Who counts once per emoji: the author id, or for a keyless session a token of its
    /// own, so that it too counts once.
    pub reactor: String,
    /// The room's owner (a session that joined with the owner key, or REST with an API
    /// key).
    pub owner: bool,
}

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Replace the content (only its author).
    Edit(Content),
    /// Remove the content and the reactions (its author, or the owner).
    Delete,
    /// Add (or remove) the reactor's emoji.
    React {
        /// The emoji.
        emoji: Emoji,
        /// Add it, or remove it.
        add: bool,
    },
}

/// A change on its way into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The room it must belong to.
    pub room_id: RoomId,
    /// The message to change.
    pub message_id: MessageId,
    /// Who asks.
    pub by: ChangedBy,
    /// What to do.
    pub kind: ChangeKind,
}

/// Why a change was refused; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in this room (or, for edits and reactions, it was deleted).
    NotFound,
    /// The caller may not make this change.
    Forbidden,
    /// The message already holds [`REACTIONS_MAX`] other emoji.
    TooManyReactions,
}

impl From<Refusal> for ChatError {
    fn from(refusal: Refusal) -> ChatError {
        match refusal {
            Refusal::NotFound => {
                ChatError::new(ErrorCode::NotFound, "no such message in this room")
            }
            Refusal::Forbidden => ChatError::new(
                ErrorCode::Forbidden,
                "only a message's author may edit it, and its author or the room's owner delete it",
            ),
            Refusal::TooManyReactions => ChatError::too_large(format!(
                "a message holds at most {REACTIONS_MAX} different reactions"
            )),
        }
    }
}

/// What a permitted change does to the stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: it would not change the message (the same content, a deleted message
    /// deleted again, a reaction added twice or removed when absent). Nothing is stored or
    /// pushed, and the caller gets the current message.
    Nothing,
    /// Store the new state.
    Change,
}

/// Decides a change of `current` (the message as stored now). `already_reacted` tells
/// whether the reactor has the change's emoji on the message now (only read for
/// reactions).
pub fn decide(
    change: &NewChange,
    current: &Message,
    already_reacted: bool,
) -> Result<Effect, Refusal> {
    if current.room_id != change.room_id || current.id != change.message_id {
        return Err(Refusal::NotFound);
    }
    let by = &change.by;
    let is_author = by.author_id.is_some() && by.author_id == current.author_id;
    match &change.kind {
        ChangeKind::Delete if current.deleted => Ok(Effect::Nothing),
        ChangeKind::Delete if is_author || by.owner => Ok(Effect::Change),
        ChangeKind::Delete => Err(Refusal::Forbidden),
        _ if current.deleted => Err(Refusal::NotFound),
        ChangeKind::Edit(_) if !is_author => Err(Refusal::Forbidden),
        ChangeKind::Edit(content) if content.as_str() == current.content => Ok(Effect::Nothing),
        ChangeKind::Edit(_) => Ok(Effect::Change),
        ChangeKind::React { add, .. } if *add == already_reacted => Ok(Effect::Nothing),
        ChangeKind::React { emoji, add: true } => {
            let known = current.reactions.iter().any(|r| r.emoji == emoji.as_str());
            if !known && current.reactions.len() >= REACTIONS_MAX {
                Err(Refusal::TooManyReactions)
            } else {
                Ok(Effect::Change)
            }
        }
        ChangeKind::React { add: false, .. } => Ok(Effect::Change),
    }
}

/// Applies a change that [`decide`] answered [`Effect::Change`] for: the message's new
/// state, at position `seq` of its room, changed `at`.
pub fn apply(message: &mut Message, kind: &ChangeKind, seq: Seq, at: DateTime<Utc>) {
    match kind {
        ChangeKind::Edit(content) => {
            message.content = content.as_str().to_owned();
            message.edited_at = Some(at);
        }
        ChangeKind::Delete => {
            message.content.clear();
            message.reactions.clear();
            message.deleted = true;
        }
        ChangeKind::React { emoji, add } => count(&mut message.reactions, emoji, *add),
    }
    message.seq = seq;
}

/// Counts one reactor more (or less) for `emoji`, keeping the order of the wire: most
/// counted first, then by emoji.
fn count(reactions: &mut Vec<Reaction>, emoji: &Emoji, add: bool) {
    match reactions.iter_mut().position(|r| r.emoji == emoji.as_str()) {
        Some(index) if add => reactions[index].count += 1,
        Some(index) => {
            reactions[index].count = reactions[index].count.saturating_sub(1);
            if reactions[index].count == 0 {
                reactions.remove(index);
            }
        }
        None if add => reactions.push(Reaction {
            emoji: emoji.as_str().to_owned(),
            count: 1,
        }),
        None => {}
    }
    reactions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.emoji.cmp(&b.emoji)));
}

/// The reactions as the stores keep them: JSON text, `None` when there are none.
pub fn reactions_to_text(reactions: &[Reaction]) -> Option<String> {
    if reactions.is_empty() {
        return None;
    }
    serde_json::to_string(reactions).ok()
}

/// Reads reactions kept by [`reactions_to_text`]; `None` (no reactions) reads as empty.
pub fn reactions_from_text(text: Option<&str>) -> Result<Vec<Reaction>, String> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| format!("reactions {text:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomCode;

    fn message(author: Option<&str>) -> Message {
        Message {
            id: 7,
            room_id: 1,
            room_code: RoomCode::parse("K7QX2M").unwrap(),
            sender: "ada".into(),
            content: "hello".into(),
            created_at: DateTime::from_timestamp_millis(0).unwrap(),
            client_id: None,
            bot: false,
            author_id: author.map(str::to_owned),
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            seq: 3,
        }
    }

    fn by(author: Option<&str>, owner: bool) -> ChangedBy {
        ChangedBy {
            author_id: author.map(str::to_owned),
            reactor: author.unwrap_or("~session").to_owned(),
            owner,
        }
    }

    fn change(by: ChangedBy, kind: ChangeKind) -> NewChange {
        NewChange {
            room_id: 1,
            message_id: 7,
            by,
            kind,
        }
    }

    fn edit(text: &str) -> ChangeKind {
        ChangeKind::Edit(Content::parse(text, 100).unwrap())
    }

    fn react(emoji: &str, add: bool) -> ChangeKind {
        ChangeKind::React {
            emoji: Emoji::parse(emoji).unwrap(),
            add,
        }
    }

    #[test]
    fn only_the_author_edits() {
        let ada = message(Some("ada-id"));
        let cases = [
            (by(Some("ada-id"), false), Ok(Effect::Change)),
            (by(Some("bob-id"), false), Err(Refusal::Forbidden)),
            (by(Some("bob-id"), true), Err(Refusal::Forbidden)),
            (by(None, true), Err(Refusal::Forbidden)),
        ];
        for (who, expected) in cases {
            assert_eq!(
                decide(&change(who.clone(), edit("new")), &ada, false),
                expected,
                "{who:?}"
            );
        }
        let keyless = message(None);
        assert_eq!(
            decide(&change(by(None, false), edit("new")), &keyless, false),
            Err(Refusal::Forbidden),
            "a keyless message has no author who could edit it"
        );
        assert_eq!(
            decide(
                &change(by(Some("ada-id"), false), edit("hello")),
                &ada,
                false
            ),
            Ok(Effect::Nothing)
        );
    }

    #[test]
    fn the_author_or_the_owner_deletes() {
        let ada = message(Some("ada-id"));
        assert_eq!(
            decide(
                &change(by(Some("ada-id"), false), ChangeKind::Delete),
                &ada,
                false
            ),
            Ok(Effect::Change)
        );
        assert_eq!(
            decide(
                &change(by(Some("bob-id"), true), ChangeKind::Delete),
                &ada,
                false
            ),
            Ok(Effect::Change)
        );
        assert_eq!(
            decide(
                &change(by(Some("bob-id"), false), ChangeKind::Delete),
                &ada,
                false
            ),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            decide(
                &change(by(None, true), ChangeKind::Delete),
                &message(None),
                false
            ),
            Ok(Effect::Change)
        );
        assert_eq!(
            decide(
                &change(by(None, false), ChangeKind::Delete),
                &message(None),
                false
            ),
            Err(Refusal::Forbidden)
        );
    }

    #[test]
    fn a_deleted_message_takes_no_change_but_its_deletion_again() {
        let mut gone = message(Some("ada-id"));
        apply(
            &mut gone,
            &ChangeKind::Delete,
            4,
            DateTime::from_timestamp_millis(5).unwrap(),
        );
        assert!(gone.deleted && gone.content.is_empty() && gone.seq == 4);
        let ada = by(Some("ada-id"), false);
        assert_eq!(
            decide(&change(ada.clone(), ChangeKind::Delete), &gone, false),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            decide(&change(ada.clone(), edit("x")), &gone, false),
            Err(Refusal::NotFound)
        );
        assert_eq!(
            decide(&change(ada, react("👍", true)), &gone, false),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn another_rooms_message_is_not_found() {
        let mut elsewhere = message(Some("ada-id"));
        elsewhere.room_id = 2;
        assert_eq!(
            decide(
                &change(by(Some("ada-id"), true), ChangeKind::Delete),
                &elsewhere,
                false
            ),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn reactions_count_once_per_reactor_and_sort_by_count() {
        let at = DateTime::from_timestamp_millis(0).unwrap();
        let mut m = message(None);
        let bob = by(Some("bob-id"), false);
        assert_eq!(
            decide(&change(bob.clone(), react("👍", true)), &m, true),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            decide(&change(bob.clone(), react("👍", false)), &m, false),
            Ok(Effect::Nothing)
        );
        for (emoji, seq) in [("🎉", 4), ("👍", 5), ("👍", 6), ("😮", 7)] {
            assert_eq!(
                decide(&change(bob.clone(), react(emoji, true)), &m, false),
                Ok(Effect::Change)
            );
            apply(&mut m, &react(emoji, true), seq, at);
        }
        let counts: Vec<(&str, u32)> = m
            .reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.count))
            .collect();
        assert_eq!(counts, [("👍", 2), ("🎉", 1), ("😮", 1)]);
        apply(&mut m, &react("🎉", false), 8, at);
        let counts: Vec<(&str, u32)> = m
            .reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.count))
            .collect();
        assert_eq!(
            counts,
            [("👍", 2), ("😮", 1)],
            "a count that reaches 0 goes"
        );
        assert_eq!(m.seq, 8);
        let text = reactions_to_text(&m.reactions);
        assert_eq!(reactions_from_text(text.as_deref()).unwrap(), m.reactions);
        assert_eq!(reactions_to_text(&[]), None);
    }

    #[test]
    fn a_message_holds_at_most_twenty_different_emoji() {
        let mut m = message(None);
        m.reactions = (0..REACTIONS_MAX)
            .map(|i| Reaction {
                emoji: format!("e{i}"),
                count: 1,
            })
            .collect();
        let bob = by(Some("bob-id"), false);
        assert_eq!(
            decide(&change(bob.clone(), react("👍", true)), &m, false),
            Err(Refusal::TooManyReactions)
        );
        m.reactions[0].emoji = "👍".into();
        assert_eq!(
            decide(&change(bob, react("👍", true)), &m, false),
            Ok(Effect::Change),
            "one more of a known emoji"
        );
    }
}
