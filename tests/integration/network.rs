//! Network faults between nodes and their services: PostgreSQL, Redis and two nodes each
//! run on a host of their own (a network namespace, see `netns.rs`), and the tests cut
//! their links under load. A cut is silent (no FIN, no RST), so only timeouts reveal it.
//!
//! The guarantees checked after every fault: no send is acked unless it is stored; no
//! acked message is lost; once the link is back, every message is stored exactly once
//! (clients resend with the same clientId until acked); the nodes recover by themselves;
//! `/api/ready` says 503 while a dependency is unreachable; and members on every node end
//! up with every message, in id order, without gaps.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::netns::Network;
use crate::own_postgres::OwnPostgres;
use crate::roamer::{Roamer, Trouble};
use crate::support::*;

/// Store and broker timeouts of the nodes under test: short, so that faults show quickly.
const DB_TIMEOUT: &str = "1s";
const DB_TCP_TIMEOUT: &str = "3s";
const REDIS_TIMEOUT: &str = "1s";
/// Pause between two sends of one client: a steady load, not a flood.
const SEND_PAUSE: Duration = Duration::from_millis(100);
/// Longest a node may take to be ready again once its link is back.
const RECOVERY_MAX: Duration = Duration::from_secs(20);
/// A message pushed through Redis arrives within this (the store is polled only every
/// second while the broker is known to be down, and every ten seconds otherwise).
const LIVE_MAX: Duration = Duration::from_millis(1000);

/// The hosts of one test and what runs on them; fields drop in order, so the processes
/// stop before their network goes away.
struct Lab {
    nodes: Vec<ChildNode>,
    redis: RedisServer,
    _pg: OwnPostgres,
    net: Network,
}

impl Lab {
    /// PostgreSQL, Redis and two nodes on hosts `pg`, `redis`, `node1` and `node2`; `None`
    /// (skip) when namespaces, PostgreSQL or Redis are not available here.
    async fn start() -> Option<Lab> {
        Backend::postgres()?;
        let net = Network::create(&["pg", "redis", "node1", "node2"])?;
        let pg = OwnPostgres::start_in(&net.host("pg").netns, net.host("pg").ip);
        let redis = RedisServer::start_in(&net.host("redis").netns, net.host("redis").ip).await?;
        let mut nodes = Vec::new();
        for name in ["node1", "node2"] {
            let host = net.host(name);
            let spec = NodeSpec::new(&Backend::Postgres(pg.url.clone()))
                .in_netns(&host.netns, host.ip)
                .flag("redis-url", &redis.url())
                .flag("node-id", &host.netns)
                .flag("presence-ttl", "2s")
                .flag("send-rate", "0")
                .flag("outbound-queue", "8192")
                .flag("missed-max", "5000")
                .flag("db-timeout", DB_TIMEOUT)
                .flag("db-tcp-timeout", DB_TCP_TIMEOUT)
                .flag("redis-timeout", REDIS_TIMEOUT);
            nodes.push(spec.spawn(0).await);
        }
        let lab = Lab {
            nodes,
            redis,
            _pg: pg,
            net,
        };
        for node in 0..2 {
            lab.wait_ready(node, RECOVERY_MAX).await;
        }
        Some(lab)
    }

    fn api(&self, node: usize) -> Api {
        self.nodes[node].api()
    }

    fn apis(&self) -> Vec<Api> {
        (0..self.nodes.len()).map(|node| self.api(node)).collect()
    }

    /// Waits until `/api/ready` of `node` says 200; returns how long that took.
    async fn wait_ready(&self, node: usize, within: Duration) -> Duration {
        let started = Instant::now();
        while readiness(&self.api(node)).await != Some(200) {
            assert!(
                started.elapsed() < within,
                "node {} not ready {within:?} after its link came back",
                node + 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    }

    /// Keeps `host` cut off for `cut`, asking the readiness of `watched` nodes all along.
    async fn cut(&self, host: &str, cut: Duration, watched: &[usize]) -> Vec<Readiness> {
        self.net.cut(host);
        let started = Instant::now();
        let mut seen = vec![Readiness::default(); watched.len()];
        while started.elapsed() < cut {
            for (slot, &node) in watched.iter().enumerate() {
                let status = readiness(&self.api(node)).await;
                seen[slot].record(status, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.net.heal(host);
        seen
    }
}

/// `GET /api/ready`: its status, or `None` when there was no answer within 3 s.
async fn readiness(api: &Api) -> Option<u16> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let url = format!("http://{}/api/ready", api.addr);
    http.get(url).send().await.ok().map(|r| r.status().as_u16())
}

/// What a node's readiness said during a cut.
#[derive(Debug, Default, Clone)]
struct Readiness {
    /// When it first said 503.
    first_503: Option<Duration>,
    /// Answers other than 503 after that (200, or none at all).
    wrong_after_503: usize,
    /// Answers before it said 503.
    before_503: usize,
}

impl Readiness {
    fn record(&mut self, status: Option<u16>, at: Duration) {
        match (status, self.first_503) {
            (Some(503), None) => self.first_503 = Some(at),
            (Some(503), Some(_)) => {}
            (_, Some(_)) => self.wrong_after_503 += 1,
            (_, None) => self.before_503 += 1,
        }
    }

    /// Asserts that the node said 503 within `within` of the cut, and kept saying it.
    fn assert_unready(&self, node: &str, within: Duration) {
        let first = self
            .first_503
            .unwrap_or_else(|| panic!("{node}: /api/ready never said 503 during the cut"));
        assert!(first <= within, "{node}: 503 only after {first:?}");
        assert_eq!(
            self.wrong_after_503, 0,
            "{node}: /api/ready said something else than 503 during the cut"
        );
    }
}

/// Clients that send (or only listen) in one room until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    /// Acks received so far, by all senders.
    acks: Arc<AtomicUsize>,
    senders: Vec<JoinHandle<Roamer>>,
    listeners: Vec<JoinHandle<Roamer>>,
}

impl Load {
    /// Starts a sender on each node of `senders_at` and a listener on each of
    /// `listeners_at` (indexes into `nodes`). Each sender starts sending as soon as it
    /// has joined, so the later ones join a room whose messages are committing.
    async fn start(
        nodes: &[Api],
        code: &str,
        senders_at: &[usize],
        listeners_at: &[usize],
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        for (who, &at) in senders_at.iter().enumerate() {
            let mut roamer = Roamer::join(nodes.to_vec(), at, code, &format!("s{who}")).await;
            let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
            senders.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let client_id = format!("s{who}-{n}");
                    roamer.send(&client_id, &client_id).await;
                    acks.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    roamer.listen(SEND_PAUSE).await;
                }
                roamer
            }));
        }
        let mut listeners = Vec::new();
        for (who, &at) in listeners_at.iter().enumerate() {
            let mut roamer = Roamer::join(nodes.to_vec(), at, code, &format!("l{who}")).await;
            let stop = Arc::clone(&stop);
            listeners.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    roamer.listen(Duration::from_millis(200)).await;
                }
                roamer
            }));
        }
        Load {
            stop,
            acks,
            senders,
            listeners,
        }
    }

    /// Acks received so far.
    fn acks(&self) -> usize {
        self.acks.load(Ordering::Relaxed)
    }

    /// Stops the clients (each finishes the message it is sending) and hands them back.
    async fn stop(self) -> (Vec<Roamer>, Vec<Roamer>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut senders = Vec::new();
        for sender in self.senders {
            senders.push(sender.await.unwrap());
        }
        let mut listeners = Vec::new();
        for listener in self.listeners {
            listeners.push(listener.await.unwrap());
        }
        (senders, listeners)
    }
}

/// Measures live delivery between the nodes. In each of two rooms one node only writes and
/// the other only reads, so a message reaches the reader through Redis or not at all (until
/// the store is polled, seconds later): in a room where the reader's node also has a
/// writer, the next local commit would fill the gap from the store and hide a dead
/// subscription. Everyone joins at the start, so that the subscriptions checked are the
/// ones made then (a new subscription would itself reveal a dead connection).
struct Probes {
    /// The writer of room `i`, on node `i`.
    writers: Vec<Roamer>,
    /// The reader of room `i`, on the other node.
    readers: Vec<Load>,
}

impl Probes {
    async fn start(nodes: &[Api]) -> Probes {
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for node in 0..2 {
            let room = nodes[node].create_room().await;
            writers.push(Roamer::join(nodes.to_vec(), node, &room, "writer").await);
            readers.push(Load::start(nodes, &room, &[], &[1 - node]).await);
        }
        Probes { writers, readers }
    }

    /// Sends `rounds` probes from each node and checks that every one is pushed on the
    /// other node within [`LIVE_MAX`] of its ack; returns the slowest.
    async fn check(self, rounds: usize) -> Duration {
        let mut writers = self.writers;
        for round in 0..rounds {
            for writer in writers.iter_mut() {
                let client_id = format!("probe-{round}");
                writer.send(&client_id, &client_id).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut slowest = Duration::ZERO;
        let mut late = Vec::new();
        for (node, (writer, readers)) in writers.iter().zip(self.readers).enumerate() {
            assert_eq!(writer.node(), node, "the writer moved to another node");
            let (_, readers) = readers.stop().await;
            let reader = &readers[0];
            assert_ne!(reader.node(), node, "the reader moved to the writer's node");
            for (client_id, (message, acked_at)) in &writer.acked {
                let id = message["id"].as_i64().unwrap();
                match reader.pushed_at.get(&id) {
                    Some(at) if at.saturating_duration_since(*acked_at) <= LIVE_MAX => {
                        slowest = slowest.max(at.saturating_duration_since(*acked_at));
                    }
                    arrival => late.push((
                        node + 1,
                        client_id.clone(),
                        arrival.map(|at| at.saturating_duration_since(*acked_at)),
                    )),
                }
            }
        }
        assert!(
            late.is_empty(),
            "not pushed live to the other node (from node, probe, after): {late:?}"
        );
        slowest
    }
}

/// The final reckoning of one test.
struct Audit {
    acked: usize,
    stored: usize,
    lost: usize,
    duplicated: usize,
    trouble: Trouble,
}

/// Checks the store against what was acked: every acked message is stored, once, as it
/// was acked, and nothing else is (every client resent until acked). Then every client,
/// as a member of the room, must have received exactly the store's sequence: one more
/// message is sent through `api` first, so that each has had its chance to fill any gap.
async fn audit(api: &Api, code: &str, clients: &mut [Roamer]) -> Audit {
    let mut acked: HashMap<String, Value> = HashMap::new();
    let mut trouble = Trouble::default();
    for client in clients.iter() {
        trouble.add(&client.trouble);
        for (client_id, (message, _)) in &client.acked {
            acked.insert(client_id.clone(), message.clone());
        }
    }
    let (status, last) = api
        .post(
            "/api/messages",
            json!({"roomCode": code, "sender": "auditor", "content": "the end", "clientId": "last"}),
        )
        .await;
    assert_eq!(status, 201, "{last}");
    acked.insert("last".into(), last["message"].clone());

    let stored = api.all_messages(code).await;
    let mut seen = HashSet::new();
    let duplicated = stored
        .iter()
        .filter(|m| !seen.insert(m["clientId"].as_str().unwrap().to_owned()))
        .count();
    let lost = acked
        .iter()
        .filter(|(id, message)| {
            !stored
                .iter()
                .any(|m| m["clientId"] == **id && m == *message)
        })
        .count();
    let audit = Audit {
        acked: acked.len(),
        stored: stored.len(),
        lost,
        duplicated,
        trouble,
    };
    assert_eq!(audit.lost, 0, "acked messages lost");
    assert_eq!(audit.duplicated, 0, "messages stored twice");
    assert_eq!(
        audit.stored, audit.acked,
        "stored messages nobody was acked for"
    );

    let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let last_id = *ids.last().unwrap();
    for member in clients.iter_mut() {
        member.catch_up_to(last_id, Duration::from_secs(20)).await;
        let received = member.received_ids();
        if received != ids {
            let missing: Vec<i64> = ids
                .iter()
                .filter(|id| !received.contains(id))
                .copied()
                .collect();
            let extra: Vec<i64> = received
                .iter()
                .filter(|id| !ids.contains(id))
                .copied()
                .collect();
            let first = received.iter().zip(&ids).position(|(a, b)| a != b);
            panic!(
                "{}: messages differ from the store's: missing {missing:?}, extra {extra:?}, \
                 first difference at {first:?} of {} received / {} stored; moves {}; \
                 its first events: {:?}; the store's first ids: {:?}",
                member.nickname(),
                received.len(),
                ids.len(),
                member.trouble.moves,
                member.log,
                &ids[..ids.len().min(12)]
            );
        }
    }
    audit
}

/// Prints one line of figures for docs/reliability.md.
fn report(test: &str, faults: &str, audit: &Audit, started: Instant) {
    let t = &audit.trouble;
    eprintln!(
        "network figures: {test}: faults: {faults}; WebSocket sends {} (with resends), \
         acked {} (with the closing REST one), refused {:?}, unanswered {}, moves {}, stored {}, lost {}, duplicated {}, {:.1} s",
        t.sends,
        audit.acked,
        t.refused,
        t.unanswered,
        t.moves,
        audit.stored,
        audit.lost,
        audit.duplicated,
        started.elapsed().as_secs_f64()
    );
}

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
