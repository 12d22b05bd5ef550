//! The plain reference peer (`src/bin/plain-peer.rs`) speaks enough of the protocol for the
//! load test's scenarios: a tiny burst and fanout against it, on the PostgreSQL of
//! `TEST_DATABASE_URL`, deliver every acked message to every member, with no error. Without
//! this, a `compare` against the peer could silently measure a server that refuses the load.
//!
//! Skipped when `TEST_DATABASE_URL` is not set, unless `CHAT_REQUIRE_POSTGRES=1`.

// A failed unwrap in a helper is a failed test, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use chat_loadtest::outcome::Outcome;
use chat_loadtest::report;
use chat_loadtest::scenario::burst::BurstConfig;
use chat_loadtest::scenario::fanout::FanoutConfig;
use common::{tiny_burst, tiny_fanout, Server};

/// `TEST_DATABASE_URL`, or `None` (skip) unless `CHAT_REQUIRE_POSTGRES=1`: the rule of the
/// node's tests (`tests/common/mod.rs`, another crate's test module, so not importable here).
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

async fn start_peer(database_url: &str) -> Server {
    let port = common::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_plain-peer"));
    command
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url, "--pool-size", "4"]);
    common::start(command, port, None).await
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
    let env = common::env(&peer).await;

    let burst = BurstConfig {
        duration: 1.0,
        ..tiny_burst()
    };
    let mut o = chat_loadtest::scenario::burst::run(&env, &burst)
        .await
        .unwrap();
    o.judge(0);
    assert_delivered(&o, 2);

    let fanout = FanoutConfig {
        duration: 1.0,
        ..tiny_fanout()
    };
    let mut o = chat_loadtest::scenario::fanout::run(&env, &fanout)
        .await
        .unwrap();
    o.judge(0);
    assert_delivered(&o, 4);
}
