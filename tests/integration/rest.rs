//! The HTTP API of PROTOCOL.md.

use serde_json::json;

use crate::support::*;

on_both_stores! {
    async fn health_ready_and_metrics(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let (status, health) = api.get("/api/health").await;
        assert_eq!(status, 200);
        assert_eq!(health["ok"], true);
        assert!(health["uptime"].is_u64() && health["node"].is_string() && health["version"].is_string());
        let (status, ready) = api.get("/api/ready").await;
        assert_eq!((status, &ready["ok"]), (200, &json!(true)));
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        assert_eq!(ada.say(&code, "count me").await["ok"], true);
        let (status, text) = api.get_text("/metrics").await;
        assert_eq!(status, 200);
        for name in [
            "chat_sessions", "chat_rooms_active", "chat_messages_committed_total",
            "chat_pushes_total", "chat_errors_total{code=", "chat_persist_batch_size_bucket",
            "chat_persist_commit_seconds_bucket",
        ] {
            assert!(text.contains(name), "metrics lack {name}:\n{text}");
        }
    }

    async fn history_pages_newest_first_with_exact_cursor(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let (status, empty) = api.get(&format!("/api/messages?roomCode={code}")).await;
        assert_eq!(status, 200);
        assert_eq!(empty["messages"], json!([]));
        assert_eq!(empty["nextBeforeId"], json!(null));
        let mut ids = Vec::new();
        for i in 0..7 {
            let (status, body) = api.post_message(&code, "bot", &format!("m{i}")).await;
            assert_eq!(status, 201, "{body}");
            ids.push(body["message"]["id"].as_i64().unwrap());
        }
        let first = api.history(&code.to_lowercase(), "&limit=3").await;
        let got: Vec<i64> = first["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert_eq!(got, vec![ids[6], ids[5], ids[4]]);
        assert_eq!(first["nextBeforeId"], json!(ids[4]));
        let second = api.history(&code, &format!("&limit=3&beforeId={}", ids[4])).await;
        assert_eq!(second["messages"].as_array().unwrap().len(), 3);
        assert_eq!(second["nextBeforeId"], json!(ids[1]));
        // Exactly one older message remains: the next page holds it and ends the cursor.
        let third = api.history(&code, &format!("&limit=3&beforeId={}", ids[1])).await;
        assert_eq!(third["messages"].as_array().unwrap().len(), 1);
        assert_eq!(third["nextBeforeId"], json!(null));
        // A page that ends exactly at the oldest message also ends the cursor.
        let exact = api.history(&code, &format!("&limit=6&beforeId={}", ids[6])).await;
        assert_eq!(exact["messages"].as_array().unwrap().len(), 6);
        assert_eq!(exact["nextBeforeId"], json!(null));
        // Limits outside 1..200 are clamped.
        let clamped = api.history(&code, "&limit=0").await;
        assert_eq!(clamped["messages"].as_array().unwrap().len(), 1);
        let all = api.history(&code, "&limit=100000").await;
        assert_eq!(all["messages"].as_array().unwrap().len(), 7);
        let default = api.history(&code, "").await;
        assert_eq!(default["messages"].as_array().unwrap().len(), 7);
    }

    async fn rest_errors_have_codes_and_statuses(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let cases = [
            (format!("/api/messages?roomCode={code}&limit=ten"), 400, "bad_request"),
            (format!("/api/messages?roomCode={code}&beforeId=1.5"), 400, "bad_request"),
            ("/api/messages".to_owned(), 400, "bad_request"),
            ("/api/messages?roomCode=ZZZZZZ".to_owned(), 404, "not_found"),
            ("/api/messages?roomCode=nope".to_owned(), 404, "not_found"),
            ("/api/rooms/ZZZZZZ".to_owned(), 404, "not_found"),
            ("/api/rooms/%3Cscript%3E".to_owned(), 404, "not_found"),
        ];
        for (path, status, error) in cases {
            let (got, body) = api.get(&path).await;
            assert_eq!(got, status, "{path}: {body}");
            assert_eq!(body["ok"], false, "{path}");
            assert_eq!(body["error"]["code"], error, "{path}: {body}");
            assert!(body["error"]["message"].is_string());
        }
        let posts = [
            (json!({"roomCode": code, "sender": "bot"}), 400, "bad_request"),
            (json!({"roomCode": code, "sender": "bot", "content": 5}), 400, "bad_request"),
            (json!({"roomCode": code, "sender": "bot", "content": "   "}), 400, "bad_request"),
            (json!({"roomCode": code, "sender": "bot", "content": "x".repeat(2001)}), 400, "too_large"),
            (json!({"roomCode": code, "sender": "b".repeat(33), "content": "hi"}), 400, "too_large"),
            (json!({"roomCode": code, "sender": "bo\u{0}t", "content": "hi"}), 400, "bad_request"),
            (json!({"roomCode": code, "sender": "bot", "content": "hi", "clientId": "c".repeat(65)}), 400, "too_large"),
            (json!({"roomCode": "ZZZZZZ", "sender": "bot", "content": "hi"}), 404, "not_found"),
            // The body is an object; the same values by position are not one.
            (json!([code, "bot", "hi"]), 400, "bad_request"),
        ];
        for (body, status, error) in posts {
            let (got, answer) = api.post("/api/messages", body.clone()).await;
            assert_eq!(got, status, "{body}: {answer}");
            assert_eq!(answer["error"]["code"], error, "{body}: {answer}");
        }
        let (got, answer) = api.post_raw("/api/messages", "{not json").await;
        assert_eq!((got, answer["error"]["code"].as_str()), (400, Some("bad_request")));
        // Nothing above stored anything.
        assert!(api.all_messages(&code).await.is_empty());
    }

    async fn rest_send_is_idempotent_and_pushed(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let mut ada = api.joined(&code, "ada").await;
        let body = json!({"roomCode": code.to_lowercase(), "sender": "  deploy-bot ", "content": "  built <main> ", "clientId": "rest-1"});
        let (status, first) = api.post("/api/messages", body.clone()).await;
        assert_eq!(status, 201, "{first}");
        let message = &first["message"];
        assert_eq!(message["sender"], "deploy-bot");
        assert_eq!(message["content"], "built <main>");
        assert_eq!(message["roomCode"], code);
        assert_eq!(message["clientId"], "rest-1");
        let push = ada.next_event("chat:message").await;
        assert_eq!(&push["data"], message);
        let (status, again) = api.post("/api/messages", body).await;
        assert_eq!(status, 200);
        assert_eq!(&again["message"], message);
        ada.expect_no_event("chat:message", std::time::Duration::from_millis(300)).await;
        assert_eq!(api.all_messages(&code).await.len(), 1);
    }

    async fn rooms_show_members_and_listing(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let code = api.create_room().await;
        let (status, room) = api.get(&format!("/api/rooms/{}", code.to_lowercase())).await;
        assert_eq!(status, 200);
        assert_eq!(room["room"]["code"], code);
        assert_eq!(room["members"], json!([]));
        let _ada = api.joined(&code, "ada").await;
        let _bob = api.joined(&code, "bob").await;
        let (_, room) = api.get(&format!("/api/rooms/{code}")).await;
        let mut names: Vec<&str> = room["members"].as_array().unwrap().iter().map(|m| m["nickname"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["ada", "bob"]);
        let (status, list) = api.get("/api/rooms").await;
        assert_eq!(status, 200);
        let entry = list["rooms"].as_array().unwrap().iter().find(|r| r["code"] == code).cloned();
        assert_eq!(entry, Some(json!({"code": code, "members": 2})));
        let empty = api.create_room().await;
        assert!(!list["rooms"].as_array().unwrap().iter().any(|r| r["code"] == empty));
    }
}

#[tokio::test]
async fn create_room_answers_the_room_shape() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let (status, body) = node.api().post("/api/rooms", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(body["ok"], true);
    let room = &body["room"];
    let code = room["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(code
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert!(room["id"].is_i64());
    let created = room["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
}

#[tokio::test]
async fn rest_rate_limit_is_off_by_default_and_configurable() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("rest-send-rate", "2/10s")
        .start();
    let api = node.api();
    let code = api.create_room().await;
    assert_eq!(api.post_message(&code, "bot", "1").await.0, 201);
    assert_eq!(api.post_message(&code, "bot", "2").await.0, 201);
    let (status, body) = api.post_message(&code, "bot", "3").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let open = NodeSpec::new(&Backend::Sqlite).start();
    let api = open.api();
    let code = api.create_room().await;
    for i in 0..30 {
        assert_eq!(api.post_message(&code, "bot", &i.to_string()).await.0, 201);
    }
}

#[tokio::test]
async fn redis_without_postgresql_is_refused_at_start() {
    let mut config = chat_node::config::Config::defaults();
    config.redis_url = Some("redis://127.0.0.1:1".into());
    config.bind = "127.0.0.1:0".parse().unwrap();
    let refused = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match chat_node::start(config).await {
                Ok(_) => String::new(),
                Err(error) => error.to_string(),
            }
        })
    })
    .join()
    .unwrap();
    assert!(refused.contains("DATABASE_URL"), "{refused:?}");
}
