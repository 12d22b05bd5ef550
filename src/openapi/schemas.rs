//! Schema mirrors of the wire types that live in the actors crate (`Room`, `Message`,
//! `Member`, `Error`). The actors crate stays free of documentation dependencies; the test
//! below proves that every mirror serializes exactly like the type it describes, so the
//! published OpenAPI document cannot drift from what the node really sends.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A chat room (PROTOCOL.md, "Types").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Room)]
pub struct RoomSchema {
    /// The store's id.
    pub id: i64,
    /// Six characters of the room code alphabet, always upper case.
    #[schema(pattern = "^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$", example = "K7QX2M")]
    pub code: String,
    /// Creation time, RFC 3339 in UTC with milliseconds.
    #[schema(format = DateTime, example = "2026-11-27T10:00:00.123Z")]
    pub created_at: String,
}

/// A committed chat message (PROTOCOL.md, "Types").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Message)]
pub struct MessageSchema {
    /// Unique across the deployment, increasing in commit order within the room.
    pub id: i64,
    /// The room's store id.
    pub room_id: i64,
    /// The room's code, upper case.
    #[schema(pattern = "^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$", example = "K7QX2M")]
    pub room_code: String,
    /// The sender's nickname.
    pub sender: String,
    /// The trimmed content.
    pub content: String,
    /// Commit time, RFC 3339 in UTC with milliseconds.
    #[schema(format = DateTime, example = "2026-11-27T10:00:05.481Z")]
    pub created_at: String,
    /// The sender's idempotency key, null when it gave none.
    pub client_id: Option<String>,
    /// Posted by an integration through `POST /api/messages`; false for members' messages.
    pub bot: bool,
    /// The author's public id (24 hex digits), when the sender joined with an `authorKey`;
    /// null for bots and members without one. The same key gives the same id everywhere.
    #[schema(pattern = "^[0-9a-f]{24}$")]
    pub author_id: Option<String>,
    /// The message of the same room this one replies to, or null.
    pub reply_to: Option<i64>,
    /// When the content was last edited, or null.
    #[schema(format = DateTime, example = json!(null))]
    pub edited_at: Option<String>,
    /// Deleted: the content is empty and the reactions are gone.
    pub deleted: bool,
    /// The reactions, most counted first, then by emoji.
    pub reactions: Vec<ReactionSchema>,
    /// The position of this state of the message in its room's change stream.
    #[schema(minimum = 0)]
    pub seq: i64,
}

/// One emoji's count on a message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Reaction)]
pub struct ReactionSchema {
    /// One emoji.
    #[schema(example = "👍")]
    pub emoji: String,
    /// How many authors reacted with it.
    #[schema(minimum = 1)]
    pub count: u32,
}

/// One entry of a member list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Member)]
pub struct MemberSchema {
    /// The member's nickname in that room.
    pub nickname: String,
}

/// The protocol's error codes, for programs to branch on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ErrorCode)]
pub enum ErrorCodeSchema {
    /// Malformed JSON, missing or ill-typed field.
    BadRequest,
    /// No such room, or no such API route.
    NotFound,
    /// The session has not joined that room (WebSocket only).
    NotInRoom,
    /// Content, nickname, body or a count over its limit.
    TooLarge,
    /// Too many sends recently.
    RateLimited,
    /// The store (or the broker) cannot answer now; nothing was stored.
    Unavailable,
    /// A bug.
    Internal,
    /// The operation needs an API key and the request carries none of the node's keys.
    Unauthorized,
    /// The caller may not do this (a browser page of a foreign origin opening a WebSocket).
    Forbidden,
}

/// What went wrong: a code for programs, a message for people.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorSchema {
    /// The error code.
    pub code: ErrorCodeSchema,
    /// A human-readable explanation.
    pub message: String,
}

/// Every JSON error answer: `{"ok": false, "error": Error}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Always false.
    pub ok: bool,
    /// The error.
    pub error: ErrorSchema,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use chat_actors::ids::{Nickname, RoomCode};
    use chat_actors::model::{Member, Message, Room};
    use chat_actors::{ChatError, ErrorCode};
    use chrono::DateTime;
    use serde::de::DeserializeOwned;

    /// The actors' value goes through the mirror unchanged: same fields, same JSON types.
    fn round_trips<Mirror: DeserializeOwned + Serialize>(value: &impl Serialize) {
        let wire = serde_json::to_value(value).unwrap();
        let mirror: Mirror = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(serde_json::to_value(mirror).unwrap(), wire);
    }

    #[test]
    fn mirrors_serialize_like_the_actor_types() {
        let code = RoomCode::parse("k7qx2m").unwrap();
        let at = DateTime::from_timestamp_millis(1_795_773_600_123).unwrap();
        round_trips::<RoomSchema>(&Room {
            id: 3,
            code,
            created_at: at,
        });
        for (client_id, bot) in [(None, true), (Some("c-1".to_string()), false)] {
            round_trips::<MessageSchema>(&Message {
                id: 7,
                room_id: 3,
                room_code: code,
                sender: "ada".into(),
                content: "<b>hi</b>".into(),
                created_at: at,
                client_id,
                bot,
                author_id: (!bot).then(|| "0123456789abcdef01234567".to_owned()),
                reply_to: None,
                edited_at: bot.then_some(at),
                deleted: false,
                reactions: vec![chat_actors::model::Reaction {
                    emoji: "👍".into(),
                    count: 2,
                }],
                seq: 4,
            });
        }
        round_trips::<MemberSchema>(&Member {
            nickname: Nickname::parse("ada", 32).unwrap(),
        });
        for error_code in ErrorCode::ALL {
            round_trips::<ErrorSchema>(&ChatError::new(error_code, "why"));
        }
    }
}
