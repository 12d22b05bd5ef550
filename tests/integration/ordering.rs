//! The ordering rule of the room actor: a commit made elsewhere (another node) that
//! arrives out of order, late, twice, or not at all still reaches every member in the
//! room's order, exactly once, with no gap.

use std::time::Duration;

use chat_actors::ids::RoomCode;
use chat_actors::model::Committed;
use chat_actors::room::order::Push;
use chat_actors::room::Relay;
use chat_actors::store::{NewMessage, Outcome, Write};
use serde_json::Value;

use crate::support::*;

/// Commits `count` messages straight into the store, as another node would.
async fn commit_elsewhere(node: &TestNode, code: &str, count: usize) -> Vec<Committed> {
    let code = RoomCode::parse(code).unwrap();
    let room = node.hub.store.find_room(code).await.unwrap().unwrap().room;
    let batch: Vec<Write> = (0..count)
        .map(|i| {
            Write::Send(NewMessage {
                room_id: room.id,
                room_code: code,
                sender: "elsewhere".into(),
                content: format!("remote {i}"),
                client_id: None,
                bot: false,
                author_id: None,
                reply_to: None,
            })
        })
        .collect();
    node.hub
        .store
        .commit_batch(&batch)
        .await
        .unwrap()
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Created(committed) => committed,
            other => panic!("no client ids or replies here: {other:?}"),
        })
        .collect()
}

fn relay(node: &TestNode, code: &str, committed: &Committed) {
    let code = RoomCode::parse(code).unwrap();
    let room = node.hub.rooms.get(&code).expect("live room").addr.clone();
    room.do_send(Relay {
        push: Push::Message(committed.message.clone()),
    });
}

async fn received(client: &mut Client, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.len() < count {
        let push: Value = client.next_event("chat:message").await;
        ids.push(push["data"]["id"].as_i64().unwrap());
    }
    ids
}

on_both_stores! {
    async fn out_of_order_relays_are_pushed_in_order_after_a_gap_fill(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let remote = commit_elsewhere(&node, &code, 5).await;
        // Only the newest arrives, twice: the room reads the four before it from the store.
        relay(&node, &code, &remote[4]);
        relay(&node, &code, &remote[4]);
        let expected: Vec<i64> = remote.iter().map(|c| c.message.id).collect();
        assert_eq!(received(&mut ada, 5).await, expected);
        // Late and repeated relays of messages already pushed change nothing.
        relay(&node, &code, &remote[1]);
        relay(&node, &code, &remote[3]);
        ada.expect_no_event("chat:message", Duration::from_millis(300)).await;
        // Local sends continue the same sequence.
        let ack = ada.say(&code, "local").await;
        let local = ack["data"]["message"]["id"].as_i64().unwrap();
        assert!(local > expected[4]);
        assert_eq!(received(&mut ada, 1).await, vec![local]);
    }
}

#[tokio::test]
async fn a_room_whose_gap_never_closes_restarts_and_members_resume() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let real = commit_elsewhere(&node, &code, 1).await.remove(0);
    // A relayed commit whose predecessor the store never shows: the room cannot keep
    // its promise of gap-free order, so it fails and is started afresh.
    let mut phantom = real.clone();
    phantom.message.id += 1_000_000;
    phantom.message.seq += 1_000_000;
    relay(&node, &code, &phantom);
    let reconnect = ada.next_event("reconnect").await;
    assert_eq!(reconnect["data"]["reason"], "room restarted");
    assert_eq!(
        ada.closed().await,
        Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Restart)
    );
    // The member comes back with sinceId and finds the room working, nothing lost.
    let mut back = api.connect().await;
    let ack = back.join(&code, "ada", Some(0)).await;
    let missed = ack["data"]["missed"].as_array().unwrap();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["id"].as_i64(), Some(real.message.id));
    assert_eq!(back.say(&code, "after").await["ok"], true);
    assert_eq!(
        back.next_event("chat:message").await["data"]["content"],
        "after"
    );
}
