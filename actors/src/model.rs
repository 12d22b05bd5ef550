//! The values the protocol talks about: rooms, messages, members.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::ids::{MessageId, Nickname, RoomCode, RoomId};

/// Serializes a timestamp as RFC 3339 in UTC with milliseconds (precise rule 11).
pub fn serialize_timestamp<S: Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Serializes an optional timestamp like [`serialize_timestamp`], `null` when absent.
pub fn serialize_optional_timestamp<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize_timestamp(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A position in a room's change stream (see [`Message::seq`]).
pub type Seq = i64;

/// The current time, truncated to the milliseconds that the wire and the store keep, so
/// that a value read back from the store equals the one pushed live.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// A chat room as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    /// The store's id.
    pub id: RoomId,
    /// The shareable code.
    pub code: RoomCode,
    /// When the room was created.
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A room row with the bookkeeping the room actor needs to order its pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// The room as clients see it.
    pub room: Room,
    /// Id of the newest committed message, if any: where gap-free pushing starts.
    pub last_message_id: Option<MessageId>,
    /// The room's newest position in its change stream (0 before the first).
    pub last_seq: Seq,
    /// SHA-256 (hex) of the room's owner key; `None` for rooms made before owners existed.
    pub owner_key_hash: Option<String>,
}

/// A committed chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique across the deployment, increasing in commit order within the room.
    pub id: MessageId,
    /// The room's store id.
    pub room_id: RoomId,
    /// The room's code.
    pub room_code: RoomCode,
    /// The sender's nickname (never taken from the payload).
    pub sender: String,
    /// The trimmed content, byte-exact as stored.
    pub content: String,
    /// Commit time.
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    /// The sender's idempotency key, if it gave one.
    pub client_id: Option<String>,
    /// Posted by an integration through the REST API, not by a member (PROTOCOL.md v2).
    /// Absent in events from nodes that predate it, which only knew members' messages.
    #[serde(default)]
    pub bot: bool,
    /// The author's public id (a keyed hash of the key its client keeps), when the sender
    /// joined with an `authorKey`; null for bots and keyless members (PROTOCOL.md v2).
    #[serde(default)]
    pub author_id: Option<String>,
    /// The message of the same room this one replies to (Version 2), or null.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// When the content was last edited (Version 2), or null.
    #[serde(default, serialize_with = "serialize_optional_timestamp")]
    pub edited_at: Option<DateTime<Utc>>,
    /// Deleted (Version 2): the content is "" and the reactions are gone, from the store
    /// too; the message keeps its id and place.
    #[serde(default)]
    pub deleted: bool,
    /// The reactions, most counted first, then by emoji.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The position of this state of the message in its room's change stream: every new
    /// message and every change of a room takes the room's next number, so pushes are
    /// ordered and resumed by it. 0 for messages stored before it existed (and in events
    /// from nodes that predate it).
    #[serde(default)]
    pub seq: Seq,
}

/// One emoji's count on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// How many authors (or keyless sessions) reacted with it.
    pub count: u32,
}

/// A committed message together with the id of its predecessor in the room, which the
/// room actor uses to push messages gap-free and in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The message.
    pub message: Message,
    /// The id of the room's previous message, `None` for the room's first.
    pub prev_id: Option<MessageId>,
}

/// One entry of a member list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member's nickname in that room.
    pub nickname: Nickname,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialize_in_the_wire_shape() {
        let message = Message {
            id: 7,
            room_id: 3,
            room_code: RoomCode::parse("K7QX2M").unwrap(),
            sender: "ada".into(),
            content: "<b>hi</b>".into(),
            created_at: DateTime::from_timestamp_millis(1_795_773_600_123).unwrap(),
            client_id: None,
            bot: false,
            author_id: None,
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            seq: 0,
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7, "roomId": 3, "roomCode": "K7QX2M", "sender": "ada",
                "content": "<b>hi</b>", "createdAt": "2026-11-27T10:00:00.123Z", "clientId": null,
                "bot": false, "authorId": null, "replyTo": null, "editedAt": null,
                "deleted": false, "reactions": [], "seq": 0
            })
        );
        let from_an_older_node = serde_json::json!({
            "id": 7, "roomId": 3, "roomCode": "K7QX2M", "sender": "ada",
            "content": "<b>hi</b>", "createdAt": "2026-11-27T10:00:00.123Z", "clientId": null
        });
        let read: Message = serde_json::from_value(from_an_older_node).unwrap();
        assert_eq!(
            read, message,
            "a relayed message without the Version 2 fields is a keyless member's, never changed"
        );
    }
}
