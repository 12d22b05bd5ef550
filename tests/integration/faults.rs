//! Faults of the parts around a node: the store goes away and comes back.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

/// A PostgreSQL server of this test's own, which it can crash and restart.
struct OwnPostgres {
    state: tempfile::TempDir,
    url: String,
}

impl OwnPostgres {
    fn script(&self, action: &str) -> std::process::Output {
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-test-instance.sh"
        ))
        .arg(action)
        .env("PG_TEST_STATE", self.state.path().join("pg.state"))
        .output()
        .expect("run postgres-test-instance.sh")
    }

    /// Starts one, when PostgreSQL tests are enabled at all.
    fn start() -> Option<OwnPostgres> {
        Backend::postgres()?;
        let mut pg = OwnPostgres {
            state: tempfile::tempdir().unwrap(),
            url: String::new(),
        };
        let out = pg.script("start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exports = String::from_utf8_lossy(&out.stdout);
        pg.url = exports
            .lines()
            .find_map(|l| l.strip_prefix("export TEST_DATABASE_URL="))
            .expect("url")
            .to_owned();
        Some(pg)
    }

    fn pause(&self) {
        assert!(self.script("pause").status.success());
    }

    fn resume(&self) {
        let out = self.script("resume");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

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
