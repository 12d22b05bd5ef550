//! Room retention (PROTOCOL.md v2, "Data life cycle"): real node processes with a short
//! retention delete exactly the rooms nobody used (no member on any node, no message) for
//! that long, with their messages, and those codes then answer `not_found` everywhere. Each
//! test has a store of its own (a PostgreSQL database of its own): a sweep deletes every
//! unused room of its database.

use std::time::{Duration, Instant};

use crate::support::*;

/// The retention the nodes run with, and how often they sweep.
const RETENTION: Duration = Duration::from_secs(3);
const INTERVAL: &str = "500ms";
/// Messages deleted per transaction: small, so that a room with a dozen messages takes
/// several batches.
const BATCH: &str = "5";
/// The key of the sweep's advisory lock in `src/store/postgres.rs` ("chatswep").
const SWEEP_LOCK_KEY: i64 = 0x6368_6174_7377_6570;

/// A node spec with the short retention, no send or lookup limits in the way.
fn retaining(backend: &Backend) -> NodeSpec {
    NodeSpec::new(backend)
        .flag("room-retention", "3s")
        .flag("retention-interval", INTERVAL)
        .flag("retention-batch", BATCH)
        .flag("send-rate", "0")
        .flag("room-create-rate", "0")
        .flag("failed-lookup-rate", "0")
}

/// Whether `code` is gone: its room details answer `not_found`.
async fn is_gone(api: &Api, code: &str) -> bool {
    let (status, body) = api.get(&format!("/api/rooms/{code}")).await;
    match status {
        404 => {
            assert_eq!(body["error"]["code"], "not_found", "{body}");
            true
        }
        200 => false,
        _ => panic!("room details: {status} {body}"),
    }
}

/// Waits until `code` is gone, at most the retention plus a few intervals after `since`.
async fn wait_gone(api: &Api, code: &str, since: Instant) {
    let deadline = since + RETENTION + Duration::from_secs(5);
    while !is_gone(api, code).await {
        assert!(Instant::now() < deadline, "room {code} was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every way in to a room answers `not_found`: join, history, room details, REST post.
async fn answers_not_found_everywhere(api: &Api, code: &str) {
    let mut client = api.connect().await;
    let ack = client.join(code, "late", None).await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "not_found", "join: {ack}");
    let (status, body) = api.get(&format!("/api/messages?roomCode={code}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "history: {body}"
    );
    assert!(is_gone(api, code).await, "room details");
    let (status, body) = api.post_message(code, "hook", "anyone there?").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "REST post: {body}"
    );
}

/// Posts `count` messages over REST; answers the room's store id.
async fn post_messages(api: &Api, code: &str, count: usize) -> i64 {
    let mut room_id = 0;
    for i in 0..count {
        let (status, body) = api.post_message(code, "hook", &format!("m{i}")).await;
        assert_eq!(status, 201, "{body}");
        room_id = body["message"]["roomId"].as_i64().unwrap();
    }
    room_id
}

/// Rows the store holds for a room, read from the store itself: (room rows, messages).
async fn stored(backend: &Backend, spec: &NodeSpec, room_id: i64) -> (i64, i64) {
    let rooms = format!("SELECT count(*) FROM rooms WHERE id = {room_id}");
    let messages = format!("SELECT count(*) FROM messages WHERE room_id = {room_id}");
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open_with_flags(
                spec.data_dir.join(chat_node::store::SQLITE_FILE),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let count = |sql: &str| conn.query_row(sql, [], |row| row.get(0)).unwrap();
            (count(&rooms), count(&messages))
        }
        Backend::Postgres(url) => {
            let client = postgres_session(url).await;
            let count = async |sql: &str| client.query_one(sql, &[]).await.unwrap().get(0);
            (count(&rooms).await, count(&messages).await)
        }
    }
}

/// A PostgreSQL session of the test's own.
async fn postgres_session(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// One sample of `chat_retention_sweeps_total{result}`.
async fn sweeps(api: &Api, result: &str) -> f64 {
    metric(
        api,
        &format!("chat_retention_sweeps_total{{result=\"{result}\"}}"),
    )
    .await
}

/// Posts to `code` every 500 ms until dropped: a room that keeps being used.
struct Chatter(tokio::task::JoinHandle<()>);

impl Chatter {
    fn start(api: &Api, code: &str) -> Chatter {
        let (api, code) = (api.clone(), code.to_owned());
        Chatter(tokio::spawn(async move {
            loop {
                let (status, body) = api.post_message(&code, "chatter", "still here").await;
                assert_eq!(status, 201, "{body}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }))
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

on_both_stores! {
    // Deleted: a room created and never used, and one whose last message is older than
    // the retention (more messages than a batch; its idle actor was still alive on the
    // node). Kept: a room with an old message and a silent member, one that keeps getting
    // messages, one younger than the retention.
    async fn retention_deletes_exactly_the_rooms_it_should(backend) {
        let backend = backend.own_database().await;
        let spec = retaining(&backend);
        let node = spec.spawn(0).await;
        let api = node.api();
        let started = Instant::now();
        let never_used = api.create_room().await;
        let old = api.create_room().await;
        let old_id = post_messages(&api, &old, 12).await;
        let silent = api.create_room().await;
        let silent_id = post_messages(&api, &silent, 1).await;
        let member = api.joined(&silent, "quiet").await;
        let chatty = api.create_room().await;
        let _chatter = Chatter::start(&api, &chatty);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let young = api.create_room().await;
        let young_at = Instant::now();

        wait_gone(&api, &old, started).await;
        wait_gone(&api, &never_used, started).await;
        assert!(
            young_at.elapsed() < RETENTION,
            "the machine is too slow for this test's timing"
        );
        assert!(!is_gone(&api, &young).await, "a room younger than the retention is kept");
        answers_not_found_everywhere(&api, &old).await;
        answers_not_found_everywhere(&api, &never_used).await;
        assert_eq!(stored(&backend, &spec, old_id).await, (0, 0), "the room and its messages left the store");
        assert!(metric(&api, "chat_retention_rooms_deleted_total").await >= 2.0);
        assert!(metric(&api, "chat_retention_messages_deleted_total").await >= 12.0);

        // Well past the retention for every room that was there at the start.
        let swept = sweeps(&api, "swept").await;
        tokio::time::sleep(RETENTION + Duration::from_secs(1)).await;
        assert!(sweeps(&api, "swept").await >= swept + 4.0, "the node kept sweeping");
        for kept in [&silent, &chatty] {
            assert!(!is_gone(&api, kept).await, "room {kept} was deleted");
        }
        assert_eq!(stored(&backend, &spec, silent_id).await, (1, 1), "the silent room keeps its old message");
        let history = api.history(&silent, "").await;
        assert_eq!(history["messages"][0]["content"], "m0");
        drop(member);
    }

    // Without `--room-retention`, or with `0`, nothing is swept, however short the
    // interval and however long a room goes unused.
    async fn retention_off_deletes_nothing(backend) {
        let backend = backend.own_database().await;
        let default = NodeSpec::new(&backend).flag("retention-interval", "100ms");
        let zero = NodeSpec::new(&backend)
            .flag("room-retention", "0")
            .flag("retention-interval", "100ms");
        for spec in [default, zero] {
            let node = spec.spawn(0).await;
            let api = node.api();
            let code = api.create_room().await;
            let room_id = post_messages(&api, &code, 1).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(sweeps(&api, "swept").await + sweeps(&api, "skipped").await, 0.0);
            assert!(!is_gone(&api, &code).await);
            assert_eq!(stored(&backend, &spec, room_id).await, (1, 1));
        }
    }
}

/// Two nodes, one PostgreSQL database (of this test's own) and one Redis, both with the
/// short retention.
async fn two_retaining_nodes() -> Option<(Backend, RedisServer, Vec<ChildNode>)> {
    let backend = Backend::postgres()?.own_database().await;
    let redis = RedisServer::start().await?;
    let mut nodes = Vec::new();
    for i in 0..2 {
        let spec = retaining(&backend)
            .flag("redis-url", &redis.url())
            .flag("node-id", &format!("retention-{i}-{}", free_port()));
        nodes.push(spec.spawn(0).await);
    }
    for node in &nodes {
        let api = node.api();
        eventually("node ready", || {
            let api = api.clone();
            async move { api.get("/api/ready").await.0 == 200 }
        })
        .await;
    }
    Some((backend, redis, nodes))
}

/// A room whose only member is on node B is kept while node A sweeps (B marks it used),
/// and unused rooms are deleted by whichever node sweeps; one of them had an idle actor on
/// B, which does not let anyone join the deleted room there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_on_another_node_keeps_its_room() {
    let Some((_backend, _redis, nodes)) = two_retaining_nodes().await else {
        return;
    };
    let (a, b) = (nodes[0].api(), nodes[1].api());
    let started = Instant::now();
    let unused = a.create_room().await;
    let kept = a.create_room().await;
    let member = b.joined(&kept, "bob").await;
    let idle_on_b = a.create_room().await;
    post_messages(&b, &idle_on_b, 1).await;

    wait_gone(&a, &unused, started).await;
    wait_gone(&a, &idle_on_b, started).await;
    answers_not_found_everywhere(&b, &idle_on_b).await;
    let swept_by_a = sweeps(&a, "swept").await;
    tokio::time::sleep(RETENTION + Duration::from_secs(1)).await;
    assert!(
        sweeps(&a, "swept").await > swept_by_a,
        "node A swept meanwhile"
    );
    assert!(
        !is_gone(&a, &kept).await,
        "the room with a member on B was deleted"
    );
    let (status, body) = a.post_message(&kept, "hook", "still here?").await;
    assert_eq!(status, 201, "{body}");
    answers_not_found_everywhere(&b, &unused).await;
    drop(member);
}

/// One node sweeps at a time: while a session holds the sweep lock (as a sweeping node
/// does), both nodes skip their rounds and delete nothing; once it lets go, one of them
/// deletes the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sweep_one_at_a_time() {
    let Some((backend, _redis, nodes)) = two_retaining_nodes().await else {
        return;
    };
    let Backend::Postgres(url) = &backend else {
        unreachable!("the cluster runs on PostgreSQL")
    };
    let (a, b) = (nodes[0].api(), nodes[1].api());
    let sweeper = postgres_session(url).await;
    sweeper
        .execute("SELECT pg_advisory_lock($1)", &[&SWEEP_LOCK_KEY])
        .await
        .unwrap();
    let before = (sweeps(&a, "swept").await, sweeps(&b, "swept").await);
    let skipped = (sweeps(&a, "skipped").await, sweeps(&b, "skipped").await);
    let started = Instant::now();
    let code = a.create_room().await;
    tokio::time::sleep(RETENTION + Duration::from_secs(2)).await;
    assert!(
        !is_gone(&a, &code).await,
        "a node swept while another held the lock"
    );
    assert_eq!(
        (sweeps(&a, "swept").await, sweeps(&b, "swept").await),
        before
    );
    assert!(
        sweeps(&a, "skipped").await > skipped.0,
        "node A skipped its rounds"
    );
    assert!(
        sweeps(&b, "skipped").await > skipped.1,
        "node B skipped its rounds"
    );

    sweeper
        .execute("SELECT pg_advisory_unlock($1)", &[&SWEEP_LOCK_KEY])
        .await
        .unwrap();
    wait_gone(&b, &code, started + RETENTION).await;
    // The room answers `not_found` from its tombstone on, a moment before the sweep that
    // deletes it finishes and counts it: wait for the count, then check it stays at one.
    let deleted = || async {
        metric(&a, "chat_retention_rooms_deleted_total").await
            + metric(&b, "chat_retention_rooms_deleted_total").await
    };
    eventually("a sweep counted the deletion", || async {
        deleted().await >= 1.0
    })
    .await;
    tokio::time::sleep(RETENTION).await;
    assert_eq!(deleted().await, 1.0, "one node deleted the room, once");
}
