//! What clients send, decoded and validated in one place: the WebSocket frames of
//! PROTOCOL.md and the REST bodies ([`rest`]). Server frames live in [`push`].
//!
//! Decoding reads the envelope (`event`, `ref`, `data`) without building a JSON tree, then
//! the one `data` shape that the event names. Failures carry the `ref` when one could be
//! read, so the session knows whether to answer with an ack or an `error` push. Then
//! [`ClientEvent::validate`] turns the client's strings into the checked values of
//! [`crate::ids`] under the node's [`Limits`]: the session, the REST handlers and the fuzz
//! targets all call these same validators, so a rule lives exactly once.

pub mod push;
pub mod rest;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::authors::{AuthorKey, OwnerKey};
use crate::changes::ChangeKind;
use crate::error::ChatError;
use crate::ids::{ClientId, Content, Emoji, MessageId, Nickname, RoomCode};
use crate::limits::Limits;
use crate::model::Seq;

/// Client event: create a room.
pub const ROOM_CREATE: &str = "room:create";
/// Client event: join a room (or rename, when already in it).
pub const ROOM_JOIN: &str = "room:join";
/// Client event: leave a room.
pub const ROOM_LEAVE: &str = "room:leave";
/// Client event: send a message.
pub const CHAT_SEND: &str = "chat:send";
/// Client event: typing state.
pub const TYPING: &str = "typing";
/// Client event: edit one's own message (Version 2).
pub const CHAT_EDIT: &str = "chat:edit";
/// Client event: delete a message, one's own or as the room's owner (Version 2).
pub const CHAT_DELETE: &str = "chat:delete";
/// Client event: react to a message (Version 2).
pub const REACTION_ADD: &str = "reaction:add";
/// Client event: take one's reaction back (Version 2).
pub const REACTION_REMOVE: &str = "reaction:remove";

/// A request's `ref`, echoed in its ack with the same JSON type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ref {
    /// An integer ref.
    Int(serde_json::Number),
    /// A string ref.
    Str(String),
}

/// One client frame, decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The ref to answer, if the client asked for an ack.
    pub reference: Option<Ref>,
    /// What the client asks for.
    pub event: ClientEvent,
}

/// The client events and their payloads, still as the client wrote them; values are
/// validated by the handlers that know the limits.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// `room:create`.
    CreateRoom,
    /// `room:join`.
    JoinRoom(JoinData),
    /// `room:leave`.
    LeaveRoom(LeaveData),
    /// `chat:send`.
    Send(SendData),
    /// `typing`.
    Typing(TypingData),
    /// `chat:edit`.
    Edit(EditData),
    /// `chat:delete`.
    Delete(MessageRef),
    /// `reaction:add` (`add`) or `reaction:remove`.
    React {
        /// The payload.
        data: ReactData,
        /// `reaction:add`.
        add: bool,
    },
}

/// Payload of `room:join`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinData {
    /// The room code, any case.
    pub code: String,
    /// The nickname to use in the room.
    pub nickname: String,
    /// Resume point: the highest message id the client has seen.
    #[serde(default)]
    pub since_id: Option<u64>,
    /// The client's author key (Version 2): its messages carry the derived author id.
    #[serde(default)]
    pub author_key: Option<String>,
    /// The room's owner key (Version 2): this session owns the room.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// Resume point of the room's change stream (with `since_id`).
    #[serde(default)]
    pub since_change: Option<u64>,
}

/// Payload of `room:leave`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct LeaveData {
    /// The room code, any case.
    pub code: String,
}

/// Payload of `chat:send`. A `sender` field is ignored: the sender is the joined nickname.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendData {
    /// The room code, any case.
    pub room_code: String,
    /// The message text.
    pub content: String,
    /// Idempotency key.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The message of the same room this one replies to (Version 2).
    #[serde(default)]
    pub reply_to: Option<u64>,
}

/// Payload of `typing`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingData {
    /// The room code, any case.
    pub room_code: String,
    /// Whether the member is typing now.
    pub typing: bool,
}

/// Payload of `chat:delete`: which message.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    /// The room code, any case.
    pub room_code: String,
    /// The message's id.
    pub id: u64,
}

/// Payload of `chat:edit`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditData {
    /// The room code, any case.
    pub room_code: String,
    /// The message's id.
    pub id: u64,
    /// The new content.
    pub content: String,
}

/// Payload of `reaction:add` and `reaction:remove`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactData {
    /// The room code, any case.
    pub room_code: String,
    /// The message's id.
    pub id: u64,
    /// One emoji.
    pub emoji: String,
}

/// A frame that could not be turned into a [`Request`].
#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The ref to answer with an ack, if the frame had a valid one and a failed ack is
    /// the right answer (precise rule 6: envelope-level faults are always pushes).
    pub reference: Option<Ref>,
    /// What was wrong.
    pub error: ChatError,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
    #[serde(default, rename = "ref", borrow, deserialize_with = "present")]
    reference: Option<&'a RawValue>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Keeps a field that is present, even as `null`, so that `"ref": null` is refused like
/// any other ref that is neither an integer nor a string.
fn present<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(deserializer).map(Some)
}

fn push_error(message: impl Into<String>) -> DecodeError {
    DecodeError {
        reference: None,
        error: ChatError::bad_request(message),
    }
}

fn parse_ref(raw: &RawValue) -> Result<Ref, DecodeError> {
    // Only a string or a number can be a ref: anything else is refused before it is built
    // (a large array or object would cost many times its size in memory).
    let first = raw.get().as_bytes().first().copied().unwrap_or(b' ');
    if !(first == b'"' || first == b'-' || first.is_ascii_digit()) {
        return Err(push_error("ref must be an integer or a string"));
    }
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Ref::Int(n)),
        Ok(serde_json::Value::String(s)) => Ok(Ref::Str(s)),
        _ => Err(push_error("ref must be an integer or a string")),
    }
}

fn parse_data<'a, T: Deserialize<'a>>(
    event: &str,
    data: Option<&'a RawValue>,
    reference: &Option<Ref>,
) -> Result<T, DecodeError> {
    let fail = |detail: String| DecodeError {
        reference: reference.clone(),
        error: ChatError::bad_request(format!("invalid data for {event}: {detail}")),
    };
    let raw = data.ok_or_else(|| fail("data is missing".into()))?;
    // serde would also read a struct from a JSON array, by position; `data` is an object.
    if !raw.get().starts_with('{') {
        return Err(fail("data must be a JSON object".into()));
    }
    serde_json::from_str(raw.get()).map_err(|e| fail(e.to_string()))
}

/// Decodes one text frame.
pub fn decode(frame: &str) -> Result<Request, DecodeError> {
    // serde would also accept a struct written as a JSON array; the protocol does not.
    if !frame.trim_start().starts_with('{') {
        return Err(push_error("a frame must be one JSON object"));
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(frame).map_err(|_| push_error("a frame must be one JSON object"))?;
    let reference = envelope.reference.map(parse_ref).transpose()?;
    let event: Option<String> = envelope
        .event
        .and_then(|raw| serde_json::from_str(raw.get()).ok());
    let Some(event) = event else {
        return Err(DecodeError {
            reference,
            error: ChatError::bad_request("event must be a string"),
        });
    };
    let event = match event.as_str() {
        ROOM_CREATE => ClientEvent::CreateRoom,
        ROOM_JOIN => ClientEvent::JoinRoom(parse_data(&event, envelope.data, &reference)?),
        ROOM_LEAVE => ClientEvent::LeaveRoom(parse_data(&event, envelope.data, &reference)?),
        CHAT_SEND => ClientEvent::Send(parse_data(&event, envelope.data, &reference)?),
        TYPING => ClientEvent::Typing(parse_data(&event, envelope.data, &reference)?),
        CHAT_EDIT => ClientEvent::Edit(parse_data(&event, envelope.data, &reference)?),
        CHAT_DELETE => ClientEvent::Delete(parse_data(&event, envelope.data, &reference)?),
        REACTION_ADD | REACTION_REMOVE => ClientEvent::React {
            data: parse_data(&event, envelope.data, &reference)?,
            add: event == REACTION_ADD,
        },
        other => {
            return Err(DecodeError {
                reference,
                error: ChatError::bad_request(format!("unknown event {other:?}")),
            })
        }
    };
    Ok(Request { reference, event })
}

/// A client request whose values passed every check; what the session acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `room:create`.
    CreateRoom,
    /// `room:join`.
    Join(JoinRoom),
    /// `room:leave`.
    Leave(RoomCode),
    /// `chat:send`.
    Send(SendChat),
    /// `typing`.
    Typing {
        /// The room.
        code: RoomCode,
        /// Whether the member is typing now.
        typing: bool,
    },
    /// `chat:edit`, `chat:delete`, `reaction:add`, `reaction:remove`.
    Change(ChangeRequest),
}

/// A valid change of a message: an edit, a deletion or a reaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    /// The room.
    pub code: RoomCode,
    /// The message.
    pub message_id: MessageId,
    /// What to do.
    pub kind: ChangeKind,
}

/// A valid `room:join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRoom {
    /// The room.
    pub code: RoomCode,
    /// The nickname to use in it.
    pub nickname: Nickname,
    /// Resume point.
    pub since_id: Option<MessageId>,
    /// Resume point of the change stream.
    pub since_change: Option<Seq>,
    /// The author key, if the client sent one.
    pub author_key: Option<AuthorKey>,
    /// The owner key, if the client sent one.
    pub owner_key: Option<OwnerKey>,
}

/// A valid message to send, from `chat:send` or `POST /api/messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendChat {
    /// The room.
    pub code: RoomCode,
    /// The trimmed content.
    pub content: Content,
    /// The idempotency key.
    pub client_id: Option<ClientId>,
    /// The message replied to (`None` over REST).
    pub reply_to: Option<MessageId>,
}

/// The content and idempotency key of a message, checked in that order; shared by
/// `chat:send` and `POST /api/messages`.
pub fn message_fields(
    content: &str,
    client_id: Option<&str>,
    limits: &Limits,
) -> Result<(Content, Option<ClientId>), ChatError> {
    let content = Content::parse(content, limits.content_max_chars)?;
    let client_id = client_id.map(ClientId::parse).transpose()?;
    Ok((content, client_id))
}

/// A nickname (or a REST `sender`) under the node's length limit.
pub fn nickname(input: &str, limits: &Limits) -> Result<Nickname, ChatError> {
    Nickname::parse(input, limits.nickname_max_chars)
}

impl ClientEvent {
    /// Checks every value of the event, in the order of its fields; the first failure is
    /// the answer.
    pub fn validate(self, limits: &Limits) -> Result<Command, ChatError> {
        match self {
            ClientEvent::CreateRoom => Ok(Command::CreateRoom),
            ClientEvent::JoinRoom(data) => data.validate(limits).map(Command::Join),
            ClientEvent::LeaveRoom(data) => RoomCode::parse(&data.code).map(Command::Leave),
            ClientEvent::Send(data) => data.validate(limits).map(Command::Send),
            ClientEvent::Typing(data) => {
                RoomCode::parse(&data.room_code).map(|code| Command::Typing {
                    code,
                    typing: data.typing,
                })
            }
            ClientEvent::Edit(data) => {
                let (code, message_id) = target(&data.room_code, data.id)?;
                let content = Content::parse(&data.content, limits.content_max_chars)?;
                Ok(Command::Change(ChangeRequest {
                    code,
                    message_id,
                    kind: ChangeKind::Edit(content),
                }))
            }
            ClientEvent::Delete(data) => {
                let (code, message_id) = target(&data.room_code, data.id)?;
                Ok(Command::Change(ChangeRequest {
                    code,
                    message_id,
                    kind: ChangeKind::Delete,
                }))
            }
            ClientEvent::React { data, add } => {
                let (code, message_id) = target(&data.room_code, data.id)?;
                let emoji = Emoji::parse(&data.emoji)?;
                Ok(Command::Change(ChangeRequest {
                    code,
                    message_id,
                    kind: ChangeKind::React { emoji, add },
                }))
            }
        }
    }
}

/// The room and the message a change names, in that order.
fn target(room_code: &str, id: u64) -> Result<(RoomCode, MessageId), ChatError> {
    let code = RoomCode::parse(room_code)?;
    Ok((code, message_id(id, "id")?))
}

/// A message id as a client names one: a positive integer up to 2^63 - 1.
pub fn message_id(id: u64, field: &str) -> Result<MessageId, ChatError> {
    MessageId::try_from(id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ChatError::bad_request(format!("{field} is not a message id")))
}

impl JoinData {
    /// The room code, the nickname, the resume point, then the keys.
    pub fn validate(&self, limits: &Limits) -> Result<JoinRoom, ChatError> {
        let code = RoomCode::parse(&self.code)?;
        let nickname = nickname(&self.nickname, limits)?;
        let since_id = self
            .since_id
            .map(MessageId::try_from)
            .transpose()
            .map_err(|_| ChatError::bad_request("sinceId is too large"))?;
        let since_change = self
            .since_change
            .map(Seq::try_from)
            .transpose()
            .map_err(|_| ChatError::bad_request("sinceChange is too large"))?;
        let author_key = self
            .author_key
            .as_deref()
            .map(AuthorKey::parse)
            .transpose()?;
        let owner_key = self.owner_key.as_deref().map(OwnerKey::parse).transpose()?;
        Ok(JoinRoom {
            code,
            nickname,
            since_id,
            since_change,
            author_key,
            owner_key,
        })
    }
}

impl SendData {
    /// The room code, the content, the idempotency key, then the message replied to
    /// (whether it is one of the room's is the commit's to say).
    pub fn validate(&self, limits: &Limits) -> Result<SendChat, ChatError> {
        let code = RoomCode::parse(&self.room_code)?;
        let (content, client_id) =
            message_fields(&self.content, self.client_id.as_deref(), limits)?;
        let reply_to = self
            .reply_to
            .map(|id| message_id(id, "replyTo"))
            .transpose()?;
        Ok(SendChat {
            code,
            content,
            client_id,
            reply_to,
        })
    }
}

/// The error of a frame larger than `--frame-max` (it is not parsed at all).
pub fn frame_too_large(limits: &Limits) -> ChatError {
    ChatError::too_large(format!(
        "frame is larger than {} bytes",
        limits.frame_max_bytes
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn bad(frame: &str) -> DecodeError {
        decode(frame).unwrap_err()
    }

    #[test]
    fn decodes_each_event() {
        let join = decode(r#"{"event":"room:join","ref":7,"data":{"code":"k7qx2m","nickname":"ada","sinceId":3}}"#).unwrap();
        assert_eq!(join.reference, Some(Ref::Int(7.into())));
        assert_eq!(
            join.event,
            ClientEvent::JoinRoom(JoinData {
                code: "k7qx2m".into(),
                nickname: "ada".into(),
                since_id: Some(3),
                author_key: None,
                owner_key: None,
                since_change: None,
            })
        );
        assert_eq!(
            decode(r#"{"event":"room:create"}"#).unwrap().event,
            ClientEvent::CreateRoom
        );
        let send = decode(r#"{"event":"chat:send","ref":"a","data":{"roomCode":"K7QX2M","content":"hi","sender":"mallory"}}"#).unwrap();
        assert_eq!(send.reference, Some(Ref::Str("a".into())));
        assert!(matches!(
            send.event,
            ClientEvent::Send(SendData {
                client_id: None,
                ..
            })
        ));
        assert!(matches!(
            decode(r#"{"event":"typing","data":{"roomCode":"K7QX2M","typing":true}}"#)
                .unwrap()
                .event,
            ClientEvent::Typing(TypingData { typing: true, .. })
        ));
    }

    #[test]
    fn envelope_faults_are_pushes() {
        for frame in [
            "not json",
            "[1,2]",
            "42",
            "\"x\"",
            r#"{"event":"room:create","ref":1.5}"#,
            r#"{"event":"room:create","ref":{}}"#,
            r#"{"event":"room:create","ref":true}"#,
        ] {
            let err = bad(frame);
            assert_eq!(err.reference, None, "{frame}");
            assert_eq!(err.error.code, ErrorCode::BadRequest);
        }
    }

    #[test]
    fn event_faults_are_acked_when_a_ref_exists() {
        let err = bad(r#"{"event":"room:nuke","ref":3}"#);
        assert_eq!(err.reference, Some(Ref::Int(3.into())));
        let err = bad(r#"{"event":"room:join","ref":"r","data":{"code":5,"nickname":"x"}}"#);
        assert_eq!(err.reference, Some(Ref::Str("r".into())));
        assert_eq!(err.error.code, ErrorCode::BadRequest);
        for frame in [
            r#"{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":-1}}"#,
            r#"{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":"5"}}"#,
            r#"{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":1.5}}"#,
            r#"{"event":"chat:send","ref":1}"#,
            r#"{"event":"room:leave","ref":1,"data":["K7QX2M"]}"#,
            r#"{"event":"room:join","ref":1,"data":["K7QX2M","ada",5]}"#,
            r#"{"event":7,"ref":1}"#,
            r#"{"ref":1}"#,
        ] {
            let err = bad(frame);
            assert_eq!(err.reference, Some(Ref::Int(1.into())), "{frame}");
            assert_eq!(err.error.code, ErrorCode::BadRequest, "{frame}");
        }
    }

    fn command(frame: &str) -> Result<Command, ChatError> {
        decode(frame).unwrap().event.validate(&Limits::default())
    }

    #[test]
    fn validation_checks_each_field_in_order() {
        let join = command(
            r#"{"event":"room:join","data":{"code":"k7qx2m","nickname":" ada ","sinceId":3}}"#,
        )
        .unwrap();
        let Command::Join(join) = join else {
            panic!("a join")
        };
        assert_eq!(
            (join.code.as_str(), join.nickname.as_str(), join.since_id),
            ("K7QX2M", "ada", Some(3))
        );
        // A code that cannot exist is reported before a bad nickname.
        let error =
            command(r#"{"event":"room:join","data":{"code":"K7QX2I","nickname":""}}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotFound);
        let error =
            command(r#"{"event":"room:join","data":{"code":"K7QX2M","nickname":"a\u0007"}}"#)
                .unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest);
        let huge = format!(
            r#"{{"event":"room:join","data":{{"code":"K7QX2M","nickname":"a","sinceId":{}}}}}"#,
            u64::MAX
        );
        assert_eq!(command(&huge).unwrap_err().message, "sinceId is too large");
        // Content before the client id.
        let error = command(
            r#"{"event":"chat:send","data":{"roomCode":"K7QX2M","content":"  ","clientId":""}}"#,
        )
        .unwrap_err();
        assert_eq!(error.message, "content is empty");
        let long = "x".repeat(2001);
        let frame =
            format!(r#"{{"event":"chat:send","data":{{"roomCode":"K7QX2M","content":"{long}"}}}}"#);
        assert_eq!(command(&frame).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(
            command(r#"{"event":"typing","data":{"roomCode":"k7qx2m","typing":true}}"#).unwrap(),
            Command::Typing {
                code: RoomCode::parse("K7QX2M").unwrap(),
                typing: true
            }
        );
        assert!(matches!(
            command(r#"{"event":"room:leave","data":{"code":"K7QX2M"}}"#),
            Ok(Command::Leave(_))
        ));
    }

    #[test]
    fn changes_check_the_room_then_the_id_then_their_value() {
        let code = RoomCode::parse("K7QX2M").unwrap();
        assert_eq!(
            command(
                r#"{"event":"chat:edit","data":{"roomCode":"k7qx2m","id":9,"content":" new "}}"#
            )
            .unwrap(),
            Command::Change(ChangeRequest {
                code,
                message_id: 9,
                kind: ChangeKind::Edit(Content::parse("new", 10).unwrap()),
            })
        );
        assert!(matches!(
            command(
                r#"{"event":"reaction:remove","data":{"roomCode":"K7QX2M","id":9,"emoji":"👍"}}"#
            ),
            Ok(Command::Change(ChangeRequest {
                kind: ChangeKind::React { add: false, .. },
                ..
            }))
        ));
        assert!(matches!(
            command(r#"{"event":"chat:delete","data":{"roomCode":"K7QX2M","id":9}}"#),
            Ok(Command::Change(ChangeRequest {
                kind: ChangeKind::Delete,
                ..
            }))
        ));
        let refused = [
            (
                r#"{"event":"chat:delete","data":{"roomCode":"nope","id":0}}"#,
                ErrorCode::NotFound,
            ),
            (
                r#"{"event":"chat:delete","data":{"roomCode":"K7QX2M","id":0}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"chat:delete","data":{"roomCode":"K7QX2M","id":-3}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"chat:delete","data":{"roomCode":"K7QX2M","id":"9"}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"chat:delete","data":{"roomCode":"K7QX2M"}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"chat:edit","data":{"roomCode":"K7QX2M","id":9,"content":"  "}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"reaction:add","data":{"roomCode":"K7QX2M","id":9,"emoji":"lol"}}"#,
                ErrorCode::BadRequest,
            ),
            (
                r#"{"event":"reaction:add","data":{"roomCode":"K7QX2M","id":9,"emoji":"👍👍"}}"#,
                ErrorCode::BadRequest,
            ),
        ];
        for (frame, code) in refused {
            let error = match decode(frame) {
                Ok(request) => request.event.validate(&Limits::default()).unwrap_err(),
                Err(fault) => fault.error,
            };
            assert_eq!(error.code, code, "{frame}");
        }
        let long = "x".repeat(2001);
        let frame = format!(
            r#"{{"event":"chat:edit","data":{{"roomCode":"K7QX2M","id":9,"content":"{long}"}}}}"#
        );
        assert_eq!(command(&frame).unwrap_err().code, ErrorCode::TooLarge);
        let resume = r#"{"event":"room:join","data":{"code":"K7QX2M","nickname":"a","sinceId":4,"sinceChange":12}}"#;
        assert!(matches!(
            command(resume),
            Ok(Command::Join(JoinRoom {
                since_id: Some(4),
                since_change: Some(12),
                ..
            }))
        ));
    }
}
