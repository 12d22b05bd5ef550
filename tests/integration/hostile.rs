//! A hostile client at the level of WebSocket frames: a frame whose header declares far
//! more than the hard cap, streamed for real. The node must refuse it from the header
//! (close 1009) instead of buffering what follows, and other clients must not notice.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::*;

/// Opens a raw WebSocket connection (handshake only) and returns the socket.
async fn raw_websocket(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(handshake.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.unwrap();
        response.push(byte[0]);
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_giant_declared_frame_is_refused_from_its_header() {
    let node = NodeSpec::new(&Backend::Sqlite).spawn(0).await;
    let api = node.api();
    let code = api.create_room().await;
    let mut bystander = api.joined(&code, "bystander").await;
    let rss_before = node.peak_rss_kib();

    let socket = raw_websocket(node.addr).await;
    let (mut reader, mut writer) = socket.into_split();
    // A masked text frame declaring 1 GiB, then its "payload", for as long as the node takes
    // it (at most 8 GiB or 15 s).
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[7, 7, 7, 7]);
    let started = std::time::Instant::now();
    let writing = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0usize;
        if writer.write_all(&header).await.is_err() {
            return (written, true);
        }
        while written < 8 << 30 && started.elapsed() < Duration::from_secs(15) {
            match tokio::time::timeout(Duration::from_secs(2), writer.write_all(&chunk)).await {
                Ok(Ok(())) => written += chunk.len(),
                Ok(Err(_)) => return (written, true),
                Err(_) => return (written, false),
            }
        }
        (written, false)
    });
    // The node answers with a close frame carrying 1009.
    let mut close = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), reader.read_exact(&mut close))
        .await
        .expect("a close frame in time")
        .unwrap();
    assert_eq!(close[0], 0x88, "a close frame: {close:?}");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1009, "{close:?}");
    let (written, closed) = writing.await.unwrap();
    let grown = node.peak_rss_kib().saturating_sub(rss_before);
    let took = started.elapsed();
    eprintln!("hostile frame: {written} bytes taken in {took:?}, closed {closed}, node peak RSS +{grown} KiB");
    // After its close frame the node lingers (actix's client-disconnect timeout, 1 s),
    // discarding what still arrives, then closes the connection: bounded in time, and
    // nothing of it is kept.
    assert!(
        closed,
        "the connection was not closed ({written} bytes taken in {took:?})"
    );
    assert!(took < Duration::from_secs(10), "closed only after {took:?}");
    assert!(grown < 32 * 1024, "node peak RSS grew by {grown} KiB");

    // Nobody else noticed.
    let ack = bystander.say(&code, "still fine").await;
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_flood_reaches_others_as_a_trickle() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    let mut flooder = api.joined(&code, "flooder").await;
    let mut watcher = api.joined(&code, "watcher").await;
    let started = std::time::Instant::now();
    for i in 0..400 {
        let data = serde_json::json!({"roomCode": code, "typing": i % 2 == 0});
        let ack = flooder.request("typing", data).await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let took = started.elapsed();
    // Everything relayed has arrived once the watcher has been quiet for a moment.
    let mut relayed = 0;
    while watcher
        .next_within(Duration::from_millis(500))
        .await
        .is_some_and(|frame| matches!(frame, Frame::Json(ref v) if v["event"] == "typing"))
    {
        relayed += 1;
    }
    eprintln!("typing flood: 400 toggles in {took:?}, {relayed} relayed");
    // At most a start and a stop per second of flooding, whatever the flooder sends.
    let bound = 2 * (took.as_secs() as usize + 1);
    assert!(
        relayed <= bound,
        "{relayed} typing pushes for {took:?} of flooding"
    );
    assert!(relayed >= 1, "the first start is relayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_flood_is_rate_limited_then_closed() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("frame-rate", "50/3600s")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut watcher = api.joined(&code, "watcher").await;
    let mut flooder = api.joined(&code, "flooder").await;
    // The join took one frame of the budget; 49 more are allowed, the rest refused.
    let refs: Vec<i64> = {
        let mut refs = Vec::new();
        for i in 0..200 {
            let data = serde_json::json!({"roomCode": code, "typing": i % 2 == 0});
            refs.push(flooder.emit("typing", data).await);
        }
        refs
    };
    let mut limited = 0;
    for reference in refs {
        let ack = flooder.ack(reference).await;
        if ack["error"]["code"] == "rate_limited" {
            limited += 1;
        } else {
            assert_eq!(ack["ok"], true, "{ack}");
        }
    }
    assert_eq!(limited, 151, "frames past the budget are refused");
    // The others are not slowed down.
    let ack = watcher.say(&code, "still fine").await;
    assert_eq!(ack["ok"], true, "{ack}");
    // A client that keeps sending while refused is closed.
    for _ in 0..1000 {
        flooder.send_text(r#"{"event":"room:create"}"#).await;
    }
    assert_eq!(flooder.closed().await, Some(CloseCode::Policy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_are_limited_per_session() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("join-rate", "5/3600s")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut watcher = api.joined(&code, "watcher").await;
    let mut renamer = api.connect().await;
    let mut outcomes = Vec::new();
    for i in 0..20 {
        let ack = renamer.join(&code, &format!("name{i}"), Some(0)).await;
        outcomes.push(ack["ok"] == true || ack["error"]["code"] != "rate_limited");
    }
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 5, "{outcomes:?}");
    // The watcher heard of the five accepted joins and renames, not of twenty.
    let mut presence = 0;
    while let Some(Frame::Json(frame)) = watcher.next_within(Duration::from_millis(300)).await {
        if frame["event"] == "presence" {
            presence += 1;
        }
    }
    assert_eq!(presence, 5);
}

/// A flood from 100,000 distinct client addresses (behind a trusted proxy, each naming a
/// new client in `X-Forwarded-For`), each sending one REST message under a per-address
/// limit: every send is stored, the limit's table holds at most `--address-table-size`
/// addresses, and the limit still holds for the newest client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_addresses_keep_the_limiter_table_bounded() {
    use futures_util::{stream, StreamExt};
    use serde_json::json;

    const ADDRESSES: u32 = 100_000;
    const TABLE: u32 = 4096;
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("trusted-proxies", "127.0.0.0/8")
        .flag("rest-send-rate", "1/10m")
        .flag("address-table-size", &TABLE.to_string())
        .spawn(0)
        .await;
    let api = node.api();
    let code = api.create_room().await;
    let client = |n: u32| std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string();
    let rss_before = node.rss_kib();
    let started = std::time::Instant::now();
    let refused = stream::iter(0..ADDRESSES)
        .map(|n| {
            let (api, code, from) = (api.clone(), code.clone(), client(n));
            async move {
                let body = json!({"roomCode": code, "sender": "bot", "content": format!("m{n}")});
                api.post_forwarded("/api/messages", body, &from).await.0
            }
        })
        .buffer_unordered(32)
        .filter(|status| std::future::ready(*status != 201))
        .count()
        .await;
    let took = started.elapsed();
    let held = metric(&api, "chat_address_table_entries{table=\"rest_send\"}").await;
    let grown = node.rss_kib().saturating_sub(rss_before);
    eprintln!(
        "{ADDRESSES} addresses in {took:?}: table holds {held}, node RSS +{grown} KiB, {refused} refused"
    );
    assert_eq!(refused, 0, "each address sent once, within its limit");
    assert!(held <= f64::from(TABLE) + 16.0, "the table holds {held}");
    assert!(
        held >= f64::from(TABLE) * 0.9,
        "the table filled up: {held}"
    );
    // The newest client is remembered, and over its limit now.
    let body = json!({"roomCode": code, "sender": "bot", "content": "again"});
    let (status, _) = api
        .post_forwarded("/api/messages", body, &client(ADDRESSES - 1))
        .await;
    assert_eq!(status, 429);
    let stored = api.history(&code, "&limit=1").await;
    assert_eq!(
        stored["messages"][0]["content"]
            .as_str()
            .map(|c| c.starts_with('m')),
        Some(true)
    );
}

/// One session floods everything that is not a send: typing in its room, renames and
/// rejoins with `sinceId` 0 (each a read of the room's 300 messages), and sends and typing
/// for a room it never joined. It gets `rate_limited` (and `not_in_room`, answered without
/// a store lookup); meanwhile another member's sends are acked in
/// bounded time, the third member hears a trickle of typing and presence, and the node's
/// memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_flood_from_one_session_is_refused_and_slows_no_one() {
    use serde_json::json;

    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("send-rate", "1000/10s")
        .spawn(0)
        .await;
    let api = node.api();
    let code = api.create_room().await;
    let elsewhere = api.create_room().await;
    for i in 0..300 {
        assert_eq!(
            api.post_message(&code, "bot", &format!("h{i}")).await.0,
            201
        );
    }
    let mut sender = api.joined(&code, "sender").await;
    let mut listener = api.joined(&code, "listener").await;
    let mut flooder = api.joined(&code, "flooder").await;
    let rss_before = node.peak_rss_kib();

    let mut baseline = Vec::new();
    for i in 0..20 {
        let started = std::time::Instant::now();
        assert_eq!(sender.say(&code, &format!("before {i}")).await["ok"], true);
        baseline.push(started.elapsed());
    }

    let room = code.clone();
    let flood = tokio::spawn(async move {
        let code = room;
        for i in 0..6000 {
            let (event, data) = match i % 5 {
                0 => ("typing", json!({"roomCode": code, "typing": i % 2 == 0})),
                1 => (
                    "room:join",
                    json!({"code": code, "nickname": format!("f{i}"), "sinceId": 0}),
                ),
                2 => (
                    "chat:send",
                    json!({"roomCode": elsewhere, "content": "sneak"}),
                ),
                3 => ("typing", json!({"roomCode": elsewhere, "typing": true})),
                _ => ("room:leave", json!({"code": elsewhere})),
            };
            flooder.emit(event, data).await;
        }
        let mut codes: std::collections::HashMap<String, usize> = Default::default();
        let closed = loop {
            match flooder.next_within(Duration::from_secs(5)).await {
                Some(Frame::Json(frame)) if frame["event"] == "ack" => {
                    let code = frame["error"]["code"].as_str().unwrap_or("ok").to_owned();
                    *codes.entry(code).or_default() += 1;
                }
                Some(Frame::Json(_)) => {}
                Some(Frame::Closed(code)) => break code,
                None => break None,
            }
        };
        (codes, closed)
    });

    let mut during = Vec::new();
    for i in 0..20 {
        let started = std::time::Instant::now();
        assert_eq!(sender.say(&code, &format!("during {i}")).await["ok"], true);
        during.push(started.elapsed());
    }
    let (codes, closed) = flood.await.unwrap();
    let grown = node.peak_rss_kib().saturating_sub(rss_before);
    let mut listened = std::collections::HashMap::<String, usize>::new();
    while let Some(Frame::Json(frame)) = listener.next_within(Duration::from_millis(500)).await {
        let event = frame["event"].as_str().unwrap_or("").to_owned();
        *listened.entry(event).or_default() += 1;
    }
    baseline.sort();
    during.sort();
    eprintln!(
        "mixed flood: flooder acks {codes:?}, closed {closed:?} (the bucket's refill breaks \
         the run of refusals that closes a session); sender ack median {:?} before, \
         {:?} during (max {:?}); listener got {listened:?}; node peak RSS +{grown} KiB",
        baseline[10], during[10], during[19]
    );
    assert!(
        codes.get("rate_limited").copied().unwrap_or(0) > 1000,
        "{codes:?}"
    );
    assert!(
        codes.get("not_in_room").copied().unwrap_or(0) > 0,
        "{codes:?}"
    );
    assert!(codes.get("ok").copied().unwrap_or(0) < 3000, "{codes:?}");
    assert!(
        during[19] < Duration::from_secs(2),
        "the sender waited {:?} for an ack",
        during[19]
    );
    assert_eq!(listened.get("chat:message"), Some(&40), "{listened:?}");
    // Renames within the join budget (30 per 10 s), and typing at most a start and a stop
    // a second, plus the flooder's leave.
    assert!(
        listened.get("presence").copied().unwrap_or(0) <= 40,
        "{listened:?}"
    );
    assert!(
        listened.get("typing").copied().unwrap_or(0) <= 20,
        "{listened:?}"
    );
    assert!(grown < 64 * 1024, "node peak RSS grew by {grown} KiB");
}
