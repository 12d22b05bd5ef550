//! The WebSocket frames of PROTOCOL.md: decoding client frames into typed requests once,
//! and encoding server frames.
//!
//! Decoding reads the envelope (`event`, `ref`, `data`) without building a JSON tree, then
//! the one `data` shape that the event names. Failures carry the `ref` when one could be
//! read, so the session knows whether to answer with an ack or an `error` push.

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::ChatError;
use crate::model::{Member, Message, Room};

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
        "room:create" => ClientEvent::CreateRoom,
        "room:join" => ClientEvent::JoinRoom(parse_data(&event, envelope.data, &reference)?),
        "room:leave" => ClientEvent::LeaveRoom(parse_data(&event, envelope.data, &reference)?),
        "chat:send" => ClientEvent::Send(parse_data(&event, envelope.data, &reference)?),
        "typing" => ClientEvent::Typing(parse_data(&event, envelope.data, &reference)?),
        other => {
            return Err(DecodeError {
                reference,
                error: ChatError::bad_request(format!("unknown event {other:?}")),
            })
        }
    };
    Ok(Request { reference, event })
}

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
        event: "ack",
        reference,
        ok: true,
        data,
    })
}

/// Encodes `{"event":"ack","ref":..,"ok":false,"error":..}`.
pub fn ack_err(reference: &Ref, error: &ChatError) -> ByteString {
    to_frame(&AckErr {
        event: "ack",
        reference,
        ok: false,
        error,
    })
}

/// Encodes a push `{"event": event, "data": data}`.
pub fn push<T: Serialize>(event: &str, data: T) -> ByteString {
    to_frame(&Push { event, data })
}

/// Encodes the `error` push for a frame without a ref.
pub fn error_push(error: &ChatError) -> ByteString {
    push("error", error)
}

/// Ack data of `room:create`.
#[derive(Serialize)]
pub struct CreatedRoom<'a> {
    /// The new room.
    pub room: &'a Room,
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
}

/// Ack data of `chat:send`.
#[derive(Serialize)]
pub struct Sent<'a> {
    /// The committed (or original) message.
    pub message: &'a Message,
}

/// An empty JSON object, the ack data of `room:leave` and `typing`.
#[derive(Serialize)]
pub struct Empty {}

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
                since_id: Some(3)
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
