//! Faults of the parts around a node: the store goes away and comes back.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::own_postgres::OwnPostgres;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_never_gives_a_false_ack_and_loses_nothing() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let spec = NodeSpec::new(&Backend::Postgres(pg.url.clone())).flag("send-rate", "0");
    let node = spec.spawn(0).await;
    let api = node.api();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let mut acked: HashMap<String, Value> = HashMap::new();
    let mut failed: Vec<String> = Vec::new();
    let send = |n: usize| json!({"roomCode": code, "content": format!("m{n}"), "clientId": format!("c{n}")});
    for n in 0..20 {
        let ack = ada.request("chat:send", send(n)).await;
        assert_eq!(ack["ok"], true, "{ack}");
        acked.insert(format!("c{n}"), ack["data"]["message"].clone());
    }
    pg.pause();
    // While the store is down: readiness says so, and sends are refused, never acked.
    let (status, ready) = api.get("/api/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["error"]["code"], "unavailable");
    // It names the dependency, and tells nothing of the driver's error (host, port, user).
    assert_eq!(ready["failed"], "store", "{ready}");
    let said = ready["error"]["message"].as_str().unwrap();
    assert!(
        !said.contains("127.0.0.1") && !said.contains("postgres") && !said.contains("connect"),
        "{said}"
    );
    for n in 20..25 {
        let ack = ada.request("chat:send", send(n)).await;
        assert_eq!(
            ack["ok"], false,
            "a send during the outage was acked: {ack}"
        );
        assert_eq!(ack["error"]["code"], "unavailable", "{ack}");
        failed.push(format!("c{n}"));
    }
    pg.resume();
    eventually("the node is ready again", || {
        let api = api.clone();
        async move { api.get("/api/ready").await.0 == 200 }
    })
    .await;
    // The pool reconnected by itself: retries (same clientId) and new sends commit.
    for n in 20..30 {
        let mut attempts = 0;
        let ack = loop {
            let ack = ada.request("chat:send", send(n)).await;
            attempts += 1;
            if ack["ok"] == true || attempts == 20 {
                break ack;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(ack["ok"], true, "{ack}");
        acked.insert(format!("c{n}"), ack["data"]["message"].clone());
    }
    // Every acked message is in history exactly once, and nothing else is.
    let stored = api.all_messages(&code).await;
    assert_eq!(stored.len(), acked.len());
    for message in &stored {
        let client_id = message["clientId"].as_str().unwrap();
        assert_eq!(acked.get(client_id), Some(message), "{client_id}");
    }
    assert_eq!(failed.len(), 5);
}

/// A database that hangs (its processes frozen: connections stay open, nothing answers)
/// makes `/api/ready` say 503 within `--ready-timeout`, inside a load balancer's probe
/// timeout, however long the store itself would wait; once the database runs again the
/// node is ready again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_in_time_while_the_database_hangs() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let node = NodeSpec::new(&Backend::Postgres(pg.url.clone()))
        .flag("db-timeout", "10s")
        .flag("ready-timeout", "1s")
        .spawn(0)
        .await;
    let api = node.api();
    assert_eq!(api.get("/api/ready").await.0, 200);

    pg.freeze();
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let answer = probe
        .get(format!("http://{}/api/ready", api.addr))
        .send()
        .await;
    let waited = started.elapsed();
    pg.thaw();

    let response = answer.expect("/api/ready answers while the database hangs");
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(body["failed"], "store", "{body}");
    assert!(waited < Duration::from_secs(3), "503 only after {waited:?}");
    eventually("the node is ready again", || {
        let api = api.clone();
        async move { api.get("/api/ready").await.0 == 200 }
    })
    .await;
}
