//! Sessions and rooms over time: heartbeats, slow consumers, idle rooms.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::*;

#[tokio::test]
async fn a_silent_client_is_closed_after_the_timeout() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("heartbeat-interval", "100ms")
        .flag("client-timeout", "400ms")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut silent = api.joined(&code, "silent").await;
    let mut lively = api.joined(&code, "lively").await;
    // The silent client does not read, so it never answers the pings.
    // Reading answers pings (tungstenite replies automatically).
    lively.pump(Duration::from_millis(1500)).await;
    // The close frame may be lost behind the pings the client never answered, but the
    // connection must be gone.
    let closed = silent.closed().await;
    assert!(matches!(closed, Some(CloseCode::Away) | None), "{closed:?}");
    let left = lively.next_event("presence").await;
    assert_eq!(left["data"]["left"], "silent");
    assert_eq!(lively.say(&code, "alive").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_others_get_everything() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("outbound-queue", "64")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut stuck = api.joined(&code, "stuck").await;
    let mut reader = api.joined(&code, "reader").await;
    // Enough 2 KB messages to fill the kernel's socket buffers of the stuck client
    // (several MB on loopback) and then its queue.
    let (posters, per_poster) = (4, 1500);
    let mut tasks = Vec::new();
    for p in 0..posters {
        let (api, code) = (api.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            let content = format!("{p}{}", "z".repeat(1999));
            for _ in 0..per_poster {
                assert_eq!(api.post_message(&code, "flood", &content).await.0, 201);
            }
        }));
    }
    // The reader keeps up and receives every message; the stuck client never reads.
    let mut received = 0;
    while received < posters * per_poster {
        if reader.next_event("chat:message").await["event"] == "chat:message" {
            received += 1;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let left = reader.next_event("presence").await;
    assert_eq!(
        left["data"]["left"], "stuck",
        "the stuck member was dropped"
    );
    // When it finally reads, the connection is closed: with the close frame (1013) behind
    // what was queued, or cut when the node gave up flushing to a client that did not read.
    let closed = stuck.closed().await;
    assert!(
        matches!(closed, Some(CloseCode::Again) | None),
        "{closed:?}"
    );
}

/// A room stops once it has been empty for the idle timeout, also after it had members
/// for long enough to stop its clock, and comes back with its history on the next join.
#[tokio::test]
async fn idle_rooms_are_stopped_and_come_back_on_demand() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("room-idle-timeout", "200ms")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    {
        let mut ada = api.joined(&code, "ada").await;
        assert_eq!(ada.say(&code, "one").await["ok"], true);
        // Several ticks (50 ms here) with a member: a room with members on a node of its
        // own stops its clock, and the last member leaving must wind it again.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let parsed = chat_actors::ids::RoomCode::parse(&code).unwrap();
    let first_actor = node.hub.rooms.get(&parsed).unwrap().addr.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut stopped = false;
    while tokio::time::Instant::now() < deadline {
        let (_, rooms) = api.get("/api/rooms").await;
        let (_, room) = api.get(&format!("/api/rooms/{code}")).await;
        if rooms["rooms"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["code"] != code))
            && room["members"] == json!([])
            && node.hub.rooms.is_empty()
        {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stopped, "the idle room actor was not stopped");
    // Not just forgotten: the actor itself has stopped and freed its memory.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while first_actor.connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !first_actor.connected(),
        "the idle room actor is still running"
    );
    // The room itself is in the store: joining starts a new actor with its history.
    let mut bob = api.connect().await;
    let ack = bob.join(&code, "bob", Some(0)).await;
    assert_eq!(ack["data"]["missed"][0]["content"], "one");
    assert_eq!(bob.say(&code, "two").await["ok"], true);
    assert_eq!(api.all_messages(&code).await.len(), 2);
}

/// A WebSocket client with a tiny receive buffer that never reads: the worst consumer.
async fn stuck_client(
    api: &Api,
    code: &str,
    i: usize,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::SinkExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(api.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", api.addr), stream)
        .await
        .unwrap();
    let join =
        json!({"event": "room:join", "data": {"code": code, "nickname": format!("stuck{i}")}});
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        join.to_string(),
    ))
    .await
    .unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stuck_clients_cost_bounded_memory_and_slow_no_one() {
    let spec = NodeSpec::new(&Backend::Sqlite)
        .flag("send-rate", "0")
        .flag("outbound-queue", "64")
        .flag("presence-list-max", "10");
    let node = spec.spawn(0).await;
    let api = node.api();
    let code = api.create_room().await;
    let mut stuck = Vec::new();
    for i in 0..1000 {
        stuck.push(stuck_client(&api, &code, i).await);
        // Every join pushes presence to every member. In bursts, the room can fill a
        // member's queue (64) before its session runs once, which evicts early joiners
        // and leaves the flood below with too few stuck members to prove anything; a
        // pause every 25 joins lets the sessions write out what they were pushed.
        if i % 25 == 24 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let mut reader = api.joined(&code, "reader").await;
    // (The earliest of them may already be gone: the presence pushes of the later joins
    // filled their queues.)
    let (_, room) = api.get(&format!("/api/rooms/{code}")).await;
    let members = room["members"].as_array().map_or(0, Vec::len);
    assert!(members > 500, "only {members} members");
    let rss_before = node.rss_kib();
    // 2 KB messages: each is pushed to 1,001 members.
    let content = "x".repeat(2000);
    let total = 300;
    let poster = {
        let (api, code) = (api.clone(), code.clone());
        tokio::spawn(async move {
            for _ in 0..total {
                assert_eq!(api.post_message(&code, "flood", &content).await.0, 201);
            }
        })
    };
    // The reader gets every message, promptly, while a thousand members never read.
    let mut received = 0;
    while received < total {
        let push = reader.next_event("chat:message").await;
        if push["data"]["sender"] == "flood" {
            received += 1;
        }
    }
    poster.await.unwrap();
    let rss_after = node.rss_kib();
    let slow = metric(&api, "chat_slow_consumers_total").await;
    // Every stuck member was dropped from the room (their sessions are closed when they
    // next run, or by the kernel's TCP_USER_TIMEOUT if they never read again).
    let (_, room) = api.get(&format!("/api/rooms/{code}")).await;
    assert_eq!(room["members"].as_array().map(Vec::len), Some(1));
    assert!(
        slow >= (members - 1) as f64,
        "only {slow} stuck clients were closed"
    );
    // Bounded: each stuck client holds at most its queue of shared frames and actix's
    // write buffer, not the 600 KB of pushes it was sent.
    let grown = rss_after.saturating_sub(rss_before);
    assert!(grown < 150 * 1024, "server memory grew by {grown} KiB");
    drop(stuck);
}
