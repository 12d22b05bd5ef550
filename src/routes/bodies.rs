//! The JSON bodies the REST handlers send and receive, typed so that the OpenAPI document
//! (`crate::openapi`) is generated from the very structs that go on the wire. Fields of
//! actor types borrow their schema from the mirrors in `crate::openapi::schemas`.

use chat_actors::ids::{MessageId, RoomCode};
use chat_actors::model::{Member, Message, Room};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::openapi::schemas::{MemberSchema, MessageSchema, RoomSchema};

/// `GET /api/health`: the process is alive.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always true.
    pub ok: bool,
    /// Seconds since the node started.
    pub uptime: u64,
    /// The node's id.
    pub node: String,
    /// The node's version.
    pub version: String,
}

/// `GET /api/ready`: the node's dependencies answer.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// Always true.
    pub ok: bool,
    /// `"ok"`: the store answered.
    pub store: String,
    /// `"ok"` when the node uses Redis and Redis answered; absent without Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
}

/// Query of `GET /api/messages`. Numbers arrive as text so that a bad one is answered with
/// the protocol's `bad_request` rather than a generic parse error.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The room's code, any case.
    #[param(required = true, value_type = String)]
    pub room_code: Option<String>,
    /// Page size; clamped to 1..200 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// Only messages with a smaller id: the previous page's `nextBeforeId`.
    #[param(value_type = Option<i64>)]
    pub before_id: Option<String>,
}

/// `GET /api/messages`: one page of history, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Always true.
    pub ok: bool,
    /// The page, newest first.
    #[schema(value_type = Vec<MessageSchema>)]
    pub messages: Vec<Message>,
    /// Cursor of the next older page; null exactly when no older message exists.
    pub next_before_id: Option<MessageId>,
}

/// A request body that must be a JSON object. Serde's derived structs also accept their
/// fields as an array, by position; the API documents objects, so anything else is a
/// `bad_request` instead of a guess.
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a map and hands it to `T`; refuses every other JSON type.
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(JsonObject)
    }
}

/// Body of `POST /api/messages`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMessage {
    /// The room's code, any case.
    #[schema(example = "K7QX2M")]
    pub room_code: String,
    /// Who the message is from; follows the nickname rules (1..32 characters after
    /// trimming, no control characters). The patterns spell out the characters Rust's
    /// `str::trim` removes, because the `\s` of other regex dialects differs from it.
    #[schema(
        example = "deploy-bot",
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u001F\u007F-\u009F \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub sender: String,
    /// The message, 1..2000 characters after trimming.
    #[schema(
        example = "build 118 is green",
        min_length = 1,
        max_length = 2000,
        pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub content: String,
    /// Idempotency key (1..64 characters): a repeat answers 200 with the original. Null
    /// means absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub client_id: Option<String>,
}

/// `POST /api/messages`: the stored message.
#[derive(Serialize, ToSchema)]
pub struct MessageStored {
    /// Always true.
    pub ok: bool,
    /// The message as stored.
    #[schema(value_type = MessageSchema)]
    pub message: Message,
}

/// `POST /api/rooms`: the new room.
#[derive(Serialize, ToSchema)]
pub struct RoomCreated {
    /// Always true.
    pub ok: bool,
    /// The room.
    #[schema(value_type = RoomSchema)]
    pub room: Room,
}

/// `GET /api/rooms/{code}`: the room and who is in it now.
#[derive(Serialize, ToSchema)]
pub struct RoomDetail {
    /// Always true.
    pub ok: bool,
    /// The room.
    #[schema(value_type = RoomSchema)]
    pub room: Room,
    /// One entry per session in the room, on every node.
    #[schema(value_type = Vec<MemberSchema>)]
    pub members: Vec<Member>,
}

/// One occupied room of `GET /api/rooms`.
#[derive(Serialize, ToSchema)]
pub struct RoomOccupancy {
    /// The room's code.
    #[schema(value_type = String, pattern = "^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")]
    pub code: RoomCode,
    /// Members in it now, on every node.
    pub members: usize,
}

/// `GET /api/rooms`: rooms with at least one member now, most members first.
#[derive(Serialize, ToSchema)]
pub struct RoomList {
    /// Always true.
    pub ok: bool,
    /// The rooms.
    pub rooms: Vec<RoomOccupancy>,
}
