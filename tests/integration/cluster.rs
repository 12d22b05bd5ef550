//! Several node processes sharing one PostgreSQL and one Redis behave as one chat.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

/// Presence of a dead node expires after this (the nodes run with it).
const PRESENCE_TTL: &str = "2s";

/// Three (or `n`) nodes, one Redis, one PostgreSQL database.
pub(crate) struct Cluster {
    redis: RedisServer,
    specs: Vec<NodeSpec>,
    nodes: Vec<Option<ChildNode>>,
}

impl Cluster {
    pub(crate) async fn start(n: usize) -> Option<Cluster> {
        Cluster::start_with(n, &[]).await
    }

    /// `n` nodes with `flags` added to the usual ones.
    pub(crate) async fn start_with(n: usize, flags: &[(&str, &str)]) -> Option<Cluster> {
        let postgres = Backend::postgres()?;
        let redis = RedisServer::start().await?;
        let mut specs = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let spec = NodeSpec::new(&postgres)
                .flag("redis-url", &redis.url())
                .flag("node-id", &format!("node-{i}-{}", free_port()))
                .flag("presence-ttl", PRESENCE_TTL)
                .flag("send-rate", "0")
                .flag("room-create-rate", "0")
                // These tests are about order and loss, on a machine that runs three nodes,
                // their stores and the clients on two cores: no client is slow by design.
                .flag("outbound-queue", "8192");
            let spec = flags
                .iter()
                .fold(spec, |spec, (name, value)| spec.flag(name, value));
            nodes.push(Some(spec.spawn(0).await));
            specs.push(spec);
        }
        let cluster = Cluster {
            redis,
            specs,
            nodes,
        };
        for i in 0..n {
            let api = cluster.api(i);
            eventually("node ready (broker subscribed)", || {
                let api = api.clone();
                async move { api.get("/api/ready").await.0 == 200 }
            })
            .await;
        }
        Some(cluster)
    }

    pub(crate) fn api(&self, i: usize) -> Api {
        self.nodes[i].as_ref().expect("node running").api()
    }

    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.kill();
        }
    }
}

/// `ada` in the room on `a`, then `bob` on `b`, once `ada` has heard that `bob` joined.
async fn ada_on_a_and_bob_on_b(a: &Api, b: &Api, code: &str) -> (Client, Client) {
    let mut ada = a.joined(code, "ada").await;
    let bob = b.joined(code, "bob").await;
    ada.next_event("presence").await;
    (ada, bob)
}

fn nicknames(members: &Value) -> Vec<String> {
    let mut names: Vec<String> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nickname"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_messages_presence_and_typing() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (a, b, c) = (cluster.api(0), cluster.api(1), cluster.api(2));
    let code = a.create_room().await;
    let mut ada = a.joined(&code, "ada").await;
    let mut bob = b.connect().await;
    let ack = bob.join(&code, "bob", None).await;
    assert_eq!(
        nicknames(&ack["data"]["members"]),
        ["ada", "bob"],
        "members across nodes"
    );
    let seen = ada.next_event("presence").await;
    assert_eq!(
        (
            seen["data"]["joined"].as_str(),
            seen["data"]["count"].as_i64()
        ),
        (Some("bob"), Some(2))
    );
    let mut carol = c.joined(&code, "carol").await;
    for client in [&mut ada, &mut bob] {
        let seen = client.next_event("presence").await;
        assert_eq!(
            (
                seen["data"]["joined"].as_str(),
                seen["data"]["count"].as_i64()
            ),
            (Some("carol"), Some(3))
        );
    }
    // A message sent on one node is pushed exactly once to each member on every node.
    let ack = ada.say(&code, "from A").await;
    let message = ack["data"]["message"].clone();
    for client in [&mut ada, &mut bob, &mut carol] {
        assert_eq!(client.next_event("chat:message").await["data"], message);
    }
    // REST on C reaches members on A and B.
    let (status, posted) = c.post_message(&code, "bot", "via REST on C").await;
    assert_eq!(status, 201);
    for client in [&mut ada, &mut bob, &mut carol] {
        assert_eq!(
            client.next_event("chat:message").await["data"],
            posted["message"]
        );
    }
    for client in [&mut ada, &mut bob, &mut carol] {
        client
            .expect_no_event("chat:message", Duration::from_millis(300))
            .await;
    }
    // Typing crosses nodes, but not back to the typist.
    assert_eq!(
        bob.request("typing", json!({"roomCode": code, "typing": true}))
            .await["ok"],
        true
    );
    for client in [&mut ada, &mut carol] {
        let typing = client.next_event("typing").await;
        assert_eq!(
            (
                typing["data"]["nickname"].as_str(),
                typing["data"]["typing"].as_bool()
            ),
            (Some("bob"), Some(true))
        );
    }
    bob.expect_no_event("typing", Duration::from_millis(300))
        .await;
    // Listings count members on every node, asked on any node.
    for api in [&a, &b, &c] {
        let (_, list) = api.get("/api/rooms").await;
        let entry = list["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == code)
            .cloned();
        assert_eq!(entry, Some(json!({"code": code, "members": 3})));
        let (_, room) = api.get(&format!("/api/rooms/{code}")).await;
        assert_eq!(nicknames(&room["members"]), ["ada", "bob", "carol"]);
    }
    // Leaving on one node shows on the others.
    assert_eq!(
        carol.request("room:leave", json!({"code": code})).await["ok"],
        true
    );
    for client in [&mut ada, &mut bob] {
        let left = client.next_event("presence").await;
        assert_eq!(
            (
                left["data"]["left"].as_str(),
                left["data"]["count"].as_i64()
            ),
            (Some("carol"), Some(2))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publish_per_message_and_no_traffic_to_uninvolved_nodes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (a, b, c) = (cluster.api(0), cluster.api(1), cluster.api(2));
    let code = a.create_room().await;
    let (mut ada, mut bob) = ada_on_a_and_bob_on_b(&a, &b, &code).await;
    // Let presence traffic settle, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published_before = metric(&a, "chat_broker_published_total").await;
    let received_b_before = metric(&b, "chat_broker_received_total").await;
    let received_c_before = metric(&c, "chat_broker_received_total").await;
    let messages = 20;
    for i in 0..messages {
        assert_eq!(ada.say(&code, &format!("m{i}")).await["ok"], true);
    }
    for _ in 0..messages {
        bob.next_event("chat:message").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published = metric(&a, "chat_broker_published_total").await - published_before;
    let received_b = metric(&b, "chat_broker_received_total").await - received_b_before;
    let received_c = metric(&c, "chat_broker_received_total").await - received_c_before;
    assert_eq!(published, messages as f64, "one publish per chat message");
    assert_eq!(received_b, messages as f64, "B receives each once");
    assert_eq!(
        received_c, 0.0,
        "C has no member in the room and receives none of it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_three_nodes_see_one_gap_free_order() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let apis: Vec<Api> = (0..3).map(|i| cluster.api(i)).collect();
    let code = apis[0].create_room().await;
    let per_writer = 60;
    let total = 6 * per_writer;
    // Watchers read while the writers write (a member that stops reading is, rightly,
    // closed as a slow consumer).
    let mut watchers = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        let mut watcher = api.joined(&code, &format!("watcher{i}")).await;
        watchers.push(tokio::spawn(async move {
            let mut received = Vec::new();
            while received.len() < total {
                received.push(
                    watcher.next_event("chat:message").await["data"]["id"]
                        .as_i64()
                        .unwrap(),
                );
            }
            received
        }));
    }
    let mut writers = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        for w in 0..2 {
            let (api, code) = (api.clone(), code.clone());
            writers.push(tokio::spawn(async move {
                let mut client = api.joined(&code, &format!("w{i}{w}")).await;
                let mut refs = Vec::new();
                for m in 0..per_writer {
                    refs.push(
                        client
                            .emit(
                                "chat:send",
                                json!({"roomCode": code, "content": format!("{i}.{w}.{m}")}),
                            )
                            .await,
                    );
                }
                for reference in refs {
                    assert_eq!(client.ack(reference).await["ok"], true);
                }
            }));
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let stored = apis[0].all_messages(&code).await;
    assert_eq!(stored.len(), total);
    let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    for watcher in watchers {
        let received = watcher.await.unwrap();
        assert_eq!(
            received, ids,
            "every node pushes the store's order, without gaps"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_presence_and_its_clients_resume_elsewhere() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let code = a.create_room().await;
    let (mut ada, mut bob) = ada_on_a_and_bob_on_b(&a, &b, &code).await;
    let mut last_seen = 0;
    for i in 0..10 {
        let ack = bob.say(&code, &format!("b{i}")).await;
        assert_eq!(ack["ok"], true);
        last_seen = ack["data"]["message"]["id"].as_i64().unwrap();
        if i == 4 {
            break;
        }
    }
    cluster.kill(1);
    let started = tokio::time::Instant::now();
    let left = ada.next_event("presence").await;
    assert_eq!(
        (
            left["data"]["left"].as_str(),
            left["data"]["count"].as_i64()
        ),
        (Some("bob"), Some(1))
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "expired in {:?}",
        started.elapsed()
    );
    // Messages sent meanwhile on A are found by bob when he resumes there with sinceId.
    let sent = ada.say(&code, "while you were away").await["data"]["message"].clone();
    let mut back = a.connect().await;
    let ack = back.join(&code, "bob", Some(last_seen)).await;
    let missed = ack["data"]["missed"].as_array().unwrap();
    assert_eq!(missed.last(), Some(&sent));
    let (_, room) = a.get(&format!("/api/rooms/{code}")).await;
    assert_eq!(nicknames(&room["members"]), ["ada", "bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_acked_message() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let code = a.create_room().await;
    let mut ada = a.joined(&code, "ada").await;
    let mut bob = b.joined(&code, "bob").await;
    let mut acked: HashMap<i64, Value> = HashMap::new();
    for i in 0..10 {
        let ack = ada.say(&code, &format!("m{i}")).await;
        acked.insert(
            ack["data"]["message"]["id"].as_i64().unwrap(),
            ack["data"]["message"].clone(),
        );
    }
    cluster.redis.stop();
    // While Redis is down, local sends still work (the store is fine).
    for i in 10..20 {
        let ack = ada.say(&code, &format!("m{i}")).await;
        assert_eq!(ack["ok"], true, "{ack}");
        acked.insert(
            ack["data"]["message"]["id"].as_i64().unwrap(),
            ack["data"]["message"].clone(),
        );
    }
    eventually("readiness reports the broker down", || {
        let a = a.clone();
        async move {
            let (status, body) = a.get("/api/ready").await;
            status == 503 && body["failed"] == "broker"
        }
    })
    .await;
    cluster.redis.restart().await;
    eventually("the bridge reconnects", || {
        let a = a.clone();
        async move { a.get("/api/ready").await.0 == 200 }
    })
    .await;
    for i in 20..30 {
        let ack = ada.say(&code, &format!("m{i}")).await;
        acked.insert(
            ack["data"]["message"]["id"].as_i64().unwrap(),
            ack["data"]["message"].clone(),
        );
    }
    // Bob, on the other node, ends up with every acked message: live, or by catching up.
    let mut received: HashMap<i64, Value> = HashMap::new();
    while received.len() < acked.len() {
        let push = bob.next_event("chat:message").await;
        received.insert(push["data"]["id"].as_i64().unwrap(), push["data"].clone());
    }
    assert_eq!(received, acked);
    // And a client resuming with sinceId = 0 gets them all from the store.
    let mut late = b.connect().await;
    let ack = late.join(&code, "late", Some(0)).await;
    assert_eq!(ack["data"]["missed"].as_array().unwrap().len(), acked.len());
}

/// `scripts/cluster.sh` as a person would run it, stopped again when the test ends.
struct ScriptedCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl ScriptedCluster {
    fn run(dir: &std::path::Path, port: u16, action: &str, database_url: &str) -> bool {
        Self::run_with(dir, port, action, database_url, false)
    }

    /// With `redis_cluster`, as `REDIS_CLUSTER=1 scripts/cluster.sh ACTION`.
    fn run_with(
        dir: &std::path::Path,
        port: u16,
        action: &str,
        database_url: &str,
        redis_cluster: bool,
    ) -> bool {
        let mut command =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"));
        if redis_cluster {
            command.env("REDIS_CLUSTER", "1");
        }
        command
            .arg(action)
            .env("CLUSTER_DIR", dir)
            .env("PORT", port.to_string())
            .env("NODES", "2")
            .env("CHAT_NODE_BIN", env!("CARGO_BIN_EXE_chat-node"))
            .env("CHAT_STATIC_DIR", "/nonexistent")
            .env("DATABASE_URL", database_url)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn nodes(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("nodes"))
            .expect("nodes file")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for ScriptedCluster {
    fn drop(&mut self) {
        Self::run(self.dir.path(), self.port, "down", "");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_a_client_chats_with_one_on_a_node_directly() {
    through_the_scripted_cluster(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripted_cluster_runs_on_a_redis_cluster_with_redis_cluster_1() {
    through_the_scripted_cluster(true).await;
}

/// `scripts/cluster.sh up` (on a Redis Cluster with `redis_cluster`): a client through
/// nginx and one on a node directly chat.
async fn through_the_scripted_cluster(redis_cluster: bool) {
    let Some(Backend::Postgres(database_url)) = Backend::postgres() else {
        return;
    };
    if RedisServer::start().await.is_none() {
        return;
    }
    let cluster = ScriptedCluster {
        dir: tempfile::tempdir().unwrap(),
        port: free_port(),
    };
    assert!(
        ScriptedCluster::run_with(
            cluster.dir.path(),
            cluster.port,
            "up",
            &database_url,
            redis_cluster
        ),
        "scripts/cluster.sh up failed"
    );
    let redis_url = std::fs::read_to_string(cluster.dir.path().join("redis-url")).unwrap();
    assert_eq!(
        redis_url.split(',').count(),
        if redis_cluster { 6 } else { 1 }
    );
    let balancer = Api::at(format!("127.0.0.1:{}", cluster.port).parse().unwrap());
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 2);
    let direct = Api::at(nodes[1].trim_start_matches("http://").parse().unwrap());
    let code = balancer.create_room().await;
    let mut via_nginx = balancer.joined(&code, "ada").await;
    let mut on_node = direct.joined(&code, "bob").await;
    let hello = via_nginx.say(&code, "hello through the balancer").await;
    assert_eq!(
        on_node.next_event("chat:message").await["data"],
        hello["data"]["message"]
    );
    let reply = on_node.say(&code, "hello from node 2").await;
    assert_eq!(
        via_nginx.next_event("chat:message").await["data"],
        hello["data"]["message"]
    );
    assert_eq!(
        via_nginx.next_event("chat:message").await["data"],
        reply["data"]["message"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_under_load_and_clients_move_without_loss() {
    let Some(postgres) = Backend::postgres() else {
        return;
    };
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let spec = |id: &str| {
        NodeSpec::new(&postgres)
            .flag("redis-url", &redis.url())
            .flag("node-id", &format!("{id}-{}", free_port()))
            .flag("send-rate", "0")
            .flag("drain-window", "1s")
    };
    let (spec_a, spec_b) = (spec("drained"), spec("survivor"));
    let node_a = spec_a.spawn(0).await;
    let node_b = spec_b.spawn(0).await;
    let (a, b) = (node_a.api(), node_b.api());
    let code = a.create_room().await;
    let (clients, per_client) = (4, 60);
    let senders: Vec<_> = (0..clients)
        .map(|who| {
            tokio::spawn(roaming_sender(
                vec![a.clone(), b.clone()],
                0,
                code.clone(),
                who,
                per_client,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopping = tokio::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || node_a.terminate())
        .await
        .unwrap();
    assert!(status.success(), "drained node exited with {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "drain took {:?}",
        stopping.elapsed()
    );
    let mut acked = Vec::new();
    for sender in senders {
        let roamed = sender.await.unwrap();
        assert_eq!(roamed.moves, 1, "every client moved once");
        assert_eq!(roamed.at, 1, "every client ends up on the second node");
        acked.extend(roamed.acked);
    }
    // Every acked message is in the store exactly once, and nothing else is.
    let stored = b.all_messages(&code).await;
    assert_eq!(stored.len(), clients * per_client);
    let stored_ids: std::collections::HashSet<i64> =
        stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(stored_ids.len(), stored.len());
    for message in &acked {
        assert!(stored.contains(message), "acked but not stored: {message}");
    }
}

/// What a roaming sender went through.
struct Roamed {
    /// The messages acked to it.
    acked: Vec<Value>,
    /// How often it had to move to another node.
    moves: usize,
    /// The node it ended on.
    at: usize,
}

/// Sends `total` messages with client ids through whichever of `nodes` answers, starting
/// at `start`: when its node dies or drains it moves to the next one, resumes with sinceId
/// and resends the message whose ack it did not get, with the same clientId.
async fn roaming_sender(
    nodes: Vec<Api>,
    start: usize,
    code: String,
    who: usize,
    total: usize,
) -> Roamed {
    let mut at = start;
    let mut client = connect_any(&nodes, &mut at, &code, who, 0).await;
    let (mut acked, mut highest, mut moves) = (Vec::new(), 0i64, 0);
    let mut n = 0;
    while n < total {
        let client_id = format!("r{who}-{n}");
        let sent = client
            .try_emit(
                "chat:send",
                json!({"roomCode": code, "content": client_id, "clientId": client_id}),
            )
            .await;
        let mut lost = sent.is_none();
        while let Some(reference) = sent.filter(|_| !lost) {
            match client.next().await {
                Frame::Json(frame) if frame["event"] == "ack" && frame["ref"] == reference => {
                    if frame["ok"] == true {
                        acked.push(frame["data"]["message"].clone());
                        n += 1;
                    }
                    break;
                }
                Frame::Json(frame) if frame["event"] == "chat:message" => {
                    highest = highest.max(frame["data"]["id"].as_i64().unwrap_or(0));
                }
                Frame::Json(_) => {}
                Frame::Closed(_) => lost = true,
            }
        }
        if lost {
            at += 1;
            moves += 1;
            client = connect_any(&nodes, &mut at, &code, who, highest).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Roamed {
        acked,
        moves,
        at: at % nodes.len(),
    }
}

/// Connects to the first node from `at` on that accepts, and joins with `since`.
async fn connect_any(nodes: &[Api], at: &mut usize, code: &str, who: usize, since: i64) -> Client {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let api = &nodes[*at % nodes.len()];
        let url = format!("ws://{}/ws", api.addr);
        if let Ok(Ok(_)) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(url),
        )
        .await
        {
            let mut client = api.connect().await;
            let ack = client.join(code, &format!("r{who}"), Some(since)).await;
            if ack["ok"] == true {
                return client;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no node accepted the client"
        );
        *at += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_node_crashes_lose_no_acked_message() {
    // CHAT_SOAK=1 runs the long version (10 kill cycles) of this test.
    let cycles = if std::env::var("CHAT_SOAK").as_deref() == Ok("1") {
        10
    } else {
        3
    };
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let nodes: Vec<Api> = (0..2).map(|i| cluster.api(i)).collect();
    let ports: Vec<u16> = nodes.iter().map(|n| n.addr.port()).collect();
    let code = nodes[0].create_room().await;
    let (clients, per_client) = (3, 40 * cycles);
    let senders: Vec<_> = (0..clients)
        .map(|who| {
            tokio::spawn(roaming_sender(
                nodes.clone(),
                who,
                code.clone(),
                who,
                per_client,
            ))
        })
        .collect();
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let victim = cycle % 2;
        cluster.kill(victim);
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.nodes[victim] = Some(cluster.specs[victim].spawn(ports[victim]).await);
    }
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.unwrap().acked);
    }
    let stored = nodes[0].all_messages(&code).await;
    assert_eq!(
        stored.len(),
        clients * per_client,
        "each clientId stored once"
    );
    for message in &acked {
        assert!(stored.contains(message), "acked but lost: {message}");
    }
}

/// Read-your-writes for presence across nodes (PROTOCOL.md, "what presence guarantees"):
/// once a join is acked on A, a join acked after it on B lists that member, whether B's
/// room is new on B (it reads the roster) or already has members there (it follows events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_acked_on_one_node_is_listed_by_every_later_join_on_another() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    for run in 0..50 {
        // B has nobody in the room yet.
        let code = a.create_room().await;
        let _ada = a.joined(&code, "ada").await;
        let mut bob = b.connect().await;
        let ack = bob.join(&code, "bob", None).await;
        assert_eq!(
            nicknames(&ack["data"]["members"]),
            ["ada", "bob"],
            "run {run}: first member on B"
        );
        // B has a member already; a new one on A, then another on B.
        let _cy = a.joined(&code, "cy").await;
        let mut dee = b.connect().await;
        let ack = dee.join(&code, "dee", None).await;
        assert_eq!(
            nicknames(&ack["data"]["members"]),
            ["ada", "bob", "cy", "dee"],
            "run {run}: later member on B"
        );
    }
}

/// Messages posted through the REST API carry `"bot": true`, members' `"bot": false`, as
/// pushed on every node and as read back from history on any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_messages_are_marked_bot_on_every_node_and_in_history() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let code = a.create_room().await;
    let (mut ada, mut bob) = ada_on_a_and_bob_on_b(&a, &b, &code).await;
    let (status, posted) = a.post_message(&code, "ada", "from an integration").await;
    assert_eq!(status, 201);
    assert_eq!(posted["message"]["bot"], true);
    let said = ada.say(&code, "from ada herself").await;
    assert_eq!(said["data"]["message"]["bot"], false);
    for member in [&mut ada, &mut bob] {
        let first = member.next_event("chat:message").await;
        let second = member.next_event("chat:message").await;
        assert_eq!(
            (first["data"]["bot"].clone(), second["data"]["bot"].clone()),
            (json!(true), json!(false))
        );
    }
    for node in [&a, &b] {
        let history = node.history(&code, "").await;
        let marks: Vec<(String, bool)> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["content"].as_str().unwrap().to_owned(), m["bot"] == true))
            .collect();
        assert_eq!(
            marks,
            [
                ("from ada herself".to_owned(), false),
                ("from an integration".to_owned(), true)
            ]
        );
    }
}

/// What reaches a room's channel without coming from a node (a client of Redis that is not
/// one, a payload garbled on the way) is dropped and counted; no member is pushed any of it,
/// and the channel goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_redis_events_reach_no_client() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let code = a.create_room().await;
    let other = a.create_room().await;
    let (mut ada, mut bob) = ada_on_a_and_bob_on_b(&a, &b, &code).await;

    let client = redis::Client::open(cluster.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let message = |room: &str, id: i64, sender: &str, content: &str| {
        json!({
            "node": "intruder", "kind": "message", "prevId": null,
            "message": {"id": id, "roomId": 1, "roomCode": room, "sender": sender,
                        "content": content, "createdAt": "2026-12-02T00:00:00.000Z",
                        "clientId": null, "bot": false},
        })
        .to_string()
    };
    let forged = [
        "{not json".to_owned(),
        json!({"node": "intruder", "kind": "nonsense"}).to_string(),
        message(&code, 999_999, "ada", "a NUL\u{0} no client could send"),
        message(
            &code,
            999_998,
            "\u{202e}ada",
            "a name with a direction override",
        ),
        message(&other, 999_997, "ada", "a message of another room"),
        message(&code, -5, "ada", "a negative id"),
        json!({"node": "intruder", "kind": "typing", "nickname": "ev\u{200b}e", "typing": true})
            .to_string(),
        json!({"node": "intruder", "kind": "join", "member": "no-session", "nickname": "mallory"})
            .to_string(),
    ];
    let channel = format!("chat:room:{code}");
    for payload in &forged {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // The channel still carries the real thing, and it is the first push after the forgeries.
    let said = bob.say(&code, "the real one").await;
    assert_eq!(said["ok"], true);
    let first = ada.next_json().await;
    assert_eq!(first["event"], "chat:message", "{first}");
    assert_eq!(first["data"]["content"], "the real one", "{first}");
    assert!(
        ada.next_within(Duration::from_millis(500)).await.is_none(),
        "nothing else was pushed"
    );
    let (_, text) = a.get_text("/metrics").await;
    let counted: f64 = text
        .lines()
        .filter(|l| l.starts_with("chat_broker_rejected_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        counted,
        forged.len() as f64,
        "every forgery counted once:\n{text}"
    );
}

/// Room codes are secrets (PROTOCOL.md v2): failed lookups by every route, spread over two
/// nodes, add up to one count per address (each node alone sees only half the limit); past
/// it the guesser is refused on both nodes, the real code included, while another address
/// is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_guesser_is_refused_on_every_node_and_nobody_else_is() {
    let Some(cluster) = Cluster::start_with(
        2,
        &[
            ("trusted-proxies", "127.0.0.0/8"),
            ("failed-lookup-rate", "6/60s"),
        ],
    )
    .await
    else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let real = a.create_room().await;
    let guesser = "203.0.113.7";
    let post = |code: &str| json!({"roomCode": code, "sender": "eve", "content": "guess"});
    // Six wrong guesses, three per node, through every route that takes a code.
    assert_eq!(
        a.get_forwarded("/api/messages?roomCode=AAAAAA", guesser)
            .await
            .0,
        404
    );
    assert_eq!(b.get_forwarded("/api/rooms/BBBBBB", guesser).await.0, 404);
    assert_eq!(
        a.post_forwarded("/api/messages", post("CCCCCC"), guesser)
            .await
            .0,
        404
    );
    let mut on_b = b.connect_forwarded(guesser).await;
    assert_eq!(
        on_b.join("DDDDDD", "eve", None).await["error"]["code"],
        "not_found"
    );
    let mut on_a = a.connect_forwarded(guesser).await;
    assert_eq!(
        on_a.join("EEEEEE", "eve", None).await["error"]["code"],
        "not_found"
    );
    assert_eq!(
        b.get_forwarded("/api/messages?roomCode=FFFFFF", guesser)
            .await
            .0,
        404
    );

    // The node that counted the sixth tells the other; then both refuse every lookup.
    for node in [&a, &b] {
        let path = format!("/api/rooms/{real}");
        eventually("the guesser is refused on every node", || {
            let (node, path) = (node.clone(), path.clone());
            async move { node.get_forwarded(&path, guesser).await.0 == 429 }
        })
        .await;
    }
    for (node, session) in [(&a, &mut on_a), (&b, &mut on_b)] {
        let (status, body) = node
            .get_forwarded(&format!("/api/messages?roomCode={real}"), guesser)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("rate_limited"))
        );
        assert_eq!(
            node.post_forwarded("/api/messages", post(&real), guesser)
                .await
                .0,
            429
        );
        let refused = session.join(&real, "eve", None).await;
        assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    }
    // Someone else, on either node, is not affected.
    let other = "198.51.100.9";
    for node in [&a, &b] {
        assert_eq!(
            node.get_forwarded(&format!("/api/rooms/{real}"), other)
                .await
                .0,
            200
        );
        let mut member = node.connect_forwarded(other).await;
        assert_eq!(member.join(&real, "ada", None).await["ok"], true);
    }
}

/// The nodes share the secret behind author ids and the owner keys (both in the store): the
/// same author key is the same author on every node, and a room's owner key opens it on
/// any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_and_owners_are_the_same_on_every_node() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let mut creator = a.connect().await;
    let created = creator.request("room:create", json!({})).await;
    let code = created["data"]["room"]["code"].as_str().unwrap().to_owned();
    let owner_key = created["data"]["ownerKey"].as_str().unwrap().to_owned();
    let key = "the-same-author-key-on-both";
    let mut ids = Vec::new();
    for node in [&a, &b] {
        let mut client = node.connect().await;
        let ack = client
            .request(
                "room:join",
                json!({"code": code, "nickname": "ada", "authorKey": key}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        ids.push(client.say(&code, "hi").await["data"]["message"]["authorId"].clone());
    }
    assert!(ids[0].is_string() && ids[0] == ids[1], "{ids:?}");
    let mut owner = b.connect().await;
    let ack = owner
        .request(
            "room:join",
            json!({"code": code, "nickname": "owner", "ownerKey": owner_key}),
        )
        .await;
    assert_eq!(ack["data"]["owner"], true, "{ack}");
}

/// `INFO stats`'s `total_commands_processed` of the Redis on `port`.
fn redis_commands(port: u16) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "stats"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_costs_redis_a_few_commands_per_heartbeat_however_many_rooms_it_has() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let rooms = 40;
    let mut members = Vec::new();
    for i in 0..rooms {
        let code = a.create_room().await;
        members.push(a.joined(&code, &format!("a{i}")).await);
        members.push(b.joined(&code, &format!("b{i}")).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let port = cluster.redis.port;
    let before = redis_commands(port);
    // A heartbeat every third of the 2 s presence TTL: 6 per node in 4 s.
    let idle = Duration::from_secs(4);
    tokio::time::sleep(idle).await;
    let commands = redis_commands(port) - before;
    let beats = 2 * 6;
    // Each beat: the heartbeat, the pub/sub ping, one EXISTS for the other node, and the
    // pool's checkout pings. Reading every room's roster on every beat would be at least
    // two commands per room per beat.
    assert!(
        commands < (rooms * beats) as u64,
        "{commands} Redis commands in {idle:?} for two idle nodes with {rooms} rooms each"
    );
    assert!(
        commands >= beats as u64,
        "the nodes beat: {commands} commands"
    );
}

/// The room set is read a page at a time (`SSCAN`): a listing over more codes than one page
/// still finds every occupied room and prunes the empty ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_through_a_room_set_larger_than_one_page() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (a, b) = (cluster.api(0), cluster.api(1));
    let port = cluster.redis.port.to_string();
    // 1,500 codes nobody is in, three pages' worth, as rooms emptied long ago leave behind.
    let stale: Vec<String> = (0..1500)
        .map(|_| chat_actors::ids::RoomCode::random().to_string())
        .collect();
    let added = std::process::Command::new("redis-cli")
        .args(["-p", &port, "SADD", "chat:rooms"])
        .args(&stale)
        .output()
        .expect("redis-cli");
    assert!(added.status.success());
    let code = a.create_room().await;
    let _ada = a.joined(&code, "ada").await;
    let _bob = b.joined(&code, "bob").await;
    eventually("the listing finds the room among the stale codes", || {
        let b = b.clone();
        let code = code.clone();
        async move {
            let (_, list) = b.get("/api/rooms").await;
            list["rooms"] == json!([{"code": code, "members": 2}])
        }
    })
    .await;
    let left = std::process::Command::new("redis-cli")
        .args(["-p", &port, "SCARD", "chat:rooms"])
        .output()
        .expect("redis-cli");
    let left: u64 = String::from_utf8_lossy(&left.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        left <= 2,
        "{left} codes left in chat:rooms after the listing pruned it"
    );
}
