//! Rooms over WebSocket: create, join, leave, presence, typing, limits.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

const QUIET: Duration = Duration::from_millis(300);

on_both_stores! {
    async fn create_then_join_by_code_in_any_case(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let mut ada = api.connect().await;
        let created = ada.request("room:create", json!({})).await;
        assert_eq!(created["ok"], true, "{created}");
        let room = created["data"]["room"].clone();
        let code = room["code"].as_str().unwrap().to_owned();
        // Creating does not join.
        let not_in = ada.say(&code, "hi").await;
        assert_eq!(not_in["error"]["code"], "not_in_room");
        let joined = ada.join(&code.to_lowercase(), "  ada ", None).await;
        assert_eq!(joined["ok"], true, "{joined}");
        assert_eq!(joined["data"]["room"], room);
        assert_eq!(joined["data"]["members"], json!([{"nickname": "ada"}]));
        assert_eq!(joined["data"]["missed"], json!([]));
        assert_eq!(joined["data"]["hasMore"], false);
    }

    async fn join_unknown_room_is_not_found(backend) {
        let node = NodeSpec::new(&backend).start();
        let mut client = node.api().connect().await;
        for code in ["ZZZZZZ", "abc", "K7QX2M0", "", "<b>!!"] {
            let ack = client.join(code, "ada", None).await;
            assert_eq!(ack["ok"], false, "{code}");
            assert_eq!(ack["error"]["code"], "not_found", "{code}: {ack}");
        }
    }
}

#[tokio::test]
async fn presence_join_rename_leave_and_disconnect() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let mut bob = api.connect().await;
    let ack = bob.join(&code, "bob", None).await;
    let mut members: Vec<String> = ack["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nickname"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    assert_eq!(members, ["ada", "bob"]);
    let joined = ada.next_event("presence").await;
    assert_eq!(joined["data"]["roomCode"], code);
    assert_eq!(joined["data"]["count"], 2);
    assert_eq!(joined["data"]["joined"], "bob");
    assert!(joined["data"].get("left").is_none());
    assert_eq!(joined["data"]["members"].as_array().unwrap().len(), 2);
    // The joiner gets no presence push for its own join.
    bob.expect_no_event("presence", QUIET).await;
    // Joining again with a new nickname renames: left = old, joined = new.
    let again = bob.join(&code, "bobby", None).await;
    assert_eq!(again["ok"], true);
    let renamed = ada.next_event("presence").await;
    assert_eq!(
        (
            renamed["data"]["left"].as_str(),
            renamed["data"]["joined"].as_str()
        ),
        (Some("bob"), Some("bobby"))
    );
    assert_eq!(renamed["data"]["count"], 2);
    // Leaving pushes `left`.
    assert_eq!(
        bob.request("room:leave", json!({"code": code})).await["ok"],
        true
    );
    let left = ada.next_event("presence").await;
    assert_eq!(
        (
            left["data"]["left"].as_str(),
            left["data"]["count"].as_i64()
        ),
        (Some("bobby"), Some(1))
    );
    // After leaving, sends are not_in_room; leaving again too.
    assert_eq!(bob.say(&code, "x").await["error"]["code"], "not_in_room");
    assert_eq!(
        bob.request("room:leave", json!({"code": code})).await["error"]["code"],
        "not_in_room"
    );
    assert_eq!(
        bob.request("room:leave", json!({"code": "ZZZZZZ"})).await["error"]["code"],
        "not_in_room"
    );
    // Closing the connection leaves every room.
    let carol = api.joined(&code, "carol").await;
    assert_eq!(ada.next_event("presence").await["data"]["joined"], "carol");
    drop(carol);
    let gone = ada.next_event("presence").await;
    assert_eq!(
        (
            gone["data"]["left"].as_str(),
            gone["data"]["count"].as_i64()
        ),
        (Some("carol"), Some(1))
    );
}

#[tokio::test]
async fn presence_lists_members_only_in_small_rooms_and_names_may_repeat() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("presence-list-max", "2")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut first = api.joined(&code, "twin").await;
    let _second = api.joined(&code, "twin").await;
    let two = first.next_event("presence").await;
    assert_eq!(
        two["data"]["members"],
        json!([{"nickname": "twin"}, {"nickname": "twin"}])
    );
    let _third = api.joined(&code, "ada").await;
    let three = first.next_event("presence").await;
    assert_eq!(three["data"]["count"], 3);
    assert!(three["data"].get("members").is_none(), "{three}");
}

#[tokio::test]
async fn typing_reaches_others_but_not_the_typist() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let mut bob = api.joined(&code, "bob").await;
    ada.next_event("presence").await;
    let ack = bob
        .request("typing", json!({"roomCode": code, "typing": true}))
        .await;
    assert_eq!(ack["ok"], true);
    let typing = ada.next_event("typing").await;
    assert_eq!(
        typing["data"],
        json!({"roomCode": code, "nickname": "bob", "typing": true})
    );
    bob.expect_no_event("typing", QUIET).await;
    let other = api.create_room().await;
    let ack = bob
        .request("typing", json!({"roomCode": other, "typing": true}))
        .await;
    assert_eq!(ack["error"]["code"], "not_in_room");
    let ack = bob
        .request("typing", json!({"roomCode": code, "typing": "yes"}))
        .await;
    assert_eq!(ack["error"]["code"], "bad_request");
}

#[tokio::test]
async fn a_session_may_join_sixteen_rooms() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let mut client = api.connect().await;
    let mut codes = Vec::new();
    for _ in 0..17 {
        codes.push(api.create_room().await);
    }
    for code in &codes[..16] {
        assert_eq!(client.join(code, "ada", None).await["ok"], true);
    }
    let ack = client.join(&codes[16], "ada", None).await;
    assert_eq!(ack["error"]["code"], "too_large", "{ack}");
    // Re-joining a room the session is in never counts against the limit.
    assert_eq!(client.join(&codes[3], "ada2", None).await["ok"], true);
    // After leaving one, another fits.
    assert_eq!(
        client
            .request("room:leave", json!({"code": codes[0]}))
            .await["ok"],
        true
    );
    assert_eq!(client.join(&codes[16], "ada", None).await["ok"], true);
}
