//! Poison values: text the store cannot hold (U+0000) or that the protocol refuses (other
//! control characters, invisible or direction-changing characters in names), mixed into
//! concurrent legitimate sends over WebSocket and REST. Each bad one gets `bad_request`;
//! every legitimate one is acked and stored exactly once.

use std::collections::HashMap;

use serde_json::json;

use crate::support::*;

/// Content the protocol refuses, each for one reason.
const BAD_CONTENT: [&str; 4] = [
    "nul \u{0} inside",
    "bell \u{7}",
    "escape \u{1b}[2J",
    "cr \r lf",
];

on_both_stores! {
    async fn poison_values_fail_alone_among_concurrent_sends(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let code = api.create_room().await;
        let mut writers = Vec::new();
        for w in 0..2 {
            let api = api.clone();
            let code = code.clone();
            writers.push(tokio::spawn(async move {
                let mut client = api.joined(&code, &format!("writer{w}")).await;
                let mut good = Vec::new();
                for i in 0..30 {
                    let client_id = format!("w{w}-{i}");
                    let data = json!({"roomCode": code, "content": format!("ws {w} {i}"), "clientId": client_id});
                    let ack = client.request("chat:send", data).await;
                    assert_eq!(ack["ok"], true, "{ack}");
                    good.push(ack["data"]["message"]["id"].as_i64().unwrap());
                    let bad = BAD_CONTENT[i % BAD_CONTENT.len()];
                    let ack = client.request("chat:send", json!({"roomCode": code, "content": bad})).await;
                    assert_eq!(ack["error"]["code"], "bad_request", "{bad:?}: {ack}");
                    let ack = client
                        .request("chat:send", json!({"roomCode": code, "content": "x", "clientId": "id\u{0}"}))
                        .await;
                    assert_eq!(ack["error"]["code"], "bad_request", "{ack}");
                }
                good
            }));
        }
        let rest = {
            let api = api.clone();
            let code = code.clone();
            tokio::spawn(async move {
                let mut good = Vec::new();
                for i in 0..30 {
                    let (status, body) = api.post_message(&code, "bot", &format!("rest {i}")).await;
                    assert_eq!(status, 201, "{body}");
                    good.push(body["message"]["id"].as_i64().unwrap());
                    let bad = BAD_CONTENT[i % BAD_CONTENT.len()];
                    let (status, body) = api.post_message(&code, "bot", bad).await;
                    assert_eq!((status, &body["error"]["code"]), (400, &json!("bad_request")), "{bad:?}");
                    for sender in ["b\u{0}t", "\u{202E}tob", "b\u{200B}ot"] {
                        let (status, body) = api.post_message(&code, sender, "hi").await;
                        assert_eq!((status, &body["error"]["code"]), (400, &json!("bad_request")), "{sender:?}");
                    }
                }
                good
            })
        };
        let mut acked: Vec<i64> = rest.await.unwrap();
        for writer in writers {
            acked.extend(writer.await.unwrap());
        }
        let stored = api.all_messages(&code).await;
        let mut count: HashMap<i64, usize> = HashMap::new();
        for message in &stored {
            *count.entry(message["id"].as_i64().unwrap()).or_default() += 1;
            let content = message["content"].as_str().unwrap();
            assert!(!content.chars().any(|c| c.is_control()), "stored {content:?}");
        }
        assert_eq!(stored.len(), 90, "only the legitimate messages are stored");
        for id in acked {
            assert_eq!(count.get(&id), Some(&1), "acked message {id} stored once");
        }
    }

    async fn nicknames_that_look_like_others_are_refused(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut client = api.connect().await;
        for nickname in ["ad\u{202E}a", "a\u{200B}da", "\u{2066}ada\u{2069}", "ada\u{0}", "a\u{00AD}da"] {
            let ack = client.join(&code, nickname, None).await;
            assert_eq!(ack["error"]["code"], "bad_request", "{nickname:?}: {ack}");
        }
        let ack = client.join(&code, "👩\u{200D}💻 ada", None).await;
        assert_eq!(ack["ok"], true, "an emoji sequence is a fine name: {ack}");
    }
}
