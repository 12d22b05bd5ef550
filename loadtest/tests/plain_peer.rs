//! The plain reference peer (`src/bin/plain-peer.rs`) speaks enough of the protocol for the
//! load test's scenarios: a tiny burst and fanout against it, on the PostgreSQL of
//! `TEST_DATABASE_URL`, deliver every acked message to every member, with no error. Without
//! this, a `compare` against the peer could silently measure a server that refuses the load.
//!
//! Skipped when `TEST_DATABASE_URL` is not set, unless `CHAT_REQUIRE_POSTGRES=1`.

// A failed unwrap in a helper is a failed test, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_loadtest::outcome::Outcome;
use chat_loadtest::scenario::burst::BurstConfig;
use chat_loadtest::scenario::fanout::FanoutConfig;
use chat_loadtest::scenario::Env;
use chat_loadtest::target::Targets;
use chat_loadtest::{http, report};

/// The peer process, killed when the test ends, however it ends.
struct Peer {
    child: Child,
    url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let required = std::env::var("CHAT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "CHAT_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
            );
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            None
        }
    }
}

async fn start_peer(database_url: &str) -> Peer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_plain-peer"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url, "--pool-size", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let peer = Peer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let targets = Targets::new(std::slice::from_ref(&peer.url), vec![])
        .await
        .unwrap();
    let client = http::client().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http::healthy(&client, &targets.nodes[0]).await {
        assert!(Instant::now() < deadline, "the peer did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peer
}

/// Every acked message reached every member; nothing was refused. (Not checked: the order
/// of pushes, which the peer does not keep across concurrent senders.)
fn assert_delivered(o: &Outcome, members: u64) {
    let t = o.traffic.as_ref().unwrap();
    print!("{}", report::summary(o));
    assert_eq!(o.error_total, 0, "errors: {:?}", o.errors);
    assert_eq!(t.members_failed, 0);
    assert_eq!(t.loss.lost, 0, "lost: {:?}", t.loss.examples);
    assert!(t.acks > 0, "nothing was acked");
    assert_eq!(t.pushes, t.acks * members);
    assert!(o.passed(), "{:?}", o.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_tests_scenarios_run_against_the_plain_peer() {
    let Some(url) = postgres_url() else {
        return;
    };
    let peer = start_peer(&url).await;
    let env = Env {
        targets: Targets::new(std::slice::from_ref(&peer.url), vec![])
            .await
            .unwrap(),
        server_pid: Some(peer.child.id()),
        progress: false,
    };

    let burst = BurstConfig {
        rooms: 2,
        members: 2,
        senders: 2,
        window: 1,
        duration: 1.0,
        grace: 5.0,
        content_bytes: 16,
        sample_every: 0.5,
        mix: None,
        seed: 1,
    };
    let mut o = chat_loadtest::scenario::burst::run(&env, &burst)
        .await
        .unwrap();
    o.judge(0);
    assert_delivered(&o, 2);

    let fanout = FanoutConfig {
        rooms: 3,
        members: 4,
        senders: 2,
        rate: 20.0,
        duration: 1.0,
        grace: 5.0,
        content_bytes: 16,
        sample_every: 0.5,
        mix: None,
        seed: 1,
    };
    let mut o = chat_loadtest::scenario::fanout::run(&env, &fanout)
        .await
        .unwrap();
    o.judge(0);
    assert_delivered(&o, 4);
}
