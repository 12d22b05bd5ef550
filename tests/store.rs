//! Conformance suite for the `Store` trait, run against real databases: SQLite in a
//! temporary directory always, PostgreSQL when `TEST_DATABASE_URL` is set (start one with
//! `eval "$(scripts/postgres-test-instance.sh start)"`). With `CHAT_REQUIRE_POSTGRES=1`
//! and no URL, the PostgreSQL half fails instead of skipping, so CI cannot pass by
//! accident without it.
//!
//! Every test creates its own rooms with random codes, so tests share one database.
//! "Opening" a backend again makes a new store instance on the same data: for
//! PostgreSQL that is another node, for SQLite another process-like handle on the file.

// A failed unwrap is a failed test, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chat_actors::changes::{ChangeKind, ChangedBy, NewChange, Refusal, REACTIONS_MAX};
use chat_actors::ids::{ClientId, Content, Emoji, MessageId, RoomCode, RoomId};
use chat_actors::model::{Committed, Message, RoomRecord};
use chat_node::store::{self, NewMessage, Outcome, Page, Store, StoreError, Write};
use common::CommitSends;

/// Where a test's stores live.
enum Backend {
    /// A SQLite data directory, deleted when the test ends.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// The PostgreSQL backend, or `None` to skip.
    fn postgres() -> Option<Backend> {
        common::postgres_url().map(Backend::Postgres)
    }

    /// A new store instance on this backend's data.
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
}

/// Runs each listed test once per backend.
macro_rules! conformance {
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
                    if let Some(backend) = super::Backend::postgres() {
                        super::$name(&backend).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    rooms_are_created_and_found,
    batches_chain_ids_per_room,
    client_id_duplicates_resolve_to_the_original,
    content_is_stored_byte_exact,
    the_bot_mark_is_kept,
    authors_replies_and_the_shared_secret_are_kept,
    a_reply_must_point_into_its_own_room,
    history_pages_newest_first,
    range_keeps_the_newest,
    a_missing_room_fails_the_whole_batch,
    data_survives_reopening,
    concurrent_writers_keep_each_room_a_chain,
    an_abandoned_commit_is_all_or_nothing,
    changes_follow_the_rules_and_keep_the_current_state,
    reactions_count_each_reactor_once,
    every_write_takes_the_rooms_next_position,
    concurrent_reactions_from_several_nodes_add_up,
);

/// Messages posted by integrations keep their mark through a commit, a history read and a
/// duplicate's lookup; members' messages never get it.
async fn the_bot_mark_is_kept(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let batch = [
        NewMessage {
            bot: true,
            ..message(&room, "from an integration", Some("b"))
        },
        message(&room, "from a member", Some("m")),
    ];
    let outcomes = store.commit_sends(&batch).await.unwrap();
    assert!(created(&outcomes[0]).message.bot);
    assert!(!created(&outcomes[1]).message.bot);
    let page = store.history(room.room.id, None, 10).await.unwrap();
    let marks: Vec<(String, bool)> = page
        .messages
        .iter()
        .map(|m| (m.content.clone(), m.bot))
        .collect();
    assert_eq!(
        marks,
        [
            ("from a member".to_owned(), false),
            ("from an integration".to_owned(), true)
        ]
    );
    let again = store
        .commit_sends(&[NewMessage {
            bot: true,
            ..message(&room, "retried", Some("b"))
        }])
        .await
        .unwrap();
    assert!(duplicate(&again[0]).bot, "the original, as stored");
}

/// The author id and reply target of a message come back from every read; the store
/// knows which messages a room holds, and has the secret the nodes share for author ids.
async fn authors_replies_and_the_shared_secret_are_kept(backend: &Backend) {
    let store = backend.open().await;
    let (room, other) = (new_room(&*store).await, new_room(&*store).await);
    let first = store
        .commit_sends(&[NewMessage {
            author_id: Some("0123456789abcdef01234567".into()),
            ..message(&room, "first", Some("f"))
        }])
        .await
        .unwrap();
    let first = created(&first[0]).message.clone();
    assert_eq!(first.author_id.as_deref(), Some("0123456789abcdef01234567"));
    let reply = store
        .commit_sends(&[NewMessage {
            reply_to: Some(first.id),
            ..message(&room, "a reply", None)
        }])
        .await
        .unwrap();
    let reply = created(&reply[0]).message.clone();
    let page = store.history(room.room.id, None, 10).await.unwrap();
    assert_eq!(page.messages, [reply.clone(), first.clone()]);
    assert_eq!(
        (
            page.messages[0].reply_to,
            page.messages[0].author_id.clone()
        ),
        (Some(first.id), None)
    );
    assert!(store.message_in_room(room.room.id, first.id).await.unwrap());
    assert!(!store
        .message_in_room(other.room.id, first.id)
        .await
        .unwrap());
    assert!(!store
        .message_in_room(room.room.id, reply.id + 1000)
        .await
        .unwrap());
    let secret = store.secret("author_id").await.unwrap().unwrap();
    assert_eq!(secret.len(), 64, "{secret}");
    assert_eq!(store.secret("author_id").await.unwrap(), Some(secret));
    assert_eq!(store.secret("nothing").await.unwrap(), None);
}

/// A reply's target must be a message of its room; one that is not fails alone, and takes
/// no place in the room's chain. (A target earlier in the same batch counts too, but a
/// client learns an id only from its ack, after that batch: the tests cannot aim at one.)
async fn a_reply_must_point_into_its_own_room(backend: &Backend) {
    let store = backend.open().await;
    let (room, other) = (new_room(&*store).await, new_room(&*store).await);
    let elsewhere = store
        .commit_sends(&[message(&other, "in the other room", None)])
        .await
        .unwrap();
    let elsewhere = created(&elsewhere[0]).message.id;
    let outcomes = store
        .commit_sends(&[
            message(&room, "first", None),
            NewMessage {
                reply_to: Some(elsewhere),
                ..message(&room, "replies across rooms", Some("x"))
            },
            NewMessage {
                reply_to: Some(elsewhere + 1_000_000),
                ..message(&room, "replies to nothing", None)
            },
            message(&room, "second", None),
        ])
        .await
        .unwrap();
    assert!(
        matches!(outcomes[1], Outcome::ReplyTargetMissing),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[2], Outcome::ReplyTargetMissing),
        "{outcomes:?}"
    );
    let (first, second) = (created(&outcomes[0]).clone(), created(&outcomes[3]).clone());
    assert_eq!(
        second.prev_id,
        Some(first.message.id),
        "the refused left no hole in the chain"
    );
    // A reply to a message earlier in the same batch, and a retry of the refused clientId
    // that now points into the room.
    let outcomes = store
        .commit_sends(&[
            message(&room, "third", None),
            NewMessage {
                reply_to: Some(first.message.id),
                ..message(&room, "replies across rooms", Some("x"))
            },
        ])
        .await
        .unwrap();
    let third = created(&outcomes[0]).message.id;
    assert_eq!(
        created(&outcomes[1]).message.reply_to,
        Some(first.message.id)
    );
    let same_batch = store
        .commit_sends(&[
            message(&room, "fourth", Some("4")),
            NewMessage {
                reply_to: Some(third),
                ..message(&room, "to the third", None)
            },
        ])
        .await
        .unwrap();
    assert_eq!(created(&same_batch[1]).message.reply_to, Some(third));
    let page = store.history(room.room.id, None, 1).await.unwrap();
    assert_eq!(page.messages[0].reply_to, Some(third), "as read back");
}

/// A room with a fresh random code.
async fn new_room(store: &dyn Store) -> RoomRecord {
    loop {
        match store
            .create_room(RoomCode::random(), "test-owner-key-hash")
            .await
        {
            Err(StoreError::CodeTaken) => continue,
            result => return result.unwrap(),
        }
    }
}

fn message(room: &RoomRecord, content: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        room_id: room.room.id,
        room_code: room.room.code,
        sender: "ada".into(),
        content: content.into(),
        client_id: client_id.map(|id| ClientId::parse(id).unwrap()),
        bot: false,
        author_id: None,
        reply_to: None,
    }
}

fn created(outcome: &Outcome) -> &Committed {
    match outcome {
        Outcome::Created(committed) => committed,
        other => panic!("expected a new message, got {other:?}"),
    }
}

fn duplicate(outcome: &Outcome) -> &Message {
    match outcome {
        Outcome::Duplicate(original) => original,
        other => panic!("expected a duplicate, got {other:?}"),
    }
}

/// Commits one message per content, in one batch.
async fn commit_all(store: &dyn Store, room: &RoomRecord, contents: &[&str]) -> Vec<Message> {
    let batch: Vec<NewMessage> = contents.iter().map(|c| message(room, c, None)).collect();
    store
        .commit_sends(&batch)
        .await
        .unwrap()
        .iter()
        .map(|outcome| created(outcome).message.clone())
        .collect()
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

async fn rooms_are_created_and_found(backend: &Backend) {
    let store = backend.open().await;
    store.ping().await.unwrap();

    let room = new_room(&*store).await;
    assert_eq!(room.last_message_id, None);
    assert_eq!(room.owner_key_hash.as_deref(), Some("test-owner-key-hash"));
    assert_eq!(
        store.find_room(room.room.code).await.unwrap(),
        Some(room.clone())
    );
    let lower = RoomCode::parse(&room.room.code.as_str().to_lowercase()).unwrap();
    assert_eq!(store.find_room(lower).await.unwrap(), Some(room.clone()));

    let taken = store.create_room(room.room.code, "another-hash").await;
    assert!(matches!(taken, Err(StoreError::CodeTaken)), "{taken:?}");

    let other = new_room(&*store).await;
    assert_ne!(other.room.id, room.room.id);

    let mut unknown = RoomCode::random();
    while unknown == room.room.code || unknown == other.room.code {
        unknown = RoomCode::random();
    }
    // A random code may exist in a shared database only by a one-in-887-million chance.
    assert_eq!(store.find_room(unknown).await.unwrap(), None);
}

async fn batches_chain_ids_per_room(backend: &Backend) {
    let store = backend.open().await;
    assert!(store.commit_sends(&[]).await.unwrap().is_empty());
    let (a, b, c) = (
        new_room(&*store).await,
        new_room(&*store).await,
        new_room(&*store).await,
    );

    let first = store
        .commit_sends(&[
            message(&a, "a1", None),
            message(&b, "b1", None),
            message(&a, "a2", None),
            message(&c, "c1", None),
            message(&a, "a3", None),
        ])
        .await
        .unwrap();
    let first: Vec<&Committed> = first.iter().map(created).collect();
    let [a1, b1, a2, c1, a3] = first[..] else {
        panic!("expected five outcomes")
    };
    assert_eq!((a1.prev_id, b1.prev_id, c1.prev_id), (None, None, None));
    assert_eq!(a2.prev_id, Some(a1.message.id));
    assert_eq!(a3.prev_id, Some(a2.message.id));
    assert!(a1.message.id < a2.message.id && a2.message.id < a3.message.id);
    assert_eq!(a3.message.content, "a3");
    assert_eq!(a3.message.room_code, a.room.code);

    let second = store
        .commit_sends(&[message(&b, "b2", None), message(&a, "a4", None)])
        .await
        .unwrap();
    let (b2, a4) = (created(&second[0]), created(&second[1]));
    assert_eq!(b2.prev_id, Some(b1.message.id));
    assert_eq!(a4.prev_id, Some(a3.message.id));
    assert!(b2.message.id > b1.message.id && a4.message.id > a3.message.id);

    let all: HashSet<MessageId> = [a1, b1, a2, c1, a3, b2, a4]
        .iter()
        .map(|c| c.message.id)
        .collect();
    assert_eq!(all.len(), 7, "ids are unique across rooms");

    let last = |room: &RoomRecord| {
        let store = Arc::clone(&store);
        let code = room.room.code;
        async move {
            store
                .find_room(code)
                .await
                .unwrap()
                .unwrap()
                .last_message_id
        }
    };
    assert_eq!(last(&a).await, Some(a4.message.id));
    assert_eq!(last(&b).await, Some(b2.message.id));
    assert_eq!(last(&c).await, Some(c1.message.id));
}

async fn client_id_duplicates_resolve_to_the_original(backend: &Backend) {
    let store = backend.open().await;
    let (a, b) = (new_room(&*store).await, new_room(&*store).await);

    let stored = store
        .commit_sends(&[message(&a, "first", Some("x"))])
        .await
        .unwrap();
    let original = created(&stored[0]).message.clone();
    assert_eq!(original.client_id.as_deref(), Some("x"));

    let outcomes = store
        .commit_sends(&[
            message(&a, "retry with other content", Some("x")),
            message(&a, "second", Some("y")),
            message(&a, "second again", Some("y")),
            message(&b, "same key, other room", Some("x")),
            message(&a, "no key", None),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 5);
    assert_eq!(duplicate(&outcomes[0]), &original);
    let second = created(&outcomes[1]);
    assert_eq!(second.prev_id, Some(original.id));
    assert_eq!(duplicate(&outcomes[2]), &second.message);
    let other_room = created(&outcomes[3]);
    assert_eq!(other_room.prev_id, None);
    let no_key = created(&outcomes[4]);
    assert_eq!(no_key.prev_id, Some(second.message.id));

    let history = store.history(a.room.id, None, 50).await.unwrap();
    assert_eq!(
        history.messages,
        vec![
            no_key.message.clone(),
            second.message.clone(),
            original.clone()
        ]
    );

    let x = ClientId::parse("x").unwrap();
    assert_eq!(
        store.find_by_client_id(a.room.id, &x).await.unwrap(),
        Some(original.clone())
    );
    assert_eq!(
        store.find_by_client_id(b.room.id, &x).await.unwrap(),
        Some(other_room.message.clone())
    );
    let z = ClientId::parse("z").unwrap();
    assert_eq!(store.find_by_client_id(a.room.id, &z).await.unwrap(), None);

    // A batch made only of duplicates stores nothing and moves no cursor.
    let again = store
        .commit_sends(&[message(&a, "x again", Some("x"))])
        .await
        .unwrap();
    assert_eq!(duplicate(&again[0]), &original);
    let room = store.find_room(a.room.code).await.unwrap().unwrap();
    assert_eq!(room.last_message_id, Some(no_key.message.id));
}

async fn content_is_stored_byte_exact(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let contents = [
        "'; DROP TABLE messages; --",
        "Robert'); DELETE FROM rooms WHERE ('1' = '1",
        "$1 ?1 :name @p %s %% _ \\ \\\\ \" ` ;",
        "<script>alert('xss')</script>&amp;&lt;b&gt;",
        "<img src=x onerror=alert(1)>",
        "emoji 👩‍👩‍👧 🎉 ñ 中文 العربية \u{200b} e\u{301}",
        "line one\nline two\r\n\ttabbed",
        "nul-free but control: \u{7}\u{1b}[31mred",
    ];
    let batch: Vec<NewMessage> = contents
        .iter()
        .enumerate()
        .map(|(i, content)| NewMessage {
            sender: format!("<b>Zoë</b> 🦀 '{i}"),
            ..message(&room, content, Some(&format!("'; -- {i} 🦀")))
        })
        .collect();
    let committed: Vec<Message> = store
        .commit_sends(&batch)
        .await
        .unwrap()
        .iter()
        .map(|outcome| created(outcome).message.clone())
        .collect();
    for ((message, content), new) in committed.iter().zip(contents).zip(&batch) {
        assert_eq!(message.content.as_bytes(), content.as_bytes());
        assert_eq!(message.sender, new.sender);
    }

    let page = store.history(room.room.id, None, 50).await.unwrap();
    let mut read_back = page.messages;
    read_back.reverse();
    assert_eq!(
        read_back, committed,
        "read back equals what commit returned"
    );
    for message in &committed {
        let client_id = ClientId::parse(message.client_id.as_deref().unwrap()).unwrap();
        assert_eq!(
            store
                .find_by_client_id(room.room.id, &client_id)
                .await
                .unwrap()
                .as_ref(),
            Some(message)
        );
    }
}

async fn history_pages_newest_first(backend: &Backend) {
    let store = backend.open().await;
    let (room, noise) = (new_room(&*store).await, new_room(&*store).await);
    let empty = store.history(room.room.id, None, 50).await.unwrap();
    assert_eq!(
        empty,
        Page {
            messages: vec![],
            has_more: false
        }
    );

    // Interleave another room's messages so ids of the room are not contiguous.
    let mut m = Vec::new();
    for i in 1..=7 {
        m.extend(commit_all(&*store, &room, &[&format!("m{i}")]).await);
        commit_all(&*store, &noise, &["noise"]).await;
    }
    let page = |before: Option<MessageId>, limit: u32| {
        let store = Arc::clone(&store);
        let id = room.room.id;
        async move { store.history(id, before, limit).await.unwrap() }
    };
    let rev = |range: std::ops::RangeInclusive<usize>| -> Vec<MessageId> {
        range.rev().map(|i| m[i - 1].id).collect()
    };

    let first = page(None, 3).await;
    assert_eq!(ids(&first.messages), rev(5..=7));
    assert!(first.has_more);
    assert_eq!(first.messages[0], m[6]);

    let second = page(Some(m[4].id), 3).await;
    assert_eq!(ids(&second.messages), rev(2..=4));
    assert!(second.has_more);

    let last = page(Some(m[1].id), 3).await;
    assert_eq!(ids(&last.messages), rev(1..=1));
    assert!(!last.has_more);

    let exact = page(Some(m[3].id), 3).await;
    assert_eq!(ids(&exact.messages), rev(1..=3));
    assert!(!exact.has_more, "nothing older than the last returned");

    let all = page(None, 7).await;
    assert_eq!(ids(&all.messages), rev(1..=7));
    assert!(!all.has_more);

    let more_than_all = page(None, 200).await;
    assert_eq!(ids(&more_than_all.messages), rev(1..=7));
    assert!(!more_than_all.has_more);

    let before_first = page(Some(m[0].id), 3).await;
    assert!(before_first.messages.is_empty() && !before_first.has_more);
}

async fn range_keeps_the_newest(backend: &Backend) {
    let store = backend.open().await;
    let (room, noise) = (new_room(&*store).await, new_room(&*store).await);
    let mut m = Vec::new();
    for i in 1..=7 {
        m.extend(commit_all(&*store, &room, &[&format!("m{i}")]).await);
        commit_all(&*store, &noise, &["noise"]).await;
    }
    let range = |after: MessageId, up_to: MessageId, limit: u32| {
        let store = Arc::clone(&store);
        let id = room.room.id;
        async move { store.range(id, after, up_to, limit).await.unwrap() }
    };
    let asc =
        |r: std::ops::RangeInclusive<usize>| -> Vec<MessageId> { r.map(|i| m[i - 1].id).collect() };

    let middle = range(m[1].id, m[5].id, 10).await;
    assert_eq!(ids(&middle.messages), asc(3..=6));
    assert!(!middle.has_more);
    assert_eq!(middle.messages[0], m[2]);

    let newest = range(0, m[6].id, 3).await;
    assert_eq!(ids(&newest.messages), asc(5..=7));
    assert!(newest.has_more);

    let exact = range(m[1].id, m[4].id, 3).await;
    assert_eq!(ids(&exact.messages), asc(3..=5));
    assert!(!exact.has_more);

    let everything = range(0, MessageId::MAX, 500).await;
    assert_eq!(ids(&everything.messages), asc(1..=7));
    assert!(!everything.has_more);

    let nothing_newer = range(m[6].id, MessageId::MAX, 5).await;
    assert!(nothing_newer.messages.is_empty() && !nothing_newer.has_more);
}

async fn a_missing_room_fails_the_whole_batch(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let missing: RoomId = RoomId::MAX - 7;
    let ghost = RoomRecord {
        room: chat_actors::model::Room {
            id: missing,
            ..room.room.clone()
        },
        last_message_id: None,
        owner_key_hash: None,
        last_seq: 0,
    };
    let result = store
        .commit_sends(&[
            message(&room, "before", Some("k1")),
            message(&ghost, "nowhere", None),
            message(&room, "after", None),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::NoSuchRoom(id)) if id == missing),
        "{result:?}"
    );

    let history = store.history(room.room.id, None, 50).await.unwrap();
    assert!(history.messages.is_empty(), "nothing was stored");
    let k1 = ClientId::parse("k1").unwrap();
    assert_eq!(
        store.find_by_client_id(room.room.id, &k1).await.unwrap(),
        None
    );
    let found = store.find_room(room.room.code).await.unwrap().unwrap();
    assert_eq!(found.last_message_id, None);

    let retry = store
        .commit_sends(&[message(&room, "before", Some("k1"))])
        .await
        .unwrap();
    assert_eq!(created(&retry[0]).prev_id, None);
}

/// A commit whose caller gives up half way (a timeout, a shutdown) either stored its
/// whole batch or nothing, and leaves the store usable: the next batch of the room chains
/// onto whatever is really there. Cut at many points, so that some cuts land between the
/// store's round trips.
async fn an_abandoned_commit_is_all_or_nothing(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    for cut in 0..40u64 {
        let keys: Vec<String> = (0..5).map(|i| format!("cut{cut}-{i}")).collect();
        let batch: Vec<NewMessage> = keys
            .iter()
            .map(|key| message(&room, key, Some(key)))
            .collect();
        let give_up = std::time::Duration::from_micros(cut * 50);
        let _ = tokio::time::timeout(give_up, store.commit_sends(&batch)).await;

        // The next batch of the room waits for whatever of the abandoned one is still
        // under way (the room's lock, the single writer), so after it the data is settled.
        let next = store
            .commit_sends(&[message(&room, "after the cut", None)])
            .await
            .unwrap();
        let next = &created(&next[0]);
        let before = store
            .history(room.room.id, Some(next.message.id), 1)
            .await
            .unwrap()
            .messages
            .first()
            .map(|m| m.id);
        assert_eq!(next.prev_id, before, "cut {cut}: the chain continues");

        let mut found = 0;
        for key in &keys {
            let id = ClientId::parse(key).unwrap();
            if store
                .find_by_client_id(room.room.id, &id)
                .await
                .unwrap()
                .is_some()
            {
                found += 1;
            }
        }
        assert!(
            found == 0 || found == keys.len(),
            "cut {cut}: {found} of 5 stored"
        );
    }
}

async fn data_survives_reopening(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let committed = commit_all(&*store, &room, &["kept", "also kept"]).await;
    drop(store);

    let reopened = backend.open().await;
    let found = reopened.find_room(room.room.code).await.unwrap().unwrap();
    assert_eq!(found.room, room.room);
    assert_eq!(found.last_message_id, Some(committed[1].id));
    let page = reopened.history(room.room.id, None, 10).await.unwrap();
    assert_eq!(
        page.messages,
        vec![committed[1].clone(), committed[0].clone()]
    );

    let next = commit_all(&*reopened, &room, &["after reopening"]).await;
    assert!(next[0].id > committed[1].id);
}

/// Many tasks on several store instances ("nodes") write batches to the same rooms at
/// once. Ordered by id, each room's messages must form one chain (each `prev_id` is the
/// previous id): no gap and no fork, which is only possible if per-room commits are
/// serialised and ids are drawn under the room's lock.
async fn concurrent_writers_keep_each_room_a_chain(backend: &Backend) {
    const NODES: usize = 3;
    const TASKS_PER_NODE: usize = 4;
    const BATCHES: usize = 12;
    const ROOMS: usize = 4;

    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(backend.open().await);
    }
    let mut rooms = Vec::new();
    for _ in 0..ROOMS {
        rooms.push(new_room(&*nodes[0]).await);
    }
    let rooms = Arc::new(rooms);

    let mut tasks = Vec::new();
    for task in 0..NODES * TASKS_PER_NODE {
        let store = Arc::clone(&nodes[task % NODES]);
        let rooms = Arc::clone(&rooms);
        tasks.push(tokio::spawn(async move {
            // A tiny LCG: varied but reproducible batch shapes per task.
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(task as u64 + 1);
            let mut next = move |n: usize| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (seed >> 33) as usize % n
            };
            let mut committed = Vec::new();
            let mut duplicates = 0;
            let mut previous: Option<NewMessage> = None;
            for batch_no in 0..BATCHES {
                let size = 1 + next(6);
                let mut batch = Vec::new();
                for i in 0..size {
                    let room = &rooms[next(ROOMS)];
                    let key = format!("t{task}-b{batch_no}-m{i}");
                    batch.push(message(room, &key, Some(&key)));
                }
                // Now and then resend the first message of the previous batch: it must
                // resolve to its original even while other nodes write to the room.
                if let Some(resend) = previous.take().filter(|_| next(3) == 0) {
                    batch.push(resend);
                    duplicates += 1;
                }
                previous = Some(batch[0].clone());
                let outcomes = store.commit_sends(&batch).await.unwrap();
                assert_eq!(outcomes.len(), batch.len());
                for outcome in outcomes {
                    match outcome {
                        Outcome::Created(c) => committed.push(c),
                        Outcome::Duplicate(_) => duplicates -= 1,
                        other => panic!("only plain sends here: {other:?}"),
                    }
                }
            }
            assert_eq!(duplicates, 0, "every resend resolved to its original");
            committed
        }));
    }

    let mut by_room: BTreeMap<RoomId, Vec<Committed>> = BTreeMap::new();
    for task in tasks {
        for committed in task.await.unwrap() {
            by_room
                .entry(committed.message.room_id)
                .or_default()
                .push(committed);
        }
    }
    assert_eq!(by_room.len(), ROOMS, "every room got messages");

    for room in rooms.iter() {
        let mut chain = by_room.remove(&room.room.id).unwrap();
        chain.sort_by_key(|c| c.message.id);
        let mut prev = None;
        for link in &chain {
            assert_eq!(
                link.prev_id, prev,
                "room {}: message {} must follow {prev:?}",
                room.room.id, link.message.id
            );
            prev = Some(link.message.id);
        }
        let found = nodes[1].find_room(room.room.code).await.unwrap().unwrap();
        assert_eq!(found.last_message_id, prev);

        let stored = nodes[2]
            .range(room.room.id, 0, MessageId::MAX, 10_000)
            .await
            .unwrap();
        let expected: Vec<Message> = chain.into_iter().map(|c| c.message).collect();
        assert_eq!(
            stored.messages, expected,
            "the store holds exactly the chain"
        );
    }
}

/// SQLite specifics: WAL mode, and each migration recorded once however often the store
/// is opened.
#[tokio::test]
async fn sqlite_uses_wal_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("nested").join("data");
    for _ in 0..3 {
        let store = store::connect(None, &nested, 2, Default::default())
            .await
            .unwrap();
        store.ping().await.unwrap();
    }
    let conn = rusqlite::Connection::open(nested.join(store::SQLITE_FILE)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<i64> = store::migrate::SQLITE.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
}

/// A blank database URL means SQLite, as when the variable is set but empty.
#[tokio::test]
async fn a_blank_database_url_means_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::connect(Some("  "), dir.path(), 1, Default::default())
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(dir.path().join(store::SQLITE_FILE).exists());
}

/// A node cut off in the middle of a transaction leaves it open on the server, holding its
/// room's row lock, and the server would wait for the dead client for hours (TCP
/// keepalive). The store's sessions tell the server to end a transaction left idle past the
/// call timeout, so that the other nodes can commit to that room again.
#[tokio::test]
async fn postgres_ends_a_transaction_its_node_abandoned() {
    let Some(Backend::Postgres(url)) = Backend::postgres() else {
        return;
    };
    let store = Backend::Postgres(url.clone()).open().await;
    let room = store
        .create_room(RoomCode::random(), "test-owner-key-hash")
        .await
        .unwrap()
        .room;
    let lock = format!("SELECT id FROM rooms WHERE id = {} FOR UPDATE", room.id);
    let timeouts = store::PostgresTimeouts {
        call: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.options(timeouts.session_options());
    let (abandoned, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let abandoned_io = tokio::spawn(connection);
    // A node's session locks the room, then falls silent, as behind a partition.
    abandoned
        .batch_execute(&format!("BEGIN; {lock}"))
        .await
        .unwrap();

    let plain: tokio_postgres::Config = url.parse().unwrap();
    let (other, connection) = plain.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let started = std::time::Instant::now();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        other.batch_execute(&format!("BEGIN; {lock}; COMMIT")),
    )
    .await
    .expect("the abandoned transaction still holds the room's lock")
    .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the lock came free only after {:?}",
        started.elapsed()
    );
    // The server ended the silent session.
    assert!(abandoned_io.await.unwrap().is_err() || abandoned.is_closed());
}

/// A batch of sends, each clientId at most once, commits as one call of the
/// `commit_sends` function: one statement, one round trip. A batch with a change, or with
/// a clientId twice, takes the general path (`BEGIN`, then the room lock). Seen as the
/// statement the store's connection is waiting in while another session holds the room.
#[tokio::test]
async fn postgres_commits_a_batch_of_sends_in_one_statement() {
    // Alone on its database, so that no other test's lock waits are seen.
    let Some(Alone {
        url,
        store,
        room,
        first,
    }) = alone_on_postgres().await
    else {
        return;
    };
    let locker = connect(&url).await;
    // Watches from outside the locker's transaction: PostgreSQL keeps one snapshot of the
    // sessions' queries per transaction but reads their wait events live, so a watcher inside
    // it could pair a session's previous statement with its new wait.
    let watcher = connect(&url).await;
    let send = |content: &str, key: Option<&str>| Write::from(message(&room, content, key));
    let batches = [
        (
            "sends",
            vec![send("a", Some("a")), send("b", Some("b")), send("c", None)],
            true,
        ),
        (
            "a repeated clientId",
            vec![send("d", Some("d")), send("d", Some("d"))],
            false,
        ),
        (
            "a change",
            vec![
                send("e", None),
                change(&room, first, None, react("👍", true)),
            ],
            false,
        ),
    ];
    for (what, batch, one_statement) in batches {
        let count = batch.len();
        locker
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM rooms WHERE id = {} FOR UPDATE",
                room.room.id
            ))
            .await
            .unwrap();
        let commit = tokio::spawn({
            let store = store.clone();
            async move { store.commit_batch(&batch).await }
        });
        let waiting = lock_waiter(&watcher).await;
        locker.batch_execute("COMMIT").await.unwrap();
        assert_eq!(
            waiting.contains("commit_sends("),
            one_statement,
            "{what}: the commit waited in `{waiting}`"
        );
        assert_eq!(commit.await.unwrap().unwrap().len(), count, "{what}");
    }
}

/// A reply may point to a message earlier in its own batch, on both PostgreSQL paths (a
/// batch of sends, and one with a change). On a database of its own, with one writer, the
/// next id the sequence hands out is known before the batch is sent.
#[tokio::test]
async fn postgres_a_reply_may_point_to_a_message_earlier_in_its_batch() {
    let Some(Alone {
        store, room, first, ..
    }) = alone_on_postgres().await
    else {
        return;
    };
    for with_change in [false, true] {
        let latest = store.history(room.room.id, None, 1).await.unwrap().messages[0].id;
        let next = latest + 1;
        let mut batch = vec![
            Write::from(message(&room, "to be replied to", None)),
            Write::from(NewMessage {
                reply_to: Some(next),
                ..message(&room, "replies within the batch", None)
            }),
        ];
        if with_change {
            batch.push(change(&room, first, None, react("👍", true)));
        }
        let outcomes = store.commit_batch(&batch).await.unwrap();
        let target = created(&outcomes[0]).message.id;
        assert_eq!(target, next, "with a change: {with_change}");
        assert_eq!(
            created(&outcomes[1]).message.reply_to,
            Some(target),
            "with a change: {with_change}"
        );
    }
}

/// A store on a PostgreSQL database of its own, with one room holding one message.
struct Alone {
    url: String,
    store: Arc<dyn Store>,
    room: RoomRecord,
    /// The id of the room's message.
    first: MessageId,
}

/// [`Alone`], or `None` to skip when there is no PostgreSQL.
async fn alone_on_postgres() -> Option<Alone> {
    let Backend::Postgres(url) = Backend::postgres()? else {
        return None;
    };
    let url = common::fresh_postgres_database(&url).await;
    let store = Backend::Postgres(url.clone()).open().await;
    let room = new_room(&*store).await;
    let first = store
        .commit_sends(&[message(&room, "first", None)])
        .await
        .unwrap();
    let first = created(&first[0]).message.id;
    Some(Alone {
        url,
        store,
        room,
        first,
    })
}

/// A plain connection to `url`, outside any store.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The statement of the session waiting for a lock on the database of `client`, which must
/// not be inside a transaction (each poll takes a fresh snapshot). `state = 'active'` comes
/// from the same copy as `query`, so a session's previous, finished statement never matches.
async fn lock_waiter(client: &tokio_postgres::Client) -> String {
    for _ in 0..1000 {
        let row = client
            .query_opt(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no commit waited for the room's lock");
}

const ADA: &str = "0123456789abcdef0123ada0";
const BOB: &str = "0123456789abcdef0123b0b0";

/// A change of message `id` of `room` by an author (or, with `None`, a keyless session).
fn change(room: &RoomRecord, id: MessageId, author: Option<&str>, kind: ChangeKind) -> Write {
    Write::Change(NewChange {
        room_id: room.room.id,
        message_id: id,
        by: ChangedBy {
            author_id: author.map(str::to_owned),
            reactor: author.unwrap_or("~keyless").to_owned(),
            owner: false,
        },
        kind,
    })
}

fn edit(text: &str) -> ChangeKind {
    ChangeKind::Edit(Content::parse(text, 2000).unwrap())
}

fn react(emoji: &str, add: bool) -> ChangeKind {
    ChangeKind::React {
        emoji: Emoji::parse(emoji).unwrap(),
        add,
    }
}

fn changed(outcome: &Outcome) -> &Message {
    match outcome {
        Outcome::Changed(message) => message,
        other => panic!("expected a change, got {other:?}"),
    }
}

/// One write, committed alone.
async fn commit_one(store: &dyn Store, write: Write) -> Outcome {
    store.commit_batch(&[write]).await.unwrap().remove(0)
}

/// A message by `author` in `room`.
async fn authored(
    store: &dyn Store,
    room: &RoomRecord,
    author: Option<&str>,
    text: &str,
) -> Message {
    let outcomes = store
        .commit_sends(&[NewMessage {
            author_id: author.map(str::to_owned),
            ..message(room, text, None)
        }])
        .await
        .unwrap();
    created(&outcomes[0]).message.clone()
}

/// Only the author edits; the author or the owner deletes; a deleted message keeps its
/// place and loses its text in the store; what changes nothing stores nothing.
async fn changes_follow_the_rules_and_keep_the_current_state(backend: &Backend) {
    let store = backend.open().await;
    let (room, other) = (new_room(&*store).await, new_room(&*store).await);
    let ada = authored(&*store, &room, Some(ADA), "hello").await;
    let keyless = authored(&*store, &room, None, "no key").await;
    let elsewhere = authored(&*store, &other, Some(ADA), "other room").await;

    let edited = commit_one(
        &*store,
        change(&room, ada.id, Some(ADA), edit("hello, edited")),
    )
    .await;
    let edited = changed(&edited).clone();
    assert_eq!(edited.content, "hello, edited");
    assert!(edited.edited_at.is_some());
    assert_eq!(edited.seq, keyless.seq + 1, "the room's next position");
    let refusals = [
        (
            change(&room, ada.id, Some(BOB), edit("bob was here")),
            Refusal::Forbidden,
        ),
        (
            change(&room, ada.id, None, edit("anonymous")),
            Refusal::Forbidden,
        ),
        (
            change(&room, keyless.id, None, edit("nobody edits this")),
            Refusal::Forbidden,
        ),
        (
            change(&room, ada.id, Some(BOB), ChangeKind::Delete),
            Refusal::Forbidden,
        ),
        (
            change(&room, elsewhere.id, Some(ADA), edit("wrong room")),
            Refusal::NotFound,
        ),
        (
            change(&room, elsewhere.id + 10_000, Some(ADA), ChangeKind::Delete),
            Refusal::NotFound,
        ),
    ];
    for (write, refusal) in refusals {
        assert_eq!(commit_one(&*store, write).await, Outcome::Refused(refusal));
    }
    let same = commit_one(
        &*store,
        change(&room, ada.id, Some(ADA), edit("hello, edited")),
    )
    .await;
    assert_eq!(
        same,
        Outcome::Unchanged(edited.clone()),
        "the same text again changes nothing"
    );

    let Write::Change(mut by_owner) = change(&room, keyless.id, Some(BOB), ChangeKind::Delete)
    else {
        unreachable!()
    };
    by_owner.by.owner = true;
    let deleted = changed(&commit_one(&*store, Write::Change(by_owner.clone())).await).clone();
    assert!(deleted.deleted && deleted.content.is_empty() && deleted.reactions.is_empty());
    assert_eq!(
        deleted.seq,
        edited.seq + 1,
        "refusals and no-ops took no position"
    );
    assert_eq!(
        commit_one(&*store, Write::Change(by_owner)).await,
        Outcome::Unchanged(deleted.clone()),
        "deleting twice changes nothing"
    );
    let own = changed(
        &commit_one(
            &*store,
            change(&room, ada.id, Some(ADA), ChangeKind::Delete),
        )
        .await,
    )
    .clone();
    assert!(own.deleted);
    for kind in [edit("back from the dead"), react("👍", true)] {
        assert_eq!(
            commit_one(&*store, change(&room, ada.id, Some(ADA), kind)).await,
            Outcome::Refused(Refusal::NotFound)
        );
    }
    // Another instance (another node) reads the current states, text gone.
    let again = backend.open().await;
    let page = again.history(room.room.id, None, 10).await.unwrap();
    assert_eq!(page.messages, [deleted.clone(), own.clone()]);
    assert_eq!(
        again
            .find_room(room.room.code)
            .await
            .unwrap()
            .unwrap()
            .last_seq,
        own.seq
    );
    let texts = stored_texts(backend, room.room.id).await;
    assert!(
        texts
            .iter()
            .all(|t| !t.contains("hello") && !t.contains("no key")),
        "deleted text is gone from the store: {texts:?}"
    );
}

/// Every content column of a room's messages, read past the store's own code.
async fn stored_texts(backend: &Backend, room_id: RoomId) -> Vec<String> {
    match backend {
        Backend::Sqlite(dir) => {
            let conn = rusqlite::Connection::open(dir.path().join(store::SQLITE_FILE)).unwrap();
            let mut statement = conn
                .prepare(
                    "SELECT content || coalesce(reactions, '') FROM messages WHERE room_id = ?1",
                )
                .unwrap();
            statement
                .query_map([room_id], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        Backend::Postgres(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .query(
                    "SELECT content || coalesce(reactions, '') FROM messages WHERE room_id = $1",
                    &[&room_id],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }
    }
}

/// One reactor counts once per emoji; removing what is absent changes nothing; counts
/// are ordered; a message holds at most 20 different emoji; all of it within one batch
/// as across batches.
async fn reactions_count_each_reactor_once(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    let target = authored(&*store, &room, Some(ADA), "react to me").await;
    let outcomes = store
        .commit_batch(&[
            change(&room, target.id, Some(ADA), react("👍", true)),
            change(&room, target.id, Some(ADA), react("👍", true)),
            change(&room, target.id, Some(BOB), react("👍", true)),
            change(&room, target.id, None, react("🎉", true)),
            change(&room, target.id, Some(BOB), react("🎉", false)),
        ])
        .await
        .unwrap();
    assert!(
        matches!(outcomes[1], Outcome::Unchanged(_)),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[4], Outcome::Unchanged(_)),
        "{:?}",
        outcomes[4]
    );
    let last = changed(&outcomes[3]).clone();
    let counts = |m: &Message| -> Vec<(String, u32)> {
        m.reactions
            .iter()
            .map(|r| (r.emoji.clone(), r.count))
            .collect()
    };
    assert_eq!(counts(&last), [("👍".to_owned(), 2), ("🎉".to_owned(), 1)]);
    assert_eq!(last.seq, target.seq + 3, "three changes, three positions");
    // Across batches and instances: the reactors were stored.
    let again = backend.open().await;
    assert!(matches!(
        commit_one(
            &*again,
            change(&room, target.id, Some(BOB), react("👍", true))
        )
        .await,
        Outcome::Unchanged(_)
    ));
    let fewer = changed(
        &commit_one(
            &*again,
            change(&room, target.id, Some(ADA), react("👍", false)),
        )
        .await,
    )
    .clone();
    assert_eq!(counts(&fewer), [("🎉".to_owned(), 1), ("👍".to_owned(), 1)]);
    // Up to 20 different emoji; a 21st is refused, one more of a known one is not.
    let many: Vec<&str> = [
        "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍",
        "🤩", "😘", "😗",
    ]
    .to_vec();
    assert_eq!(many.len() + 2, REACTIONS_MAX);
    let writes: Vec<Write> = many
        .iter()
        .map(|e| change(&room, target.id, Some(BOB), react(e, true)))
        .collect();
    store.commit_batch(&writes).await.unwrap();
    assert_eq!(
        commit_one(
            &*store,
            change(&room, target.id, Some(BOB), react("🐙", true))
        )
        .await,
        Outcome::Refused(Refusal::TooManyReactions)
    );
    let more =
        changed(&commit_one(&*store, change(&room, target.id, None, react("👍", true))).await)
            .clone();
    assert_eq!(more.reactions.len(), REACTIONS_MAX);
    assert_eq!(
        more.reactions[0],
        chat_actors::model::Reaction {
            emoji: "👍".into(),
            count: 2
        }
    );
    let page = store.history(room.room.id, None, 1).await.unwrap();
    assert_eq!(page.messages, [more]);
}

/// New messages and stored changes take the room's positions 1, 2, 3, ... in batch order;
/// `since` finds what a room's pushes missed by id or position, `changed_since` what a
/// resuming member holds in an older state.
async fn every_write_takes_the_rooms_next_position(backend: &Backend) {
    let store = backend.open().await;
    let room = new_room(&*store).await;
    assert_eq!(room.last_seq, 0);
    let first = authored(&*store, &room, Some(ADA), "first").await;
    assert_eq!(first.seq, 1);
    let outcomes = store
        .commit_batch(&[
            Write::Send(message(&room, "second", None)),
            change(&room, first.id, Some(ADA), edit("first, edited")),
            Write::Send(message(&room, "third", None)),
            change(&room, first.id, Some(BOB), edit("refused")),
            change(&room, first.id, Some(BOB), react("👀", true)),
        ])
        .await
        .unwrap();
    let second = created(&outcomes[0]).message.clone();
    let edited = changed(&outcomes[1]).clone();
    let third = created(&outcomes[2]).message.clone();
    let reacted = changed(&outcomes[4]).clone();
    assert_eq!(
        [second.seq, edited.seq, third.seq, reacted.seq],
        [2, 3, 4, 5],
        "batch order, no gap for the refusal"
    );
    assert_eq!(
        store
            .find_room(room.room.code)
            .await
            .unwrap()
            .unwrap()
            .last_seq,
        5
    );

    let since = store.since(room.room.id, second.id, 2, 100).await.unwrap();
    assert_eq!(
        since.messages,
        [reacted.clone(), third.clone()],
        "an old message changed, a new one"
    );
    assert!(!since.has_more);
    let by_id = store.since(room.room.id, 0, 0, 2).await.unwrap();
    assert_eq!(
        (ids(&by_id.messages), by_id.has_more),
        (vec![first.id, second.id], true)
    );
    let held = store
        .changed_since(room.room.id, second.id, 2, 100)
        .await
        .unwrap();
    assert_eq!(
        held.messages,
        std::slice::from_ref(&reacted),
        "only what the member holds"
    );
    assert!(store
        .changed_since(room.room.id, second.id, 5, 100)
        .await
        .unwrap()
        .messages
        .is_empty());
    let none = store.since(room.room.id, third.id, 5, 100).await.unwrap();
    assert!(none.messages.is_empty());
}

/// Reactions to one message from many nodes at once: each counts once, the positions
/// stay dense, and every node reads the same counts.
async fn concurrent_reactions_from_several_nodes_add_up(backend: &Backend) {
    const NODES: usize = 3;
    const REACTORS: usize = 12;
    // Opened one after the other: opening migrates, and this test is about commits.
    let mut nodes: Vec<Arc<dyn Store>> = Vec::with_capacity(NODES);
    for _ in 0..NODES {
        nodes.push(backend.open().await);
    }
    let room = new_room(&*nodes[0]).await;
    let target = authored(&*nodes[0], &room, Some(ADA), "popular").await;
    let mut tasks = Vec::new();
    for reactor in 0..REACTORS {
        let store = Arc::clone(&nodes[reactor % NODES]);
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let who = format!("{reactor:024x}");
            let mut seqs = Vec::new();
            // Added twice (the second changes nothing), taken back, added again: three
            // changes per reactor.
            for kind in [
                react("🔥", true),
                react("🔥", true),
                react("🔥", false),
                react("🔥", true),
            ] {
                if let Outcome::Changed(m) =
                    commit_one(&*store, change(&room, target.id, Some(&who), kind)).await
                {
                    seqs.push(m.seq);
                }
            }
            seqs
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_unstable();
    let expected: Vec<i64> = (target.seq + 1..=target.seq + 3 * REACTORS as i64).collect();
    assert_eq!(
        seqs, expected,
        "every stored change took the next position, none twice"
    );
    for node in &nodes {
        let page = node.history(room.room.id, None, 1).await.unwrap();
        assert_eq!(page.messages[0].reactions[0].count, REACTORS as u32);
        assert_eq!(page.messages[0].seq, *expected.last().unwrap());
    }
}
