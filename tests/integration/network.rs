//! Network faults between nodes and their services: PostgreSQL, Redis and two nodes each
//! run on a host of their own (a network namespace, see `netns.rs`), and the tests cut
//! their links under load. A cut is silent (no FIN, no RST), so only timeouts reveal it.
//!
//! The guarantees checked after every fault: no send is acked unless it is stored; no
//! acked message is lost; once the link is back, every message is stored exactly once
//! (clients resend with the same clientId until acked); the nodes recover by themselves;
//! `/api/ready` says 503 while a dependency is unreachable; and members on every node end
//! up with every message, in id order, without gaps.

use std::time::Duration;

use tokio::time::Instant;

use crate::audit::{audit, report};
use crate::lab::{readiness, Lab, RECOVERY_MAX};
use crate::roamer::Roamer;
use crate::traffic::{Load, Probes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_postgres_link_gives_errors_not_false_acks_and_loses_nothing() {
    let started = Instant::now();
    let Some(lab) = Lab::start().await else {
        return;
    };
    let nodes = lab.apis();
    let code = nodes[0].create_room().await;
    let load = Load::start(&nodes, &code, &[0, 0, 1, 1], &[0, 1]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut faults = Vec::new();
    if lab.net.delay("pg", "200ms") {
        // Slow is not down: sends go on, more slowly, and the node stays ready.
        tokio::time::sleep(Duration::from_secs(2)).await;
        lab.net.undelay("pg");
        assert_eq!(readiness(&nodes[0]).await, Some(200));
        faults.push("200 ms delay on the PostgreSQL link for 2 s");
    } else {
        eprintln!("note: tc netem is not available in this kernel: skipping the delay part");
    }

    let cut = Duration::from_secs(5);
    let seen = lab.cut("pg", cut, &[0, 1]).await;
    faults.push("PostgreSQL link cut for 5 s");
    for (node, readiness) in seen.iter().enumerate() {
        readiness.assert_unready(&format!("node{}", node + 1), Duration::from_secs(3));
    }
    let recovered = [
        lab.wait_ready(0, RECOVERY_MAX).await,
        lab.wait_ready(1, RECOVERY_MAX).await,
    ];
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (mut clients, listeners) = load.stop().await;
    clients.extend(listeners);
    let audit = audit(&nodes[1], &code, &mut clients).await;
    // The cut was felt, and every send during it was answered with `unavailable`, never
    // left hanging, and never acked unless stored (checked by the audit).
    assert!(
        audit
            .trouble
            .refused
            .get("unavailable")
            .copied()
            .unwrap_or(0)
            > 0,
        "no send was refused during the cut: {:?}",
        audit.trouble
    );
    assert_eq!(
        audit.trouble.refusals(),
        audit.trouble.refused["unavailable"],
        "only `unavailable`: {:?}",
        audit.trouble.refused
    );
    assert_eq!(audit.trouble.unanswered, 0, "a send went unanswered");
    eprintln!(
        "network figures: postgres cut: 503 after {:?} / {:?}; ready again {:?} / {:?} after the link came back",
        seen[0].first_503, seen[1].first_503, recovered[0], recovered[1]
    );
    report("postgres link cut", &faults.join(", "), &audit, started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_redis_link_heals_by_itself_and_every_member_gets_everything() {
    let started = Instant::now();
    let Some(mut lab) = Lab::start().await else {
        return;
    };
    let nodes = lab.apis();
    let code = nodes[0].create_room().await;
    let load = Load::start(&nodes, &code, &[0, 1], &[0, 1]).await;
    let probes = Probes::start(&nodes).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. The link is cut and comes back: sends go on through the store all along.
    let cut = Duration::from_secs(4);
    let acks_before = load.acks();
    let seen = lab.cut("redis", cut, &[0, 1]).await;
    let acked_during_cut = load.acks() - acks_before;
    assert!(
        acked_during_cut >= 10,
        "sends stalled while Redis was cut: {acked_during_cut} acked"
    );
    for (node, readiness) in seen.iter().enumerate() {
        readiness.assert_unready(&format!("node{}", node + 1), Duration::from_secs(3));
    }
    let recovered = [
        lab.wait_ready(0, RECOVERY_MAX).await,
        lab.wait_ready(1, RECOVERY_MAX).await,
    ];

    // 2. Cut again, and the Redis host reboots behind the cut (Redis comes back empty,
    //    and its kernel has forgotten every connection): nothing tells the nodes that
    //    their subscriptions are gone.
    lab.net.cut("redis");
    lab.redis.stop();
    lab.net.reboot("redis");
    lab.redis.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab.net.heal("redis");
    let recovered_after_restart = [
        lab.wait_ready(0, RECOVERY_MAX).await,
        lab.wait_ready(1, RECOVERY_MAX).await,
    ];

    // Live delivery across nodes is back, both ways.
    let slowest = probes.check(3).await;
    let (senders, listeners) = load.stop().await;

    let mut clients = senders;
    clients.extend(listeners);
    let audit = audit(&nodes[1], &code, &mut clients).await;
    assert_eq!(
        audit.trouble.refusals(),
        0,
        "a send failed: {:?}",
        audit.trouble
    );
    // A client that comes back with sinceId = 0 finds every message.
    let mut late_joiner = nodes[1].connect().await;
    let ack = late_joiner.join(&code, "late", Some(0)).await;
    assert_eq!(
        ack["data"]["missed"].as_array().unwrap().len(),
        audit.stored
    );
    eprintln!(
        "network figures: redis cut: {acked_during_cut} acked during the cut; 503 after {:?} / {:?}; \
         ready again {:?} / {:?}; after the reboot behind the cut {:?} / {:?}; \
         slowest probe {slowest:?}",
        seen[0].first_503,
        seen[1].first_503,
        recovered[0],
        recovered[1],
        recovered_after_restart[0],
        recovered_after_restart[1]
    );
    report(
        "redis link cut",
        "Redis link cut for 4 s; cut again for 2 s while the Redis host reboots",
        &audit,
        started,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_node_loses_its_clients_to_the_other_and_rejoins() {
    let started = Instant::now();
    let Some(lab) = Lab::start().await else {
        return;
    };
    let nodes = lab.apis();
    let code = nodes[0].create_room().await;
    // Two senders and a listener on node 1, which is about to be cut off; one of each on
    // node 2.
    let load = Load::start(&nodes, &code, &[0, 0, 1], &[0, 1]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let cut = Duration::from_secs(8);
    let seen = lab.cut("node1", cut, &[1]).await;
    assert!(
        seen[0].first_503.is_none(),
        "node 2 was not ready while node 1 was cut off"
    );
    let recovered = lab.wait_ready(0, RECOVERY_MAX).await;

    // Node 1 is back in the cluster: messages cross between the nodes live again, and a
    // client there takes part (its view of the room is checked by the audit).
    let slowest = Probes::start(&nodes).await.check(3).await;
    let mut back = Roamer::join(nodes.clone(), 0, &code, "back").await;
    assert_eq!(back.node(), 0);
    back.send("back-0", "back on node 1").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (senders, listeners) = load.stop().await;
    for sender in &senders[..2] {
        assert!(
            sender.trouble.moves > 0,
            "a client of the cut-off node did not move"
        );
    }

    let mut clients = senders;
    clients.extend(listeners);
    clients.push(back);
    let audit = audit(&nodes[0], &code, &mut clients).await;
    eprintln!(
        "network figures: node cut: node 1 ready again {recovered:?} after its link came back; \
         slowest probe {slowest:?}"
    );
    report(
        "node partition",
        "node 1's link cut for 8 s (its clients, PostgreSQL and Redis all unreachable)",
        &audit,
        started,
    );
}
