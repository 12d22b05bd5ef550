//! The operators' API (issue 17): the overview every node's stats record makes, drain and
//! resume, closing a room; each needs an API key and is written to the audit log with the
//! key's label.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::support::*;

const KEY: &str = "operators-key-0123456789";
/// Records every 200 ms, so the tests wait little for figures.
const INTERVAL: &str = "200ms";

async fn call(api: &Api, method: Method, path: &str) -> (u16, Value) {
    let response = api.request(method, path).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn admin_routes(code: &str, node: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/api/admin/overview".into()),
        (Method::POST, format!("/api/admin/nodes/{node}/drain")),
        (Method::POST, format!("/api/admin/nodes/{node}/resume")),
        (Method::DELETE, format!("/api/admin/rooms/{code}")),
    ]
}

/// The overview once `check` holds for it.
async fn overview_where(api: &Api, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = call(api, Method::GET, "/api/admin/overview").await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for an overview where {what}; last: {last}");
}

fn node_of<'a>(overview: &'a Value, id: &str) -> Option<&'a Value> {
    overview["nodes"]
        .as_array()?
        .iter()
        .find(|node| node["node"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_needs_a_key_also_on_a_node_without_keys() {
    let open = NodeSpec::new(&Backend::Sqlite).start();
    let keyed = NodeSpec::new(&Backend::Sqlite)
        .flag("api-keys", KEY)
        .start();
    for (node, key) in [(&open, KEY), (&keyed, "not-the-key-0123456789")] {
        let api = node.api();
        let code = api.create_room().await;
        let id = node.hub.node_id.clone();
        for (method, path) in admin_routes(&code, &id) {
            for handle in [api.clone(), api.with_key(key)] {
                let (status, body) = call(&handle, method.clone(), &path).await;
                assert_eq!(status, 401, "{method} {path}: {body}");
                assert_eq!(body["error"]["code"], "unauthorized");
            }
        }
        assert!(!node.hub.is_draining(), "a refused drain drained the node");
        assert_eq!(api.get(&format!("/api/rooms/{code}")).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_this_nodes_sessions_rates_rejections_and_busiest_room() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("api-keys", KEY)
        .flag("stats-interval", INTERVAL)
        .flag("send-rate", "0")
        .start();
    let api = node.api();
    let admin = api.with_key(KEY);
    let id = node.hub.node_id.clone();
    let (busy, quiet) = (api.create_room().await, api.create_room().await);
    let mut ada = api.joined(&busy, "ada").await;
    let mut bob = api.joined(&busy, "bob").await;
    let _cyd = api.joined(&quiet, "cyd").await;
    // Refusals of both kinds of client: a WebSocket send over the size limit, a REST call
    // without the key.
    let too_long = "x".repeat(5000);
    let refused = ada
        .request("chat:send", json!({"roomCode": busy, "content": too_long}))
        .await;
    assert_eq!(refused["error"]["code"], "too_large", "{refused}");
    assert_eq!(call(&api, Method::GET, "/api/rooms").await.0, 401);
    let sending = tokio::spawn(async move {
        for i in 0..40 {
            assert_eq!(ada.say(&busy, &format!("m{i}")).await["ok"], true);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        busy
    });
    // A message is counted by the node when committed and by its room when pushed, which
    // may fall in the next interval: wait for both.
    let overview = overview_where(&admin, "messages flow", |o| {
        node_of(o, &id).is_some_and(|n| n["messagesPerSecond"].as_f64().unwrap_or(0.0) > 0.0)
            && o["rooms"][0]["messagesPerMinute"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let busy = sending.await.unwrap();
    bob.pump(Duration::from_millis(100)).await;
    assert_eq!(overview["node"], id.as_str());
    assert_eq!(overview["interval"], 0.2);
    let this = node_of(&overview, &id).unwrap();
    assert_eq!(this["state"], "ready");
    assert_eq!(this["sessions"], 3, "{this}");
    assert_eq!(this["rooms"], 2, "{this}");
    assert_eq!(this["version"], env!("CARGO_PKG_VERSION"));
    assert!(this["pushesPerSecond"].as_f64().unwrap() > 0.0, "{this}");
    assert!(this["commit"]["batches"].as_u64().unwrap() > 0, "{this}");
    assert!(this["commit"]["p99Ms"].as_f64().unwrap() > 0.0, "{this}");
    assert!(!this["history"].as_array().unwrap().is_empty());
    assert_eq!(this["rejections"]["too_large"], 1, "{this}");
    assert!(
        this["rejections"]["unauthorized"].as_u64().unwrap() >= 1,
        "{this}"
    );
    let rooms = overview["rooms"].as_array().unwrap();
    assert_eq!(rooms[0]["code"], busy.as_str(), "{overview}");
    assert_eq!(rooms[0]["members"], 2);
    assert_eq!(rooms[0]["nodes"], 1);
    assert!(rooms[0]["messagesPerMinute"].as_f64().unwrap() > 0.0);
    // Once the sends stop, the rates fall back to zero.
    overview_where(&admin, "the traffic stopped", |o| {
        node_of(o, &id).is_some_and(|n| n["messagesPerSecond"] == 0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_sends_its_clients_away_refuses_new_ones_until_resumed() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("api-keys", KEY)
        .flag("stats-interval", INTERVAL)
        .flag("drain-window", "200ms")
        .start();
    let api = node.api();
    let admin = api.with_key(KEY);
    let id = node.hub.node_id.clone();
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    let (status, body) = call(
        &admin,
        Method::POST,
        &format!("/api/admin/nodes/{id}/drain"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"ok": true, "node": id, "state": "draining"}));
    let told = ada.next_event("reconnect").await;
    assert_eq!(told["data"]["reason"], "node is draining", "{told}");
    assert!(
        ada.closed().await.is_some(),
        "the drained session stays open"
    );
    let (status, ready) = api.get("/api/ready").await;
    assert_eq!(status, 503);
    assert_eq!(ready["failed"], "node", "{ready}");
    assert_eq!(ready["error"]["message"], "an operator drained the node");
    assert!(api.try_connect(Duration::from_millis(300)).await.is_none());
    let overview = overview_where(&admin, "the node is draining", |o| {
        node_of(o, &id).is_some_and(|n| n["state"] == "draining")
    })
    .await;
    assert_eq!(node_of(&overview, &id).unwrap()["sessions"], 0);
    // Draining again changes nothing; an unknown node is not found.
    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/api/admin/nodes/{id}/drain")
        )
        .await
        .0,
        202
    );
    let (status, body) = call(&admin, Method::POST, "/api/admin/nodes/no-such-node/drain").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let long = "n".repeat(10_000);
    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/api/admin/nodes/{long}/resume")
        )
        .await
        .0,
        404
    );
    let (status, body) = call(
        &admin,
        Method::POST,
        &format!("/api/admin/nodes/{id}/resume"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "ready");
    assert_eq!(api.get("/api/ready").await.0, 200);
    let mut back = api.joined(&code, "ada").await;
    assert_eq!(back.say(&code, "back again").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_room_dismisses_its_members_and_is_gone_for_good() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("api-keys", KEY)
        .start();
    let api = node.api();
    let admin = api.with_key(KEY);
    let (closed, kept) = (api.create_room().await, api.create_room().await);
    let mut ada = api.joined(&closed, "ada").await;
    assert_eq!(ada.say(&closed, "before").await["ok"], true);
    let mut bob = api.joined(&kept, "bob").await;
    // Not a code is not found, as on every route (rule 5: nothing tells a guesser more).
    assert_eq!(
        call(&admin, Method::DELETE, "/api/admin/rooms/nope")
            .await
            .0,
        404
    );
    let (status, body) = call(
        &admin,
        Method::DELETE,
        &format!("/api/admin/rooms/{closed}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"ok": true, "code": closed}));
    ada.next_event("reconnect").await;
    let mut again = api.connect().await;
    let rejoin = again.join(&closed, "ada", None).await;
    assert_eq!(rejoin["error"]["code"], "not_found", "{rejoin}");
    assert_eq!(api.get(&format!("/api/rooms/{closed}")).await.0, 404);
    assert_eq!(
        api.with_key(KEY)
            .post_message(&closed, "hook", "after")
            .await
            .0,
        404
    );
    let (status, _) = call(
        &admin,
        Method::DELETE,
        &format!("/api/admin/rooms/{closed}"),
    )
    .await;
    assert_eq!(status, 404, "closing twice");
    // The other room never noticed.
    assert_eq!(bob.say(&kept, "still here").await["ok"], true);
    // Forty members rejoining from one address are not taken for a code guesser (the limit
    // is 30 unknown lookups a minute): the address still reaches its other rooms...
    for _ in 0..40 {
        let mut member = api.connect().await;
        let rejoin = member.join(&closed, "ada", None).await;
        assert_eq!(rejoin["error"]["code"], "not_found", "{rejoin}");
    }
    let mut cyd = api.connect().await;
    assert_eq!(cyd.join(&kept, "cyd", None).await["ok"], true);
    // ...while guesses of codes that never existed still count.
    let mut refused = None;
    for _ in 0..40 {
        let mut guesser = api.connect().await;
        let guess = guesser.join("ZZZZZZ", "guesser", None).await;
        if guess["error"]["code"] == "rate_limited" {
            refused = Some(guess);
            break;
        }
    }
    assert!(refused.is_some(), "guesses were never limited");
}

/// The node binary with `args` on a port it picks, its log lines as they come, and its
/// address (read from its "listening" line).
fn spawn_logging(args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>, Api) {
    let data = tempfile::tempdir().unwrap().keep();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-node"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--static-dir", "/nonexistent"])
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let port = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the node logs that it listens");
        if !line.contains("chat node listening") {
            continue;
        }
        let after = line
            .split("127.0.0.1:")
            .nth(1)
            .expect("an address in the line");
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        break digits.parse::<u16>().expect("a port");
    };
    (child, rx, Api::at(([127, 0, 0, 1], port).into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_is_audited_with_the_keys_label_never_the_key() {
    let keys = format!("ops-alice {KEY}");
    let (mut child, lines, api) = spawn_logging(&["--api-keys", &keys]);
    let admin = api.with_key(KEY);
    let code = api.create_room().await;
    let message = admin.post_message(&code, "hook", "to delete").await.1["message"]["id"]
        .as_i64()
        .unwrap();
    let delete = format!("/api/rooms/{code}/messages/{message}");
    assert_eq!(call(&admin, Method::DELETE, &delete).await.0, 200);
    assert_eq!(
        call(&admin, Method::DELETE, &format!("/api/admin/rooms/{code}"))
            .await
            .0,
        200
    );
    let node = call(&admin, Method::GET, "/api/admin/overview").await.1["node"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(
            &admin,
            Method::POST,
            &format!("/api/admin/nodes/{node}/drain")
        )
        .await
        .0,
        202
    );
    let mut audited = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while audited.len() < 3 && std::time::Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            assert!(!line.contains(KEY), "the key is in the log: {line}");
            if line.contains("audit") {
                audited.push(line);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for action in ["delete_message", "close_room", "drain"] {
        let line = audited.iter().find(|l| l.contains(action));
        let line = line.unwrap_or_else(|| panic!("no audit line for {action}: {audited:?}"));
        assert!(line.contains("ops-alice"), "{line}");
    }
}

/// Three nodes: the overview of any lists all three with their own sessions; a drain
/// asked of one node reaches another, whose clients move; a closed room is closed on every
/// node; a killed node drops out of the overview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_shows_and_commands_the_whole_cluster() {
    let Some(mut cluster) = Cluster::start_with(
        3,
        &[
            ("api-keys", KEY),
            ("stats-interval", INTERVAL),
            ("drain-window", "200ms"),
        ],
    )
    .await
    else {
        return;
    };
    let apis: Vec<Api> = (0..3).map(|i| cluster.api(i)).collect();
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for api in &apis {
            ids.push(
                api.get("/api/health").await.1["node"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    };
    let code = apis[0].create_room().await;
    let mut members = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        for n in 0..=i {
            members.push((i, api.joined(&code, &format!("m{i}-{n}")).await));
        }
    }
    let admin = apis[0].with_key(KEY);
    let overview = overview_where(&admin, "three nodes with 1, 2 and 3 sessions", |o| {
        ids.iter()
            .enumerate()
            .all(|(i, id)| node_of(o, id).is_some_and(|n| n["sessions"] == i + 1))
    })
    .await;
    assert_eq!(overview["nodes"].as_array().unwrap().len(), 3, "{overview}");
    let room = &overview["rooms"][0];
    assert_eq!(
        (room["code"].as_str(), &room["members"], &room["nodes"]),
        (Some(code.as_str()), &json!(6), &json!(3)),
        "{overview}"
    );

    // A message sent on node 0 reaches the others through Redis: their broker lag counts it.
    assert_eq!(members[0].1.say(&code, "across").await["ok"], true);
    overview_where(&admin, "nodes 1 and 2 measured broker lag", |o| {
        ids[1..].iter().all(|id| {
            node_of(o, id).is_some_and(|n| n["brokerLag"]["messages"].as_u64().unwrap_or(0) > 0)
        })
    })
    .await;

    // Drain node 1 through node 0: node 1's two clients are told to reconnect.
    let drain = format!("/api/admin/nodes/{}/drain", ids[1]);
    let (status, body) = call(&admin, Method::POST, &drain).await;
    assert_eq!(status, 202, "{body}");
    for (at, member) in members.iter_mut().filter(|(at, _)| *at == 1) {
        member.next_event("reconnect").await;
        assert_eq!(*at, 1);
    }
    eventually("node 1 not ready", || {
        let api = apis[1].clone();
        async move { api.get("/api/ready").await.0 == 503 }
    })
    .await;
    assert_eq!(apis[0].get("/api/ready").await.0, 200);
    overview_where(&admin, "node 1 draining with no session", |o| {
        node_of(o, &ids[1]).is_some_and(|n| n["state"] == "draining" && n["sessions"] == 0)
    })
    .await;
    // Resume it through node 2.
    let resume = format!("/api/admin/nodes/{}/resume", ids[1]);
    assert_eq!(
        call(&apis[2].with_key(KEY), Method::POST, &resume).await.0,
        202
    );
    eventually("node 1 ready again", || {
        let api = apis[1].clone();
        async move { api.get("/api/ready").await.0 == 200 }
    })
    .await;

    // Close the room through node 0: the members on nodes 0 and 2 are dismissed too.
    let (status, body) = call(&admin, Method::DELETE, &format!("/api/admin/rooms/{code}")).await;
    assert_eq!(status, 200, "{body}");
    for (at, member) in members.iter_mut().filter(|(at, _)| *at != 1) {
        let pushed = member.next_event("reconnect").await;
        assert!(pushed.is_object(), "member on node {at}: {pushed}");
    }
    let mut again = apis[2].connect().await;
    assert_eq!(
        again.join(&code, "late", None).await["error"]["code"],
        "not_found"
    );

    // A killed node drops out of every overview within three intervals.
    cluster.kill(2);
    overview_where(&admin, "node 2 gone", |o| node_of(o, &ids[2]).is_none()).await;
    let (status, _) = call(
        &admin,
        Method::POST,
        &format!("/api/admin/nodes/{}/drain", ids[2]),
    )
    .await;
    assert_eq!(status, 404, "a dead node cannot be drained");
}
