//! Sending and receiving: acks, pushes, order, idempotency, rate limits, catch-up.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

fn id(message: &Value) -> i64 {
    message["id"].as_i64().expect("message id")
}

on_both_stores! {
    async fn send_is_acked_and_pushed_to_every_member(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let mut bob = api.joined(&code, "bob").await;
        let reference = ada
            .emit("chat:send", json!({"roomCode": code.to_lowercase(), "content": "  hello\nworld  ", "sender": "mallory", "clientId": "a-1"}))
            .await;
        let ack = ada.ack(reference).await;
        assert_eq!(ack["ok"], true, "{ack}");
        let message = ack["data"]["message"].clone();
        assert_eq!(message["sender"], "ada", "the payload's sender is ignored");
        assert_eq!(message["content"], "hello\nworld");
        assert_eq!(message["roomCode"], code);
        assert_eq!(message["clientId"], "a-1");
        assert!(message["roomId"].is_i64() && message["createdAt"].as_str().unwrap().ends_with('Z'));
        // The ack means durable: it is in the store now.
        assert_eq!(api.all_messages(&code).await, vec![message.clone()]);
        assert_eq!(bob.next_event("chat:message").await["data"], message);
        assert_eq!(ada.next_event("chat:message").await["data"], message);
    }

    async fn hostile_looking_content_is_stored_byte_exact(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let contents = [
            "'; DROP TABLE messages; --",
            "<script>alert('x')</script><img src=x onerror=alert(1)>",
            "Robert\"); DELETE FROM rooms WHERE (\"1\"=\"1",
            "emoji 👩🏽‍💻 and RTL \u{202e}text and zero\u{200b}width",
            "back\\slash and %s %n {{template}} ${shell}",
        ];
        for content in contents {
            let ack = ada.say(&code, content).await;
            assert_eq!(ack["data"]["message"]["content"], content, "{ack}");
        }
        let stored: Vec<Value> = api.all_messages(&code).await.iter().map(|m| m["content"].clone()).collect();
        assert_eq!(stored, contents.map(Value::from).to_vec());
        // The limit counts code points: 2000 emoji fit, 2001 do not.
        assert_eq!(ada.say(&code, &"👍".repeat(2000)).await["ok"], true);
        assert_eq!(ada.say(&code, &"👍".repeat(2001)).await["error"]["code"], "too_large");
    }

    async fn client_id_makes_sends_idempotent_across_sessions(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let mut bob = api.joined(&code, "bob").await;
        let send = json!({"roomCode": code, "content": "once", "clientId": "same"});
        let first = ada.request("chat:send", send.clone()).await["data"]["message"].clone();
        let pushed = bob.next_event("chat:message").await;
        assert_eq!(pushed["data"], first);
        let second = ada.request("chat:send", send.clone()).await;
        assert_eq!(second["data"]["message"], first);
        // Another session of the same room with the same clientId gets the original too.
        let third = bob.request("chat:send", json!({"roomCode": code, "content": "other", "clientId": "same"})).await;
        assert_eq!(third["data"]["message"], first);
        bob.expect_no_event("chat:message", Duration::from_millis(300)).await;
        assert_eq!(api.all_messages(&code).await.len(), 1);
        let long = ada.request("chat:send", json!({"roomCode": code, "content": "x", "clientId": "c".repeat(65)})).await;
        assert_eq!(long["error"]["code"], "too_large");
    }

    async fn concurrent_senders_are_delivered_in_id_order_without_gaps(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let code = api.create_room().await;
        let mut watcher = api.joined(&code, "watcher").await;
        let senders = 4;
        let per_sender = 50;
        let mut tasks = Vec::new();
        for s in 0..senders {
            let api = api.clone();
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = api.joined(&code, &format!("s{s}")).await;
                let mut refs = Vec::new();
                for i in 0..per_sender {
                    refs.push(client.emit("chat:send", json!({"roomCode": code, "content": format!("{s}-{i}")})).await);
                }
                for reference in refs {
                    assert_eq!(client.ack(reference).await["ok"], true);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let stored = api.all_messages(&code).await;
        assert_eq!(stored.len(), senders * per_sender);
        let mut received = Vec::new();
        while received.len() < stored.len() {
            received.push(watcher.next_event("chat:message").await["data"].clone());
        }
        // The watcher saw exactly the store's sequence: every message, in id order, once.
        assert_eq!(received, stored);
        assert!(stored.windows(2).all(|w| id(&w[0]) < id(&w[1])));
    }

    async fn join_with_since_id_returns_what_was_missed(backend) {
        let node = NodeSpec::new(&backend).flag("missed-max", "5").start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(id(&api.post_message(&code, "bot", &format!("m{i}")).await.1["message"]));
        }
        let mut client = api.connect().await;
        let ack = client.join(&code, "ada", Some(ids[4])).await;
        let missed: Vec<i64> = ack["data"]["missed"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(missed, ids[5..].to_vec());
        assert_eq!(ack["data"]["hasMore"], false);
        // More than the limit: the newest ones, and hasMore.
        let mut other = api.connect().await;
        let ack = other.join(&code, "bob", Some(0)).await;
        let missed: Vec<i64> = ack["data"]["missed"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(missed, ids[3..].to_vec());
        assert_eq!(ack["data"]["hasMore"], true);
        // Up to date: nothing missed.
        let mut third = api.connect().await;
        let ack = third.join(&code, "carol", Some(ids[7])).await;
        assert_eq!((ack["data"]["missed"].clone(), ack["data"]["hasMore"].clone()), (json!([]), json!(false)));
        // sinceId must be a non-negative integer.
        for bad in [json!(-1), json!("3"), json!(1.5)] {
            let ack = third.request("room:join", json!({"code": code, "nickname": "c", "sinceId": bad})).await;
            assert_eq!(ack["error"]["code"], "bad_request", "{bad}");
        }
    }

    async fn members_joining_while_messages_commit_miss_none(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let code = api.create_room().await;
        // Two senders keep the room committing while members join one after another: a
        // joiner's `missed` followed by its pushes must be the room's whole sequence.
        let (sending, per_sender) = (6, 60);
        let mut senders = Vec::new();
        for s in 0..sending {
            let (api, code) = (api.clone(), code.clone());
            senders.push(tokio::spawn(async move {
                let mut client = api.joined(&code, &format!("s{s}")).await;
                for m in 0..per_sender {
                    assert_eq!(client.say(&code, &format!("{s}.{m}")).await["ok"], true);
                }
            }));
        }
        let mut joiners = Vec::new();
        for j in 0..40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut client = api.connect().await;
            let ack = client.join(&code, &format!("j{j}"), Some(0)).await;
            let missed: Vec<i64> = ack["data"]["missed"].as_array().unwrap().iter().map(id).collect();
            joiners.push((client, missed));
        }
        for sender in senders {
            sender.await.unwrap();
        }
        let ids: Vec<i64> = api.all_messages(&code).await.iter().map(id).collect();
        assert_eq!(ids.len(), sending * per_sender);
        for (j, (mut client, mut seen)) in joiners.into_iter().enumerate() {
            while seen.len() < ids.len() && seen.last() != ids.last() {
                seen.push(id(&client.next_event("chat:message").await["data"]));
            }
            assert_eq!(seen, ids, "joiner {j} (missed, then pushes)");
        }
    }

    async fn rate_limit_counts_new_messages_and_spares_known_client_ids(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "3/10s").start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let first = ada.request("chat:send", json!({"roomCode": code, "content": "1", "clientId": "k1"})).await;
        assert_eq!(first["ok"], true);
        // A duplicate does not count.
        assert_eq!(ada.request("chat:send", json!({"roomCode": code, "content": "1", "clientId": "k1"})).await["ok"], true);
        assert_eq!(ada.say(&code, "2").await["ok"], true);
        assert_eq!(ada.say(&code, "3").await["ok"], true);
        let limited = ada.say(&code, "4").await;
        assert_eq!(limited["error"]["code"], "rate_limited", "{limited}");
        let limited = ada.request("chat:send", json!({"roomCode": code, "content": "4", "clientId": "new"})).await;
        assert_eq!(limited["error"]["code"], "rate_limited");
        // A resend with a known clientId acks the original even while limited.
        let resend = ada.request("chat:send", json!({"roomCode": code, "content": "1", "clientId": "k1"})).await;
        assert_eq!(resend["data"]["message"], first["data"]["message"]);
        assert_eq!(api.all_messages(&code).await.len(), 3);
        // Another session has its own budget.
        let mut bob = api.joined(&code, "bob").await;
        assert_eq!(bob.say(&code, "bob's").await["ok"], true);
    }
}

#[tokio::test]
async fn acks_and_pushes_may_interleave_but_each_arrives_once() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let reference = ada
        .emit("chat:send", json!({"roomCode": code, "content": "x"}))
        .await;
    let (mut acks, mut pushes) = (0, 0);
    while acks + pushes < 2 {
        let frame = ada.next_json().await;
        match frame["event"].as_str() {
            Some("ack") if frame["ref"] == reference => acks += 1,
            Some("chat:message") => pushes += 1,
            _ => {}
        }
    }
    assert_eq!((acks, pushes), (1, 1));
    ada.expect_no_event("chat:message", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn frames_of_one_session_take_effect_in_order() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    // A send immediately followed by a leave: the send was made while joined.
    let send = ada
        .emit(
            "chat:send",
            json!({"roomCode": code, "content": "last words"}),
        )
        .await;
    let leave = ada.emit("room:leave", json!({"code": code})).await;
    assert_eq!(ada.ack(send).await["ok"], true);
    assert_eq!(ada.ack(leave).await["ok"], true);
    // Several sends in a row are stored in the order they were sent.
    let mut bob = api.joined(&code, "bob").await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(
            bob.emit(
                "chat:send",
                json!({"roomCode": code, "content": format!("{i}")}),
            )
            .await,
        );
    }
    for reference in sent {
        assert_eq!(bob.ack(reference).await["ok"], true);
    }
    let contents: Vec<String> = api.all_messages(&code).await[1..]
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(contents, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
}
