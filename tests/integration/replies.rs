//! Replies (PROTOCOL.md, "Version 2: replies, edits, deletions, reactions"): `replyTo` names a
//! message of the same room; the reply is pushed and stored with it; anything else is refused
//! without storing; a reply keeps its place among its sender's messages.

use serde_json::{json, Value};

use crate::support::*;

async fn reply(client: &mut Client, code: &str, content: &str, to: Value) -> Value {
    client
        .request(
            "chat:send",
            json!({"roomCode": code, "content": content, "replyTo": to}),
        )
        .await
}

on_both_stores! {
    async fn replies_point_to_a_message_of_their_room(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let (code, other) = (api.create_room().await, api.create_room().await);
        let mut ada = api.joined(&code, "ada").await;
        let mut bob = api.joined(&code, "bob").await;
        let mut elsewhere = api.joined(&other, "cy").await;
        let original = ada.say(&code, "the original").await["data"]["message"].clone();
        assert_eq!(original["replyTo"], Value::Null);
        let foreign = elsewhere.say(&other, "another room").await["data"]["message"]["id"].clone();

        let ack = reply(&mut bob, &code, "a reply", original["id"].clone()).await;
        assert_eq!(ack["data"]["message"]["replyTo"], original["id"], "{ack}");
        let pushed = loop {
            let push = ada.next_event("chat:message").await;
            if push["data"]["content"] == "a reply" {
                break push;
            }
        };
        assert_eq!(pushed["data"]["replyTo"], original["id"]);

        // Refused, and nothing stored: another room's message, no message, not an id.
        for (to, code_expected) in [
            (foreign, "not_found"),
            (json!(999_999_999), "not_found"),
            (json!(0), "bad_request"),
            (json!(-3), "bad_request"),
            (json!("12"), "bad_request"),
        ] {
            let ack = reply(&mut bob, &code, "refused", to.clone()).await;
            assert_eq!(ack["error"]["code"], code_expected, "replyTo {to}: {ack}");
        }
        let history = api.history(&code, "").await;
        let stored: Vec<(String, Value)> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["content"].as_str().unwrap().to_owned(), m["replyTo"].clone()))
            .collect();
        assert_eq!(
            stored,
            [
                ("a reply".to_owned(), original["id"].clone()),
                ("the original".to_owned(), Value::Null)
            ]
        );

        // A reply sent right before a plain message keeps its place before it.
        let first = bob
            .emit(
                "chat:send",
                json!({"roomCode": code, "content": "reply first", "replyTo": original["id"]}),
            )
            .await;
        let second = bob.emit("chat:send", json!({"roomCode": code, "content": "then this"})).await;
        let (first, second) = (bob.ack(first).await, bob.ack(second).await);
        let (a, b) = (
            first["data"]["message"]["id"].as_i64().unwrap(),
            second["data"]["message"]["id"].as_i64().unwrap(),
        );
        assert!(a < b, "the reply ({a}) was stored after the message sent after it ({b})");
    }
}
