//! Room retention in the stores (PROTOCOL.md v2, "Data life cycle"): `touch_rooms` and
//! `sweep_unused_rooms` against real databases, SQLite always and PostgreSQL when
//! `TEST_DATABASE_URL` is set. A sweep deletes every unused room of its database, so each
//! PostgreSQL test runs in a database of its own (`common::fresh_postgres_database`), never
//! in the one the other tests share.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chat_actors::changes::{ChangeKind, ChangedBy, NewChange};
use chat_actors::ids::{Emoji, MessageId, RoomCode, RoomId};
use chat_actors::model::{now_millis, RoomRecord};
use chat_node::store::{self, NewMessage, Outcome, Store, StoreError, Write};
use chrono::{DateTime, Utc};

/// The key of the sweep's advisory lock in `src/store/postgres.rs` ("chatswep").
const SWEEP_LOCK_KEY: i64 = 0x6368_6174_7377_6570;

/// Where a test's store lives.
enum Backend {
    /// A SQLite data directory, deleted when the test ends.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database of the test's own.
    Postgres(String),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Option<Backend> {
        let url = common::postgres_url()?;
        Some(Backend::Postgres(
            common::fresh_postgres_database(&url).await,
        ))
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => store::connect(None, dir.path(), 4, Default::default())
                .await
                .unwrap(),
            Backend::Postgres(url) => {
                store::connect(Some(url), std::path::Path::new("."), 4, Default::default())
                    .await
                    .unwrap()
            }
        }
    }

    /// A PostgreSQL session of the test's own, beside the store's.
    async fn postgres_client(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }

    /// Runs one statement on the database directly; `sqlite` and `postgres` say the same
    /// in each dialect. Answers the first column of the first row, if any, as an integer.
    async fn query(&self, sqlite: &str, postgres: &str) -> Option<i64> {
        match self {
            Backend::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join(store::SQLITE_FILE)).unwrap();
                conn.busy_timeout(Duration::from_secs(5)).unwrap();
                let mut statement = conn.prepare(sqlite).unwrap();
                let mut rows = statement.query([]).unwrap();
                rows.next().unwrap().map(|row| row.get(0).unwrap())
            }
            Backend::Postgres(url) => {
                let client = Self::postgres_client(url).await;
                let rows = client.query(postgres, &[]).await.unwrap();
                rows.first().map(|row| row.get(0))
            }
        }
    }

    /// How many messages of `room` the store holds, read directly.
    async fn messages_of(&self, room: RoomId) -> i64 {
        let sql = format!("SELECT count(*) FROM messages WHERE room_id = {room}");
        self.query(&sql, &sql).await.unwrap()
    }

    /// Whether the store still has a row for `room`, tombstoned or not.
    async fn has_row(&self, room: RoomId) -> bool {
        let sql = format!("SELECT count(*) FROM rooms WHERE id = {room}");
        self.query(&sql, &sql).await.unwrap() > 0
    }
}

/// Runs each listed test once per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Backend::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = super::Backend::postgres().await {
                        super::$name(&backend).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    a_sweep_deletes_exactly_the_unused_rooms,
    a_room_a_sweep_left_tombstoned_is_gone_and_finished_later,
    the_migration_backfills_last_use,
);

async fn new_room(store: &dyn Store) -> RoomRecord {
    loop {
        match store
            .create_room(RoomCode::random(), "owner-key-hash")
            .await
        {
            Err(StoreError::CodeTaken) => continue,
            result => return result.unwrap(),
        }
    }
}

fn message(room: &RoomRecord, i: usize) -> Write {
    Write::Send(NewMessage {
        room_id: room.room.id,
        room_code: room.room.code,
        sender: "ada".into(),
        content: format!("m{i}"),
        client_id: None,
        bot: false,
        author_id: None,
        reply_to: None,
    })
}

/// Commits `count` messages to `room`; answers their ids.
async fn commit(store: &dyn Store, room: &RoomRecord, count: usize) -> Vec<MessageId> {
    let batch: Vec<Write> = (0..count).map(|i| message(room, i)).collect();
    let outcomes = store.commit_batch(&batch).await.unwrap();
    outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Created(committed) => committed.message.id,
            other => panic!("expected a new message, got {other:?}"),
        })
        .collect()
}

/// Adds a reaction to message `id` of `room`.
async fn react(store: &dyn Store, room: &RoomRecord, id: MessageId) {
    let change = Write::Change(NewChange {
        room_id: room.room.id,
        message_id: id,
        by: ChangedBy {
            author_id: None,
            reactor: "~reactor".into(),
            owner: false,
        },
        kind: ChangeKind::React {
            emoji: Emoji::parse("👍").unwrap(),
            add: true,
        },
    });
    let outcomes = store.commit_batch(&[change]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Changed(_)), "{outcomes:?}");
}

/// A moment strictly between what happened before and what happens after.
async fn now_between() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = now_millis();
    tokio::time::sleep(Duration::from_millis(20)).await;
    cutoff
}

/// Unused since the cutoff: a room with old messages (and reactions) only. Used: a room
/// with a message after it, one with a reaction after it, one touched after it, one created
/// after it. Only the first goes, with all of its messages (more than one batch) and their
/// reactors, and then refuses commits and touches.
async fn a_sweep_deletes_exactly_the_unused_rooms(backend: &Backend) {
    let store = backend.open().await;
    let old = new_room(&*store).await;
    let old_ids = commit(&*store, &old, 5).await;
    react(&*store, &old, old_ids[0]).await;
    let messaged = new_room(&*store).await;
    commit(&*store, &messaged, 1).await;
    let reacted = new_room(&*store).await;
    let reacted_ids = commit(&*store, &reacted, 1).await;
    let touched = new_room(&*store).await;
    let cutoff = now_between().await;
    commit(&*store, &messaged, 1).await;
    react(&*store, &reacted, reacted_ids[0]).await;
    assert!(store
        .touch_rooms(&[touched.room.id])
        .await
        .unwrap()
        .is_empty());
    let fresh = new_room(&*store).await;

    let report = store.sweep_unused_rooms(cutoff, 2).await.unwrap();
    assert!(!report.skipped);
    assert_eq!(report.rooms, [(old.room.id, old.room.code)]);
    assert_eq!(report.messages, 5);

    assert_eq!(store.find_room(old.room.code).await.unwrap(), None);
    assert_eq!(backend.messages_of(old.room.id).await, 0);
    assert!(!backend.has_row(old.room.id).await);
    let reactors = format!(
        "SELECT count(*) FROM reactions WHERE message_id = {}",
        old_ids[0]
    );
    assert_eq!(
        backend.query(&reactors, &reactors).await,
        Some(0),
        "reactors go too"
    );
    for kept in [&messaged, &reacted, &touched, &fresh] {
        assert!(store.find_room(kept.room.code).await.unwrap().is_some());
    }
    assert_eq!(backend.messages_of(messaged.room.id).await, 2);
    let late = store.commit_batch(&[message(&old, 9)]).await;
    assert!(
        matches!(late, Err(StoreError::NoSuchRoom(id)) if id == old.room.id),
        "{late:?}"
    );
    let gone = store
        .touch_rooms(&[old.room.id, touched.room.id])
        .await
        .unwrap();
    assert_eq!(gone, [old.room.id]);

    let again = store.sweep_unused_rooms(cutoff, 2).await.unwrap();
    assert_eq!((again.rooms.len(), again.messages), (0, 0));
}

/// A sweep that stopped after the tombstone (and some batches) leaves a room that is gone
/// for everyone at once, and the next sweep deletes the rest, whatever its cutoff.
async fn a_room_a_sweep_left_tombstoned_is_gone_and_finished_later(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    commit(&*store, &room, 7).await;
    let id = room.room.id;
    backend
        .query(
            &format!("UPDATE rooms SET deleted_at = 1 WHERE id = {id} RETURNING id"),
            &format!("UPDATE rooms SET deleted_at = now() WHERE id = {id} RETURNING id"),
        )
        .await;
    let first_three = format!(
        "DELETE FROM messages WHERE id IN \
         (SELECT id FROM messages WHERE room_id = {id} ORDER BY id LIMIT 3) RETURNING id"
    );
    backend.query(&first_three, &first_three).await;

    assert_eq!(store.find_room(room.room.code).await.unwrap(), None);
    let late = store.commit_batch(&[message(&room, 9)]).await;
    assert!(matches!(late, Err(StoreError::NoSuchRoom(_))), "{late:?}");
    assert_eq!(store.touch_rooms(&[id]).await.unwrap(), [id]);

    let long_ago = DateTime::<Utc>::UNIX_EPOCH;
    let report = store.sweep_unused_rooms(long_ago, 3).await.unwrap();
    assert_eq!(report.rooms, [(id, room.room.code)]);
    assert_eq!(report.messages, 4);
    assert!(!backend.has_row(id).await);
}

/// Migration 5 on a store that has rooms: a room's last use is its newest message's time,
/// or its creation when it has none.
async fn the_migration_backfills_last_use(backend: &Backend) {
    let (room_at, message_at, empty_at) = (
        1_700_000_000_000_i64,
        1_700_000_500_000_i64,
        1_700_000_900_000_i64,
    );
    let seed = |ts: &dyn Fn(i64) -> String| {
        format!(
            "INSERT INTO rooms (id, code, created_at, last_message_id) VALUES \
                 (1, 'AAAAAA', {room}, 2), (2, 'BBBBBB', {empty}, NULL); \
             INSERT INTO messages (id, room_id, sender, content, created_at) VALUES \
                 (1, 1, 'ada', 'first', {room}), (2, 1, 'ada', 'newest', {message});",
            room = ts(room_at),
            message = ts(message_at),
            empty = ts(empty_at),
        )
    };
    match backend {
        Backend::Sqlite(dir) => {
            let mut conn = rusqlite::Connection::open(dir.path().join(store::SQLITE_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, \
                 applied_at INTEGER NOT NULL)",
            )
            .unwrap();
            for migration in store::migrate::SQLITE.iter().filter(|m| m.version < 5) {
                tx.execute_batch(migration.sql).unwrap();
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?1, 0)",
                    [migration.version],
                )
                .unwrap();
            }
            tx.execute_batch(&seed(&|millis| millis.to_string()))
                .unwrap();
            tx.commit().unwrap();
        }
        Backend::Postgres(url) => {
            let mut client = Backend::postgres_client(url).await;
            let tx = client.transaction().await.unwrap();
            tx.batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await
            .unwrap();
            for migration in store::migrate::POSTGRES.iter().filter(|m| m.version < 5) {
                tx.batch_execute(migration.sql).await.unwrap();
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&migration.version],
                )
                .await
                .unwrap();
            }
            tx.batch_execute(&seed(&|millis| format!("to_timestamp({millis} / 1000.0)")))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let store = backend.open().await;
    let last_use = |room: i64| {
        (
            format!("SELECT last_active_at FROM rooms WHERE id = {room}"),
            format!(
                "SELECT (extract(epoch FROM last_active_at) * 1000)::bigint FROM rooms \
                 WHERE id = {room}"
            ),
        )
    };
    for (room, expected) in [(1, message_at), (2, empty_at)] {
        let (sqlite, postgres) = last_use(room);
        assert_eq!(
            backend.query(&sqlite, &postgres).await,
            Some(expected),
            "room {room}"
        );
    }
    // Unused since long before now: both go at the first sweep.
    let report = store.sweep_unused_rooms(now_millis(), 10).await.unwrap();
    assert_eq!(report.rooms.len(), 2);
    assert_eq!(report.messages, 2);
}

/// A commit or a touch that waits for a room's row while a sweep tombstones it finds the
/// tombstone once the row is released (the lock query checks again): the commit fails with
/// `NoSuchRoom` and stores nothing, the touch answers the room as gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_commit_waiting_on_a_tombstone_fails() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Backend::Postgres(url) = &backend else {
        unreachable!()
    };
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let id = room.room.id;
    let mut sweeper = Backend::postgres_client(url).await;
    let tx = sweeper.transaction().await.unwrap();
    tx.execute("UPDATE rooms SET deleted_at = now() WHERE id = $1", &[&id])
        .await
        .unwrap();
    let committing = tokio::spawn({
        let store = Arc::clone(&store);
        let batch = vec![message(&room, 1)];
        async move { store.commit_batch(&batch).await }
    });
    let touching = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.touch_rooms(&[id]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!committing.is_finished(), "the commit waits for the row");
    tx.commit().await.unwrap();
    let committed = committing.await.unwrap();
    assert!(
        matches!(committed, Err(StoreError::NoSuchRoom(gone)) if gone == id),
        "{committed:?}"
    );
    assert_eq!(touching.await.unwrap().unwrap(), [id]);
    assert_eq!(backend.messages_of(id).await, 0);
}

/// Nodes sweep one at a time: while another session holds the sweep lock, a sweep does
/// nothing and says so; once the lock is free, the same sweep deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sweeps_one_node_at_a_time() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Backend::Postgres(url) = &backend else {
        unreachable!()
    };
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let cutoff = now_between().await;
    let other_node = Backend::postgres_client(url).await;
    other_node
        .execute("SELECT pg_advisory_lock($1)", &[&SWEEP_LOCK_KEY])
        .await
        .unwrap();
    let report = store.sweep_unused_rooms(cutoff, 10).await.unwrap();
    assert!(report.skipped);
    assert!(report.rooms.is_empty());
    assert!(store.find_room(room.room.code).await.unwrap().is_some());

    other_node
        .execute("SELECT pg_advisory_unlock($1)", &[&SWEEP_LOCK_KEY])
        .await
        .unwrap();
    let report = store.sweep_unused_rooms(cutoff, 10).await.unwrap();
    assert!(!report.skipped);
    assert_eq!(report.rooms, [(room.room.id, room.room.code)]);
    // The sweep let go of the lock: another session can take it at once.
    let taken: bool = other_node
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SWEEP_LOCK_KEY])
        .await
        .unwrap()
        .get(0);
    assert!(taken, "the sweep released its lock");
}
