//! Durability: an acked message survives a crash of the node (SIGKILL, no shutdown).

use serde_json::json;

use crate::support::*;

on_both_stores! {
    async fn acked_messages_survive_a_crash_and_resume_with_since_id(backend) {
        let spec = NodeSpec::new(&backend).flag("send-rate", "0");
        let node = spec.spawn(0).await;
        let port = node.addr.port();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let mut acked = Vec::new();
        for i in 0..100 {
            let ack = ada.request("chat:send", json!({"roomCode": code, "content": format!("m{i}"), "clientId": format!("c{i}")})).await;
            assert_eq!(ack["ok"], true, "{ack}");
            acked.push(ack["data"]["message"].clone());
        }
        let seen = acked[49]["id"].as_i64().unwrap();
        node.kill();
        let node = spec.spawn(port).await;
        let api = node.api();
        assert_eq!(api.all_messages(&code).await, acked, "every acked message, once, in order");
        // A client that saw up to message 50 resumes with sinceId and gets the rest.
        let mut back = api.connect().await;
        let ack = back.join(&code, "ada", Some(seen)).await;
        assert_eq!(ack["data"]["missed"].as_array().unwrap(), &acked[50..].to_vec());
        // Retrying a send whose ack was lost stores nothing new.
        let retry = back.request("chat:send", json!({"roomCode": code, "content": "m99", "clientId": "c99"})).await;
        assert_eq!(retry["data"]["message"], acked[99]);
        assert_eq!(api.all_messages(&code).await.len(), 100);
        node.terminate();
    }
}

#[tokio::test]
async fn sigterm_drains_sessions_and_exits_cleanly() {
    let spec = NodeSpec::new(&Backend::Sqlite);
    let node = spec.spawn(0).await;
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    assert_eq!(ada.say(&code, "before").await["ok"], true);
    let status = node.terminate();
    assert!(status.success(), "exit status {status}");
    let reconnect = ada.next_event("reconnect").await;
    assert!(reconnect["data"]["reason"].is_string());
    assert_eq!(
        ada.closed().await,
        Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Restart)
    );
}
