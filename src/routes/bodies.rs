//! The JSON bodies the REST handlers send and receive, typed so that the OpenAPI document
//! (`crate::openapi`) is generated from the very structs that go on the wire. Fields of
//! actor types borrow their schema from the mirrors in `crate::openapi::schemas`.

use chat_actors::ids::{MessageId, RoomCode};
use chat_actors::model::{Member, Message, Room};

use serde::Serialize;
use utoipa::ToSchema;

use crate::openapi::schemas::{ErrorSchema, MemberSchema, MessageSchema, RoomSchema};

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

/// `GET /api/ready` when the node is not ready.
#[derive(Serialize, ToSchema)]
pub struct NotReady {
    /// Always false.
    pub ok: bool,
    /// What is not ready: `node` (it is draining), `store` or `broker` (Redis).
    #[schema(example = "store")]
    pub failed: &'static str,
    /// `unavailable`, and how it failed, without the dependency's own error text.
    pub error: ErrorSchema,
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

// What clients send (`PostMessage`, `HistoryQuery`, `JsonObject`) lives with its
// validation in `chat_actors::protocol::rest`, where the fuzz targets read it too.
pub use chat_actors::protocol::rest::{HistoryQuery, JsonObject, PostMessage};

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
#[serde(rename_all = "camelCase")]
pub struct RoomCreated {
    /// Always true.
    pub ok: bool,
    /// The room.
    #[schema(value_type = RoomSchema)]
    pub room: Room,
    /// The room's owner key, shown only here: a session that joins with it owns the room.
    #[schema(example = "V1StGXR8_Z5jdHi6B-myTV1StGXR8_Z5")]
    pub owner_key: String,
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

/// `GET /api/admin/overview`: what every live node says about itself.
#[derive(Serialize, ToSchema)]
pub struct Overview {
    /// Always true.
    pub ok: bool,
    /// The node that answered.
    pub node: String,
    /// Seconds between two records of a node (poll no faster than this).
    pub interval: f64,
    /// Every node that sent a record within three intervals, sorted by id.
    pub nodes: Vec<chat_actors::stats::NodeStats>,
    /// The busiest rooms across the nodes, busiest first (at most 20).
    pub rooms: Vec<chat_actors::stats::ClusterRoomRate>,
}

/// `POST /api/admin/nodes/{node}/drain` and `/resume`: the node was told.
#[derive(Serialize, ToSchema)]
pub struct NodeChanged {
    /// Always true.
    pub ok: bool,
    /// The node.
    pub node: String,
    /// The state it goes to.
    pub state: chat_actors::stats::NodeState,
}

/// `DELETE /api/admin/rooms/{code}`: the room is closed.
#[derive(Serialize, ToSchema)]
pub struct RoomClosed {
    /// Always true.
    pub ok: bool,
    /// Its code.
    #[schema(value_type = String, example = "K7QX2M")]
    pub code: RoomCode,
}
