//! Every frame the server writes: acks, pushes and their event names, encoded once.
//!
//! A push is encoded here into a [`ByteString`] that every recipient shares; nothing else
//! in the node spells an event name or builds a server frame.

use bytestring::ByteString;
use serde::Serialize;

use crate::error::ChatError;
use crate::ids::{Nickname, RoomCode};
use crate::model::{Member, Message, Room, Seq};

use super::Ref;

/// Event name of every ack.
pub const ACK: &str = "ack";
/// Push: a committed message.
pub const CHAT_MESSAGE: &str = "chat:message";
/// Push: a message's new state after an edit, deletion or reaction (Version 2).
pub const CHAT_UPDATE: &str = "chat:update";
/// Push: who is in a room, after a change.
pub const PRESENCE: &str = "presence";
/// Push: a member started or stopped typing.
pub const TYPING: &str = "typing";
/// Push: a failure of a frame that carried no ref.
pub const ERROR: &str = "error";
/// Push: the client should reconnect (the connection closes with 1012 next).
pub const RECONNECT: &str = "reconnect";

/// A successful ack.
#[derive(Serialize)]
struct AckOk<'a, T: Serialize> {
    event: &'static str,
    #[serde(rename = "ref")]
    reference: &'a Ref,
    ok: bool,
    data: T,
}

/// A failed ack.
#[derive(Serialize)]
struct AckErr<'a> {
    event: &'static str,
    #[serde(rename = "ref")]
    reference: &'a Ref,
    ok: bool,
    error: &'a ChatError,
}

/// A server push.
#[derive(Serialize)]
struct Push<'a, T: Serialize> {
    event: &'a str,
    data: T,
}

fn to_frame<T: Serialize>(value: &T) -> ByteString {
    match serde_json::to_string(value) {
        Ok(text) => ByteString::from(text),
        // Our own types always serialize; if one ever does not, say so instead of
        // sending a broken frame.
        Err(e) => ByteString::from(format!(
            r#"{{"event":"error","data":{{"code":"internal","message":"encoding failed: {}"}}}}"#,
            e.to_string().replace('"', "'")
        )),
    }
}

/// Encodes `{"event":"ack","ref":..,"ok":true,"data":..}`.
pub fn ack_ok<T: Serialize>(reference: &Ref, data: T) -> ByteString {
    to_frame(&AckOk {
        event: ACK,
        reference,
        ok: true,
        data,
    })
}

/// Encodes `{"event":"ack","ref":..,"ok":false,"error":..}`.
pub fn ack_err(reference: &Ref, error: &ChatError) -> ByteString {
    to_frame(&AckErr {
        event: ACK,
        reference,
        ok: false,
        error,
    })
}

fn push<T: Serialize>(event: &str, data: T) -> ByteString {
    to_frame(&Push { event, data })
}

/// Encodes the `error` push for a frame without a ref.
pub fn error(error: &ChatError) -> ByteString {
    push(ERROR, error)
}

/// Encodes the `chat:message` push of a committed message.
pub fn message(message: &Message) -> ByteString {
    push(CHAT_MESSAGE, message)
}

/// Encodes the `chat:update` push of a changed message.
pub fn update(message: &Message) -> ByteString {
    push(CHAT_UPDATE, message)
}

/// `presence` push data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence<'a> {
    /// The room.
    pub room_code: RoomCode,
    /// Members on every node.
    pub count: usize,
    /// Who joined (or the new name of a rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<&'a Nickname>,
    /// Who left (or the old name of a rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<&'a Nickname>,
    /// Everyone, while the room is small enough to list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

/// Encodes a `presence` push.
pub fn presence(data: Presence<'_>) -> ByteString {
    push(PRESENCE, data)
}

/// `typing` push data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypingPush<'a> {
    room_code: RoomCode,
    nickname: &'a Nickname,
    typing: bool,
}

/// Encodes a `typing` push.
pub fn typing(room_code: RoomCode, nickname: &Nickname, typing: bool) -> ByteString {
    push(
        TYPING,
        TypingPush {
            room_code,
            nickname,
            typing,
        },
    )
}

/// `reconnect` push data.
#[derive(Serialize)]
struct ReconnectPush<'a> {
    reason: &'a str,
}

/// Encodes a `reconnect` push.
pub fn reconnect(reason: &str) -> ByteString {
    push(RECONNECT, ReconnectPush { reason })
}

/// Ack data of `room:create`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedRoom<'a> {
    /// The new room.
    pub room: &'a Room,
    /// The room's owner key, shown only here (PROTOCOL.md v2).
    pub owner_key: &'a str,
}

/// Ack data of `room:join`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// The room joined.
    pub room: Room,
    /// Everyone in the room now, this session included.
    pub members: Vec<Member>,
    /// Messages after `sinceId`, ascending.
    pub missed: Vec<Message>,
    /// Whether more messages were missed than `missed` holds.
    pub has_more: bool,
    /// Whether this session joined with the room's owner key.
    pub owner: bool,
    /// The room's change-stream position this ack is complete up to: every later message
    /// and change reaches the member as a push. The resume cursor starts here.
    pub seq: Seq,
    /// With `sinceId` and `sinceChange`: the current state of each message up to `sinceId`
    /// changed after `sinceChange`, ascending by seq.
    pub changes: Vec<Message>,
    /// More changes qualified than `changes` holds: reload the room's history.
    pub changes_has_more: bool,
}

/// Ack data of `chat:send`, `chat:edit`, `chat:delete` and the reactions.
#[derive(Serialize)]
pub struct Sent<'a> {
    /// The committed (or original, or current) message.
    pub message: &'a Message,
}

/// An empty JSON object, the ack data of `room:leave` and `typing`.
#[derive(Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_echo_the_ref_type() {
        let int = ack_ok(&Ref::Int(7.into()), Empty {});
        assert_eq!(&*int, r#"{"event":"ack","ref":7,"ok":true,"data":{}}"#);
        let s = ack_err(&Ref::Str("7".into()), &ChatError::room_not_found());
        assert_eq!(
            &*s,
            r#"{"event":"ack","ref":"7","ok":false,"error":{"code":"not_found","message":"no such room"}}"#
        );
    }
}
