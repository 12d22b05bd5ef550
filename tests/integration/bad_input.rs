//! Bad input: every malformed frame gets its error, the connection stays usable, other
//! sessions are unaffected, and nothing is stored.

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::*;

async fn error_push(client: &mut Client) -> Value {
    let frame = client.next_event("error").await;
    assert!(frame["data"]["message"].is_string(), "{frame}");
    frame
}

/// After a bad frame, the session still works: it can send and be answered.
async fn still_works(client: &mut Client, code: &str) {
    let ack = client.say(code, "still here").await;
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test]
async fn envelope_faults_get_error_pushes() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut client = api.joined(&code, "ada").await;
    let mut other = api.joined(&code, "bob").await;
    for frame in [
        "not json at all",
        "[\"room:join\"]",
        "42",
        "{\"event\": \"room:create\", \"ref\": 1.5}",
        "{\"event\": \"room:create\", \"ref\": true}",
        "{\"event\": \"room:create\", \"ref\": {\"a\": 1}}",
        "{\"event\": \"room:nuke\"}",
        "{\"event\": \"chat:send\", \"data\": {\"roomCode\": 5}}",
    ] {
        client.send_text(frame).await;
        let error = error_push(&mut client).await;
        assert_eq!(error["data"]["code"], "bad_request", "{frame}: {error}");
    }
    client.send_frame(WsMessage::binary(vec![1u8, 2, 3])).await;
    assert_eq!(error_push(&mut client).await["data"]["code"], "bad_request");
    still_works(&mut client, &code).await;
    // The other session saw only the one good message.
    let push = other.next_event("chat:message").await;
    assert_eq!(push["data"]["content"], "still here");
    assert_eq!(api.all_messages(&code).await.len(), 1);
}

#[tokio::test]
async fn faults_with_a_ref_are_acked_with_the_same_ref_type() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut client = api.joined(&code, "ada").await;
    client
        .send_text(r#"{"event":"room:nuke","ref":"abc"}"#)
        .await;
    let ack = client.next_event("ack").await;
    assert_eq!(
        ack,
        json!({"event": "ack", "ref": "abc", "ok": false, "error": ack["error"].clone()})
    );
    assert_eq!(ack["error"]["code"], "bad_request");
    client
        .send_text(r#"{"event":"chat:send","ref":9,"data":{"roomCode":"ZZZZZZ"}}"#)
        .await;
    let ack = client.next_event("ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["error"]["code"].clone()),
        (json!(9), json!("bad_request"))
    );
    client
        .send_text(r#"{"event":"room:create","ref":"s1"}"#)
        .await;
    let ack = client.next_event("ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["ok"].clone()),
        (json!("s1"), json!(true))
    );
    assert_eq!(ack["data"]["room"]["code"].as_str().map(str::len), Some(6));
    still_works(&mut client, &code).await;
}

#[tokio::test]
async fn field_faults_get_their_codes() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut client = api.joined(&code, "ada").await;
    let cases = [
        (
            "room:join",
            json!({"code": code, "nickname": "a\u{1b}[31m"}),
            "bad_request",
        ),
        (
            "room:join",
            json!({"code": code, "nickname": "   "}),
            "bad_request",
        ),
        (
            "room:join",
            json!({"code": code, "nickname": "n".repeat(33)}),
            "too_large",
        ),
        ("room:join", json!({"code": code}), "bad_request"),
        (
            "room:join",
            json!({"code": "ZZZZZZ", "nickname": "x"}),
            "not_found",
        ),
        (
            "chat:send",
            json!({"roomCode": code, "content": ""}),
            "bad_request",
        ),
        (
            "chat:send",
            json!({"roomCode": code, "content": " \n\t "}),
            "bad_request",
        ),
        (
            "chat:send",
            json!({"roomCode": code, "content": "x".repeat(2001)}),
            "too_large",
        ),
        (
            "chat:send",
            json!({"roomCode": code, "content": ["x"]}),
            "bad_request",
        ),
        (
            "chat:send",
            json!({"roomCode": "ZZZZZZ", "content": "x"}),
            "not_in_room",
        ),
        (
            "chat:send",
            json!({"roomCode": "1", "content": "x"}),
            "not_found",
        ),
        ("room:leave", json!({}), "bad_request"),
        ("typing", json!({"roomCode": code}), "bad_request"),
    ];
    for (event, data, code_expected) in cases {
        let ack = client.request(event, data.clone()).await;
        assert_eq!(ack["ok"], false, "{event} {data}");
        assert_eq!(ack["error"]["code"], code_expected, "{event} {data}: {ack}");
    }
    // `data` may be left out for room:create.
    let ack = client.request("room:create", Value::Null).await;
    assert_eq!(ack["ok"], true, "{ack}");
    still_works(&mut client, &code).await;
    assert_eq!(api.all_messages(&code).await.len(), 1);
}

#[tokio::test]
async fn oversized_frames_are_refused_and_giant_ones_close() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("frame-hard-cap", "65536")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut client = api.joined(&code, "ada").await;
    let big = json!({"event": "chat:send", "ref": 1, "data": {"roomCode": code, "content": "x".repeat(17 * 1024)}});
    client.send_text(&big.to_string()).await;
    let error = error_push(&mut client).await;
    assert_eq!(error["data"]["code"], "too_large");
    still_works(&mut client, &code).await;
    // Over the hard cap the connection is closed with 1009; other sessions are fine.
    let mut bystander = api.joined(&code, "bob").await;
    client.send_text(&"y".repeat(100 * 1024)).await;
    assert_eq!(client.closed().await, Some(CloseCode::Size));
    still_works(&mut bystander, &code).await;
}

#[tokio::test]
async fn fragmented_frames_are_reassembled() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut client = api.joined(&code, "ada").await;
    let text = json!({"event": "chat:send", "ref": 77, "data": {"roomCode": code, "content": "in pieces"}}).to_string();
    let (a, b) = text.split_at(10);
    let first = Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false);
    let last_header = FrameHeader {
        opcode: OpCode::Data(Data::Continue),
        is_final: true,
        ..FrameHeader::default()
    };
    let last = Frame::from_payload(last_header, b.as_bytes().to_vec().into());
    client.send_frame(WsMessage::Frame(first)).await;
    client.send_frame(WsMessage::Frame(last)).await;
    let ack = client.ack(77).await;
    assert_eq!(ack["data"]["message"]["content"], "in pieces", "{ack}");
}
