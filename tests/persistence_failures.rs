//! The persistence actor against the real embedded store when commits fail: every
//! sender of the failed batch hears about it, and nothing of the batch is stored; a
//! message of a room the store no longer has fails alone.
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
    let room = store
        .create_room(RoomCode::random(), "test-owner-key-hash")
        .await
        .unwrap()
        .room;
    let arbiter = Arbiter::new();
    let pool = PersistencePool::start(
        Arc::clone(&store),
        Arc::default(),
        1,
        64,
        Duration::from_millis(20),
        &arbiter.handle(),
    );

    // A batch naming a room that does not exist (retention deleted it) fails only the
    // messages of that room, with not_found; its neighbours are committed, once each.
    let mut doomed = message(room.id, room.code, 0);
    doomed.room_id = 999_999;
    let sends = vec![
        pool.shard(0)
            .send(Persist::new(message(room.id, room.code, 1).into())),
        pool.shard(0).send(Persist::new(doomed.into())),
        pool.shard(0)
            .send(Persist::new(message(room.id, room.code, 2).into())),
    ];
    let outcomes: Vec<_> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap().map(|stored| stored.outcome))
        .collect();
    assert!(
        matches!(outcomes[0], Ok(Outcome::Created(_))),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1].as_ref().unwrap_err().code, ErrorCode::NotFound);
    assert!(
        matches!(outcomes[2], Ok(Outcome::Created(_))),
        "{outcomes:?}"
    );
    let stored = |page: chat_actors::store::Page| -> Vec<String> {
        page.messages.into_iter().map(|m| m.content).collect()
    };
    let before = stored(store.history(room.id, None, 10).await.unwrap());
    assert_eq!(before, ["m2", "m1"]);

    // A store that cannot write answers `unavailable` to every sender of the batch.
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch("ALTER TABLE messages RENAME TO messages_away")
        .unwrap();
    let sends: Vec<_> = (3..6)
        .map(|i| {
            pool.shard(0)
                .send(Persist::new(message(room.id, room.code, i).into()))
        })
        .collect();
    for outcome in futures_util::future::join_all(sends).await {
        assert_eq!(outcome.unwrap().unwrap_err().code, ErrorCode::Unavailable);
    }
    side.execute_batch("ALTER TABLE messages_away RENAME TO messages")
        .unwrap();
    assert_eq!(
        stored(store.history(room.id, None, 10).await.unwrap()),
        before,
        "nothing of the failed batch was stored"
    );

    // Once the store is back, the same messages (same client ids) commit normally.
    let retry = pool
        .shard(0)
        .send(Persist::new(message(room.id, room.code, 3).into()))
        .await;
    assert!(matches!(
        retry.unwrap().unwrap().outcome,
        Outcome::Created(_)
    ));
    arbiter.stop();
}

/// The PostgreSQL store named by `TEST_DATABASE_URL`; `None` (a skip) when it is not set,
/// unless `CHAT_REQUIRE_POSTGRES=1`.
async fn postgres_store() -> Option<Arc<dyn Store>> {
    let url = common::postgres_url()?;
    let store =
        chat_node::store::connect(Some(&url), std::path::Path::new("."), 4, Default::default());
    Some(store.await.unwrap())
}

/// Defence behind validation: a value PostgreSQL cannot hold (U+0000 in text) fails only the
/// message that carries it; the rest of its batch is committed, once each, in order.
#[actix_web::test]
async fn a_value_the_store_cannot_hold_fails_only_its_own_message() {
    let Some(store) = postgres_store().await else {
        return;
    };
    let room = loop {
        match store
            .create_room(RoomCode::random(), "test-owner-key-hash")
            .await
        {
            Ok(record) => break record.room,
            Err(chat_actors::store::StoreError::CodeTaken) => continue,
            Err(error) => panic!("{error}"),
        }
    };
    let arbiter = Arbiter::new();
    // A long batch delay, so that all five share one batch.
    let pool = PersistencePool::start(
        Arc::clone(&store),
        Arc::default(),
        1,
        64,
        Duration::from_millis(100),
        &arbiter.handle(),
    );
    let mut poison = message(room.id, room.code, 2);
    poison.content = "nul \0 inside".into();
    let mut messages: Vec<_> = (0..5).map(|i| message(room.id, room.code, i)).collect();
    messages[2] = poison;
    let sends = messages
        .into_iter()
        .map(|message| pool.shard(0).send(Persist::new(message.into())));
    let outcomes = futures_util::future::join_all(sends).await;
    let mut stored = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match (i, outcome.unwrap().map(|stored| stored.outcome)) {
            (2, Err(error)) => assert_eq!(error.code, ErrorCode::BadRequest),
            (2, other) => panic!("the poison message was answered {other:?}"),
            (_, Ok(Outcome::Created(committed))) => stored.push(committed),
            (i, other) => panic!("message {i} was answered {other:?}"),
        }
    }
    let contents: Vec<&str> = stored.iter().map(|c| c.message.content.as_str()).collect();
    assert_eq!(contents, ["m0", "m1", "m3", "m4"]);
    // One chain, in send order.
    for pair in stored.windows(2) {
        assert_eq!(pair[1].prev_id, Some(pair[0].message.id));
    }
    let history = store.history(room.id, None, 10).await.unwrap().messages;
    assert_eq!(history.len(), 4, "each good message stored once");
    arbiter.stop();
}
