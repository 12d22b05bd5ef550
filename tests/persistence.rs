//! The persistence actor against the real embedded store: group commit, acks only after
//! commit, and all-or-nothing batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chat_actors::ids::RoomCode;
use chat_actors::metric_names;
use chat_actors::persistence::{Persist, PersistencePool};
use chat_actors::store::{Outcome, Store};
use chat_node::store::SqliteStore;
use common::message;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

fn batch_sizes(snapshotter: &Snapshotter) -> Vec<f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == metric_names::PERSIST_BATCH_SIZE)
        .flat_map(|(.., value)| match value {
            DebugValue::Histogram(values) => values.into_iter().map(|v| v.into_inner()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[actix_web::test]
async fn concurrent_sends_share_commits_and_keep_room_order() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _ = recorder.install();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("chat.db"), 2)
            .await
            .unwrap(),
    );
    let rooms = [
        store
            .create_room(RoomCode::random(), "test-owner-key-hash")
            .await
            .unwrap()
            .room,
        store
            .create_room(RoomCode::random(), "test-owner-key-hash")
            .await
            .unwrap()
            .room,
    ];
    let arbiter = Arbiter::new();
    let pool = PersistencePool::start(
        Arc::clone(&store),
        Arc::default(),
        1,
        64,
        Duration::from_millis(5),
        &arbiter.handle(),
    );
    let sends: Vec<_> = (0..300)
        .map(|i| {
            let room = &rooms[i % 2];
            pool.shard(room.id)
                .send(Persist::new(message(room.id, room.code, i).into()))
        })
        .collect();
    let outcomes = futures_util::future::join_all(sends).await;
    let mut per_room: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome.unwrap().unwrap().outcome {
            Outcome::Created(committed) => per_room[i % 2].push(committed.message.id),
            other => panic!("only new messages were sent: {other:?}"),
        }
    }
    for ids in &per_room {
        assert_eq!(ids.len(), 150);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "room order follows send order"
        );
    }
    let sizes = batch_sizes(&snapshotter);
    assert_eq!(
        sizes.iter().sum::<f64>(),
        300.0,
        "every message in exactly one batch"
    );
    assert!(
        sizes.len() < 300 && sizes.iter().any(|&s| s > 1.0),
        "batches were shared: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&s| s <= 64.0),
        "batch_max respected: {sizes:?}"
    );
    arbiter.stop();
}
