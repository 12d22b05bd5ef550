//! The persistence actor against the real embedded store when commits fail: every
//! sender of the failed batch hears about it, and nothing of the batch is stored.
//! (Its own test binary: the batching test reads process-wide metrics.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chat_actors::ids::RoomCode;
use chat_actors::persistence::{Persist, PersistencePool};
use chat_actors::store::{Outcome, Store};
use chat_actors::ErrorCode;
use chat_node::store::SqliteStore;
use common::message;

#[actix_web::test]
async fn a_failed_batch_fails_every_sender_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path.clone(), 2).await.unwrap());
    let room = store.create_room(RoomCode::random()).await.unwrap().room;
    let arbiter = Arbiter::new();
    let pool = PersistencePool::start(
        Arc::clone(&store),
        1,
        64,
        Duration::from_millis(20),
        &arbiter.handle(),
    );

    // A batch naming a room that does not exist fails as a whole: its valid neighbours
    // are not stored either.
    let mut doomed = message(room.id, room.code, 0);
    doomed.room_id = 999_999;
    let sends = vec![
        pool.shard(0).send(Persist {
            message: message(room.id, room.code, 1),
        }),
        pool.shard(0).send(Persist { message: doomed }),
        pool.shard(0).send(Persist {
            message: message(room.id, room.code, 2),
        }),
    ];
    for outcome in futures_util::future::join_all(sends).await {
        assert!(outcome.unwrap().is_err());
    }
    assert!(store
        .history(room.id, None, 10)
        .await
        .unwrap()
        .messages
        .is_empty());

    // A store that cannot write answers `unavailable` to every sender of the batch.
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch("ALTER TABLE messages RENAME TO messages_away")
        .unwrap();
    let sends: Vec<_> = (3..6)
        .map(|i| {
            pool.shard(0).send(Persist {
                message: message(room.id, room.code, i),
            })
        })
        .collect();
    for outcome in futures_util::future::join_all(sends).await {
        assert_eq!(outcome.unwrap().unwrap_err().code, ErrorCode::Unavailable);
    }
    side.execute_batch("ALTER TABLE messages_away RENAME TO messages")
        .unwrap();
    assert!(store
        .history(room.id, None, 10)
        .await
        .unwrap()
        .messages
        .is_empty());

    // Once the store is back, the same messages (same client ids) commit normally.
    let retry = pool
        .shard(0)
        .send(Persist {
            message: message(room.id, room.code, 3),
        })
        .await;
    assert!(matches!(retry.unwrap().unwrap(), Outcome::Created(_)));
    arbiter.stop();
}
