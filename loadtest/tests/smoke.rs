//! Smoke run: starts the real chat node (embedded store, rate limit off) on a free port and
//! runs tiny fanout, burst and connections scenarios through the library API, plain and
//! with a mixed workload (replies, edits, reactions). Fails when a message is lost, a change
//! check is violated, nothing (or some kind) got through, or any error was counted.
//!
//! Needs the node binary: `cargo build --bin chat-node` first.

// A failed unwrap in a helper is a failed test, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use chat_loadtest::mix::OpKind;
use chat_loadtest::outcome::Outcome;
use chat_loadtest::report;
use chat_loadtest::scenario::burst::BurstConfig;
use chat_loadtest::scenario::connections::ConnectionsConfig;
use chat_loadtest::scenario::fanout::FanoutConfig;
use common::{env, tiny_burst, tiny_fanout, Server};

fn node_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/chat-node");
    assert!(
        bin.exists(),
        "the node binary {} is missing: run `cargo build --bin chat-node` before this test",
        bin.display()
    );
    bin
}

/// The node on a free port, embedded store in a temporary directory, rate limit off.
async fn start_node() -> Server {
    let port = common::free_port();
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(node_binary());
    command
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--send-rate", "0", "--static-dir", "/nonexistent"])
        .env("RUST_LOG", "warn");
    common::start(command, port, Some(data)).await
}

fn assert_clean(o: &Outcome, members: u64) {
    let t = o.traffic.as_ref().unwrap();
    print!("{}", report::summary(o));
    assert_eq!(o.error_total, 0, "errors: {:?}", o.errors);
    assert_eq!(t.members_failed, 0);
    assert_eq!(t.loss.lost, 0, "lost: {:?}", t.loss.examples);
    assert_eq!(t.loss.out_of_order, 0);
    assert!(t.acks > 0 && t.acks_per_s > 0.0 && t.pushes_per_s > 0.0);
    assert_eq!(
        t.pushes,
        t.acks * members,
        "every acked message reaches every member"
    );
    assert!(t.latency.count > 0 && t.latency.p99_ms > 0.0);
    assert!(!o.timeline.is_empty());
    assert!(o.passed(), "{:?}", o.failures);
    assert!(report::html(o).contains("<svg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_burst_and_connections_lose_nothing() {
    let node = start_node().await;
    let env = env(&node).await;

    let mut o = chat_loadtest::scenario::fanout::run(&env, &tiny_fanout())
        .await
        .unwrap();
    o.judge(0);
    assert_clean(&o, 4);
    // The JSON result round-trips.
    let json = serde_json::to_string(&o).unwrap();
    let back = serde_json::from_str::<Outcome>(&json).unwrap();
    assert_eq!(back.traffic.unwrap().loss, o.traffic.as_ref().unwrap().loss);
    assert!(
        o.traffic.as_ref().unwrap().mix.is_none(),
        "no --mix: plain run"
    );
    assert!(!json.contains("\"mix\""), "a plain result has no mix key");

    let mut o = chat_loadtest::scenario::burst::run(&env, &tiny_burst())
        .await
        .unwrap();
    o.judge(0);
    assert_clean(&o, 2);

    let conns = ConnectionsConfig {
        sessions: 40,
        rooms: 4,
        hold: 1.0,
        sample_every: 0.5,
    };
    let mut o = chat_loadtest::scenario::connections::run(&env, &conns)
        .await
        .unwrap();
    o.judge(0);
    print!("{}", report::summary(&o));
    let c = o.connections.as_ref().unwrap();
    assert_eq!(c.connected, 40, "errors: {:?}", o.errors);
    assert_eq!(c.dropped, 0);
    assert!(c.connects_per_s > 0.0);
    assert!(c.server_kib_per_session.is_some());
    assert!(o.passed(), "{:?}", o.failures);
}

/// What a clean mixed run must show: every kind acked and delivered to the other members,
/// and every change check at zero with something actually checked.
fn assert_mixed_clean(o: &Outcome, members: u64) {
    assert_clean(o, members);
    let t = o.traffic.as_ref().unwrap();
    let m = t.mix.as_ref().expect("a mixed run reports its mix");
    let c = &m.changes;
    assert_eq!(
        c.violations(),
        0,
        "{:?} {:?}",
        c.examples,
        c.history.examples
    );
    assert!(c.acked_changes > 0 && c.expected_update_deliveries > 0);
    assert!(c.history.checked > 0, "the final states were compared");
    assert_eq!(m.kinds.len(), OpKind::ALL.len());
    for row in &m.kinds {
        assert!(row.acked > 0, "no {} was acked: {:?}", row.kind, m.kinds);
        assert_eq!(row.refused, 0, "{row:?}");
        assert!(
            row.ack_latency.count > 0 && row.ack_latency.p50_ms > 0.0,
            "{row:?}"
        );
        assert!(
            row.delivery_latency.count > 0,
            "no {} reached another member",
            row.kind
        );
    }
    let acked: u64 = m.kinds.iter().map(|r| r.acked).sum();
    assert_eq!(acked, t.acks, "every ack is counted under its kind");
    // A changed message is pushed as an update to every member, like a new message.
    assert_eq!(c.expected_update_deliveries, c.acked_changes * members);
}

fn mix_of(o: &Outcome) -> &chat_loadtest::outcome::MixSummary {
    o.traffic.as_ref().and_then(|t| t.mix.as_ref()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_workload_has_no_violations() {
    let node = start_node().await;
    let env = env(&node).await;
    let mix = "send=40,reply=15,edit=15,react=20,unreact=10"
        .parse()
        .unwrap();

    // Open loop: several operations of one member in flight at once.
    let fanout = FanoutConfig {
        rooms: 2,
        senders: 4,
        rate: 25.0,
        mix: Some(mix),
        seed: 7,
        ..tiny_fanout()
    };
    let mut o = chat_loadtest::scenario::fanout::run(&env, &fanout)
        .await
        .unwrap();
    o.judge(0);
    assert_mixed_clean(&o, 4);
    let json = serde_json::to_string(&o).unwrap();
    let back = serde_json::from_str::<Outcome>(&json).unwrap();
    let (back, summary) = (back.traffic.unwrap().mix.unwrap(), mix_of(&o));
    assert_eq!(back.changes, summary.changes);
    let acked = |m: &chat_loadtest::outcome::MixSummary| {
        m.kinds.iter().map(|k| k.acked).collect::<Vec<_>>()
    };
    assert_eq!(acked(&back), acked(summary));

    // Closed loop: the next operation when the last is acked.
    let burst = BurstConfig {
        mix: Some(mix),
        seed: 7,
        ..tiny_burst()
    };
    let mut o = chat_loadtest::scenario::burst::run(&env, &burst)
        .await
        .unwrap();
    o.judge(0);
    assert_mixed_clean(&o, 2);
}
