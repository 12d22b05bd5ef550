//! Fuzzes the WebSocket frame decoder as the session uses it (actors/src/session.rs,
//! `handle_text` and `handle_request`): the size check, `protocol::decode`, the session's own
//! validator `ClientEvent::validate` on whatever decoded, and the encoding of the ack or
//! `error` push (`protocol::push`) that the session would answer with.
//!
//! Beyond "no panic", it checks:
//! - the answer frame is a JSON object that carries the error as built and echoes the `ref`
//!   with the same JSON type (so the encoder never falls back to its "encoding failed" frame);
//! - a frame that is valid JSON but not an object, or whose `ref` is neither an integer nor a
//!   string, is an `error` push (no ref), as docs/protocol.md says;
//! - a frame that decodes agrees with a plain `serde_json::Value` reading of the same text
//!   (event name, ref, and every data field);
//! - while the session's steps run, the heap never grows by more than a linear bound of the
//!   frame's length (common/mod.rs).
#![no_main]

mod common;

use chat_actors::protocol::push::{self, Empty};
use chat_actors::protocol::{self, ClientEvent, Ref, Request};
use chat_actors::{ChatError, Limits};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use common::{assert_error_value, parse_object, within_allocation_bound, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let len = data.len();
    match std::str::from_utf8(data) {
        Ok(text) => {
            within_allocation_bound(len, "session", || session_text_frame(text, &limits));
            // `--frame-max` may be raised up to the hard cap, so the decoder must also
            // hold on frames that the default limit turns away unparsed.
            if text.len() > limits.frame_max_bytes {
                within_allocation_bound(len, "decode", || decode_and_validate(text, &limits));
            }
            // Outside the allocation bound: the reference reading builds a whole `Value`.
            check_against_value(text, &protocol::decode(text));
        }
        // The session never decodes these (the WebSocket layer closes the connection on
        // invalid UTF-8); the replacement-character version still tests the decoder.
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            within_allocation_bound(len, "decode", || decode_and_validate(&text, &limits));
        }
    }
});

/// What the session does with one text frame, up to the point where it would ask a room.
fn session_text_frame(text: &str, limits: &Limits) {
    if text.len() > limits.frame_max_bytes {
        return respond(None, Err(protocol::frame_too_large(limits)));
    }
    decode_and_validate(text, limits);
}

fn decode_and_validate(text: &str, limits: &Limits) {
    match protocol::decode(text) {
        Ok(request) => validate(request, limits),
        Err(fault) => respond(fault.reference.as_ref(), Err(fault.error)),
    }
}

/// `WsSession::handle_request`'s validation: the very validator the session calls.
fn validate(request: Request, limits: &Limits) {
    let Request { reference, event } = request;
    let result = event.validate(limits).map(|_| ());
    respond(reference.as_ref(), result);
}

/// `WsSession::respond`, with `{}` standing for the data of a success, and a check of the
/// frame it encodes.
fn respond(reference: Option<&Ref>, result: Result<(), ChatError>) {
    match (reference, result) {
        (Some(reference), Ok(())) => {
            let frame = push::ack_ok(reference, Empty {});
            let map = parse_object(frame.as_bytes(), "ok ack");
            assert_eq!(map.get("event"), Some(&Value::from("ack")));
            assert_eq!(map.get("ok"), Some(&Value::Bool(true)));
            assert_eq!(map.get("ref"), Some(&ref_value(reference)), "ok ack ref");
        }
        (Some(reference), Err(error)) => {
            let frame = push::ack_err(reference, &error);
            let map = parse_object(frame.as_bytes(), "failed ack");
            assert_eq!(map.get("event"), Some(&Value::from("ack")));
            assert_eq!(map.get("ok"), Some(&Value::Bool(false)));
            assert_eq!(
                map.get("ref"),
                Some(&ref_value(reference)),
                "failed ack ref"
            );
            assert_error_value(map.get("error"), &error, "failed ack");
        }
        (None, Ok(())) => {}
        (None, Err(error)) => {
            let frame = push::error(&error);
            let map = parse_object(frame.as_bytes(), "error push");
            assert_eq!(map.get("event"), Some(&Value::from("error")));
            assert_error_value(map.get("data"), &error, "error push");
        }
    }
}

fn ref_value(reference: &Ref) -> Value {
    match reference {
        Ref::Int(n) => Value::Number(n.clone()),
        Ref::Str(s) => Value::String(s.clone()),
    }
}

/// Compares the decoder with a plain reading of the frame as a `serde_json::Value`.
///
/// Only where the plain reading succeeds: the decoder skips the fields it ignores without
/// building them, so it accepts some frames (a lone UTF-16 surrogate escape in an unknown
/// field, say) that a full `Value` refuses; and it refuses duplicate keys, which `Value`
/// quietly resolves to the last one.
fn check_against_value(text: &str, decoded: &Result<Request, protocol::DecodeError>) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Value::Object(envelope) = value else {
        // docs/protocol.md: not a JSON object -> `error` push, even if a ref could be read.
        match decoded {
            Err(fault) => assert_eq!(fault.reference, None, "non-object frame acked"),
            Ok(request) => panic!("a frame that is not an object decoded: {request:?}"),
        }
        return;
    };
    let ref_ok = match envelope.get("ref") {
        None => true,
        Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(_) => false,
    };
    if !ref_ok {
        // A ref that is neither an integer nor a string -> `error` push, no ack.
        match decoded {
            Err(fault) => assert_eq!(fault.reference, None, "bad ref acked"),
            Ok(request) => panic!("a frame with a bad ref decoded: {request:?}"),
        }
        return;
    }
    let request = match decoded {
        Ok(request) => request,
        Err(fault) => {
            // The fault's ref, if any, must be the frame's own.
            if let Some(reference) = &fault.reference {
                assert_eq!(
                    envelope.get("ref"),
                    Some(&ref_value(reference)),
                    "fault ref"
                );
            }
            return;
        }
    };
    match &request.reference {
        Some(reference) => assert_eq!(envelope.get("ref"), Some(&ref_value(reference))),
        None => assert_eq!(envelope.get("ref"), None, "ref dropped"),
    }
    let name = match &request.event {
        ClientEvent::CreateRoom => "room:create",
        ClientEvent::JoinRoom(_) => "room:join",
        ClientEvent::LeaveRoom(_) => "room:leave",
        ClientEvent::Send(_) => "chat:send",
        ClientEvent::Typing(_) => "typing",
        ClientEvent::Edit(_) => "chat:edit",
        ClientEvent::Delete(_) => "chat:delete",
        ClientEvent::React { add: true, .. } => "reaction:add",
        ClientEvent::React { add: false, .. } => "reaction:remove",
    };
    assert_eq!(
        envelope.get("event"),
        Some(&Value::from(name)),
        "event name"
    );
    // serde reads a struct from a JSON array too, by position, and the decoder guards only
    // the envelope against that: `"data": ["K7QX2M"]` is a `room:leave` of K7QX2M. So a
    // field is looked up by name in an object and by its declaration order in an array.
    let data = envelope.get("data");
    let field = |key: &str, position: usize| {
        match data {
            Some(Value::Object(map)) => map.get(key),
            Some(Value::Array(items)) => items.get(position),
            _ => None,
        }
        .filter(|v| !v.is_null())
    };
    match &request.event {
        ClientEvent::CreateRoom => {}
        ClientEvent::JoinRoom(join) => {
            assert_eq!(field("code", 0), Some(&Value::from(join.code.as_str())));
            assert_eq!(
                field("nickname", 1),
                Some(&Value::from(join.nickname.as_str()))
            );
            assert_eq!(field("sinceId", 2), join.since_id.map(Value::from).as_ref());
            assert_eq!(
                field("sinceChange", 5),
                join.since_change.map(Value::from).as_ref()
            );
        }
        ClientEvent::LeaveRoom(leave) => {
            assert_eq!(field("code", 0), Some(&Value::from(leave.code.as_str())));
        }
        ClientEvent::Send(send) => {
            assert_eq!(
                field("roomCode", 0),
                Some(&Value::from(send.room_code.as_str()))
            );
            assert_eq!(
                field("content", 1),
                Some(&Value::from(send.content.as_str()))
            );
            assert_eq!(
                field("clientId", 2),
                send.client_id.as_deref().map(Value::from).as_ref()
            );
        }
        ClientEvent::Typing(typing) => {
            assert_eq!(
                field("roomCode", 0),
                Some(&Value::from(typing.room_code.as_str()))
            );
            assert_eq!(field("typing", 1), Some(&Value::Bool(typing.typing)));
        }
        ClientEvent::Edit(edit) => {
            assert_eq!(
                field("roomCode", 0),
                Some(&Value::from(edit.room_code.as_str()))
            );
            assert_eq!(field("id", 1), Some(&Value::from(edit.id)));
            assert_eq!(
                field("content", 2),
                Some(&Value::from(edit.content.as_str()))
            );
        }
        ClientEvent::Delete(target) => {
            assert_eq!(
                field("roomCode", 0),
                Some(&Value::from(target.room_code.as_str()))
            );
            assert_eq!(field("id", 1), Some(&Value::from(target.id)));
        }
        ClientEvent::React { data, .. } => {
            assert_eq!(
                field("roomCode", 0),
                Some(&Value::from(data.room_code.as_str()))
            );
            assert_eq!(field("id", 1), Some(&Value::from(data.id)));
            assert_eq!(field("emoji", 2), Some(&Value::from(data.emoji.as_str())));
        }
    }
}
