//! Abuse limits: each refuses with a clear error, and the node goes on serving others.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn room_creation_is_limited_per_address_over_websocket_and_rest() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("room-create-rate", "3/60s")
        .start();
    let api = node.api();
    let mut client = api.connect().await;
    for _ in 0..2 {
        assert_eq!(client.request("room:create", json!({})).await["ok"], true);
    }
    api.create_room().await;
    let refused = client.request("room:create", json!({})).await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    let (status, body) = api.post("/api/rooms", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(metric(&api, "chat_limit_rejections_total{limit=\"room_create\"}").await >= 2.0);
}

/// Behind a trusted proxy each forwarded client has its own budget; from anyone else the
/// header is ignored, so a client cannot buy itself a fresh budget by inventing addresses.
#[tokio::test]
async fn per_address_limits_follow_x_forwarded_for_only_from_trusted_proxies() {
    let behind_proxy = NodeSpec::new(&Backend::Sqlite)
        .flag("room-create-rate", "2/60s")
        .flag("trusted-proxies", "127.0.0.0/8")
        .start();
    let api = behind_proxy.api();
    let create = |client: &'static str| {
        let api = api.clone();
        async move { api.post_forwarded("/api/rooms", json!({}), client).await.0 }
    };
    assert_eq!(create("198.51.100.1").await, 201);
    assert_eq!(create("6.6.6.6, 198.51.100.1").await, 201);
    assert_eq!(
        create("198.51.100.1").await,
        429,
        "the same client, spoofed left part"
    );
    assert_eq!(
        create("198.51.100.2").await,
        201,
        "another client has its own budget"
    );

    let direct = NodeSpec::new(&Backend::Sqlite)
        .flag("room-create-rate", "2/60s")
        .start();
    let api = direct.api();
    let mut statuses = Vec::new();
    for invented in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        statuses.push(
            api.post_forwarded("/api/rooms", json!({}), invented)
                .await
                .0,
        );
    }
    assert_eq!(statuses, [201, 201, 429], "an untrusted header is ignored");
}

#[tokio::test]
async fn guessing_room_codes_locks_the_address_out_of_joins() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("failed-lookup-rate", "3/60s")
        .start();
    let api = node.api();
    let real = api.create_room().await;
    let mut guesser = api.connect().await;
    for guess in ["AAAAAA", "BBBBBB", "CCCCCC"] {
        assert_eq!(
            guesser.join(guess, "eve", None).await["error"]["code"],
            "not_found"
        );
    }
    // Past the limit every join is refused, the real code included: a guess that would
    // succeed cannot be told from one that would not.
    for code in ["DDDDDD", real.as_str()] {
        let refused = guesser.join(code, "eve", None).await;
        assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    }
}

#[tokio::test]
async fn a_full_node_refuses_new_sessions_with_503() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("max-sessions", "2")
        .start();
    let api = node.api();
    let _first = api.connect().await;
    let mut second = api.connect().await;
    let url = format!("ws://{}/ws", api.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!("a third session was not refused: {:?}", other.map(|_| ())),
    }
    // The admitted sessions work on.
    assert_eq!(second.request("room:create", json!({})).await["ok"], true);
}

#[tokio::test]
async fn connections_per_address_are_limited_and_given_back() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("max-connections-per-address", "2")
        .start();
    let api = node.api();
    let first = api.connect().await;
    let _second = api.connect().await;
    let url = format!("ws://{}/ws", api.addr);
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!(
            "a third connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    drop(first);
    eventually("the closed connection's slot is given back", || {
        let url = url.clone();
        async move { tokio_tungstenite::connect_async(url).await.is_ok() }
    })
    .await;
}

#[tokio::test]
async fn a_full_room_refuses_another_member() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("max-room-members", "2")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let _bob = api.joined(&code, "bob").await;
    let mut carol = api.connect().await;
    let refused = carol.join(&code, "carol", None).await;
    assert_eq!(refused["error"]["code"], "too_large", "{refused}");
    // Renaming a member is not a new member.
    assert_eq!(ada.join(&code, "ada2", None).await["ok"], true);
    assert_eq!(
        carol.say(&code, "let me in").await["error"]["code"],
        "not_in_room"
    );
}
