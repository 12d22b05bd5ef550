//! The embedded store: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time, so the store keeps exactly one writer connection
//! behind an async mutex (waiting happens on the runtime, not on a blocking thread) and a
//! few reader connections, which WAL lets run beside the writer. All SQLite calls block,
//! so they run on tokio's blocking pool and never stall the actix thread.
//!
//! Durability: `synchronous=FULL` makes every commit fsync the WAL; the default NORMAL of
//! WAL mode may lose the last commits on power loss, and an acked message must survive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use async_trait::async_trait;
use chat_actors::changes::{self, ChangeKind, Effect, NewChange, Refusal};
use chat_actors::ids::{ClientId, MessageId, RoomCode, RoomId};
use chat_actors::model::{now_millis, Committed, Message, Room, RoomRecord, Seq};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{
    CachedStatement, Connection, OpenFlags, OptionalExtension, Row, Transaction,
    TransactionBehavior,
};
use tokio::sync::{Mutex, Semaphore};

use super::{
    describe, migrate, retention, NewMessage, Outcome, Page, Store, StoreError, SweepReport, Write,
};

/// How long a connection waits for a lock held by another connection (another node or
/// process on the same file) before the call fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on a SQLite file.
pub struct SqliteStore {
    /// The only connection that writes; SQLite serialises writers anyway, and one
    /// connection keeps its prepared statements warm.
    writer: Arc<Mutex<Connection>>,
    /// Connections for reads.
    readers: Arc<Readers>,
}

/// A small pool of read-only connections.
struct Readers {
    /// The database file, to open more connections.
    path: PathBuf,
    /// Connections not in use.
    idle: SyncMutex<Vec<Connection>>,
    /// Bounds the reads in flight, and so the connections open at once.
    permits: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its directory, migrates it,
    /// and allows up to `readers` concurrent reads (at least one).
    pub async fn open(path: PathBuf, readers: u32) -> Result<SqliteStore, StoreError> {
        let writer_path = path.clone();
        let writer = blocking(move || {
            if let Some(dir) = writer_path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mut conn = open_writer(&writer_path)?;
            let applied = migrate::apply_sqlite(&mut conn)?;
            tracing::info!(path = %writer_path.display(), applied, "sqlite store ready");
            Ok(conn)
        })
        .await?;
        let permits = usize::try_from(readers.max(1)).unwrap_or(1);
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Readers {
                path,
                idle: SyncMutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(permits)),
            }),
        })
    }

    /// Runs `work` on the writer connection, on the blocking pool.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.writer).lock_owned().await;
        blocking(move || work(&mut conn)).await
    }

    /// Runs `work` on a reader connection, on the blocking pool.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite store is closed".into()))?;
        let readers = Arc::clone(&self.readers);
        blocking(move || {
            let _permit = permit;
            let conn = readers.checkout()?;
            let result = work(&conn);
            readers.checkin(conn);
            result
        })
        .await
    }
}

impl Readers {
    /// An idle connection, or a new one.
    fn checkout(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    /// Returns a connection for the next read.
    fn checkin(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
    }
}

/// Runs blocking SQLite work off the async thread.
async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite task failed: {e}")))?
}

/// Maps a SQLite error: whatever went wrong, the transaction was rolled back.
fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {}", describe(&error)))
}

/// Opens the writer connection with the durability settings.
fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(unavailable)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "sqlite refused WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(unavailable)?;
    Ok(conn)
}

/// Opens a reader connection. It is opened read-write but refuses writes (`query_only`):
/// a truly read-only connection cannot recover the WAL index if it finds none.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(unavailable)?;
    Ok(conn)
}

/// A conversion failure for a column whose stored value cannot be what we wrote.
fn corrupt(index: usize, kind: Type, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, kind, what.into())
}

/// Reads a room code column.
fn code_at(row: &Row<'_>, index: usize) -> rusqlite::Result<RoomCode> {
    let text: String = row.get(index)?;
    RoomCode::parse(&text).map_err(|_| corrupt(index, Type::Text, format!("room code {text:?}")))
}

/// Reads a unix-milliseconds column.
fn time_at(row: &Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(index)?;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| corrupt(index, Type::Integer, format!("timestamp {millis}")))
}

/// Reads a row of [`message_query!`].
fn message_at(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        room_id: row.get(1)?,
        room_code: code_at(row, 2)?,
        sender: row.get(3)?,
        content: row.get(4)?,
        client_id: row.get(5)?,
        created_at: time_at(row, 6)?,
        bot: row.get(7)?,
        author_id: row.get(8)?,
        reply_to: row.get(9)?,
        edited_at: row
            .get::<_, Option<i64>>(10)?
            .map(|millis| {
                DateTime::from_timestamp_millis(millis)
                    .ok_or_else(|| corrupt(10, Type::Integer, format!("timestamp {millis}")))
            })
            .transpose()?,
        deleted: row.get(11)?,
        reactions: changes::reactions_from_text(row.get::<_, Option<String>>(12)?.as_deref())
            .map_err(|what| corrupt(12, Type::Text, what))?,
        seq: row.get(13)?,
    })
}

/// Reads a `rooms` row selected as `id, code, created_at, last_message_id,
/// owner_key_hash, last_seq`.
fn room_at(row: &Row<'_>) -> rusqlite::Result<RoomRecord> {
    Ok(RoomRecord {
        room: Room {
            id: row.get(0)?,
            code: code_at(row, 1)?,
            created_at: time_at(row, 2)?,
        },
        last_message_id: row.get(3)?,
        owner_key_hash: row.get(4)?,
        last_seq: row.get(5)?,
    })
}

/// Whether an error is the unique index on `rooms.code` refusing a second room.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    error
        .sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Where a room of a batch stands: its last message id and change-stream position when the
/// batch started, and now.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    last_id_before: Option<MessageId>,
    last_id: Option<MessageId>,
    seq_before: Seq,
    seq: Seq,
}

impl Cursor {
    /// The room's next position.
    fn next_seq(&mut self) -> Seq {
        self.seq += 1;
        self.seq
    }
}

/// The batch's rooms by id.
type Cursors = HashMap<RoomId, Cursor>;

/// The body of [`Store::commit_batch`], inside one `BEGIN IMMEDIATE` transaction: the
/// write lock is taken before anything is read, so the rooms' cursors and the messages
/// read here are still the newest when the writes that build on them commit.
fn commit_in(conn: &mut Connection, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let now = now_millis();
    let mut rooms = cursors(&tx, batch)?;
    let outcomes = resolve_each(&tx, batch, now, &mut rooms)?;
    advance_rooms(&tx, &rooms, now)?;
    tx.commit().map_err(unavailable)?;
    Ok(outcomes)
}

/// Reads each room's cursor once, before any write. A missing (or deleted) room fails the
/// whole batch.
fn cursors(tx: &Transaction<'_>, batch: &[Write]) -> Result<Cursors, StoreError> {
    let mut rooms = Cursors::new();
    let mut cursor_of = tx
        .prepare_cached(
            "SELECT last_message_id, last_seq FROM rooms WHERE id = ?1 AND deleted_at IS NULL",
        )
        .map_err(unavailable)?;
    for write in batch {
        let room_id = write.room_id();
        if rooms.contains_key(&room_id) {
            continue;
        }
        let (last_id, seq): (Option<MessageId>, Seq) = cursor_of
            .query_row([room_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(unavailable)?
            .ok_or(StoreError::NoSuchRoom(room_id))?;
        rooms.insert(
            room_id,
            Cursor {
                last_id_before: last_id,
                last_id,
                seq_before: seq,
                seq,
            },
        );
    }
    Ok(rooms)
}

/// The statements a batch runs per write, prepared once per batch.
struct BatchStatements<'tx> {
    find_original: CachedStatement<'tx>,
    find_target: CachedStatement<'tx>,
    insert: CachedStatement<'tx>,
    find_message: CachedStatement<'tx>,
    has_reacted: CachedStatement<'tx>,
    add_reactor: CachedStatement<'tx>,
    remove_reactor: CachedStatement<'tx>,
    remove_reactors: CachedStatement<'tx>,
    update: CachedStatement<'tx>,
}

impl<'tx> BatchStatements<'tx> {
    fn prepare(tx: &'tx Transaction<'_>) -> Result<Self, StoreError> {
        let prepare = |sql: &str| tx.prepare_cached(sql).map_err(unavailable);
        Ok(BatchStatements {
            find_original: prepare(message_query!("WHERE m.room_id = ?1 AND m.client_id = ?2"))?,
            find_target: prepare("SELECT 1 FROM messages WHERE id = ?1 AND room_id = ?2")?,
            insert: prepare(
                "INSERT INTO messages (room_id, sender, content, client_id, created_at, prev_id, \
                 bot, author_id, reply_to, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            find_message: prepare(message_query!("WHERE m.id = ?1"))?,
            has_reacted: prepare(
                "SELECT 1 FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND reactor = ?3",
            )?,
            add_reactor: prepare(
                "INSERT INTO reactions (message_id, emoji, reactor) VALUES (?1, ?2, ?3)",
            )?,
            remove_reactor: prepare(
                "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND reactor = ?3",
            )?,
            remove_reactors: prepare("DELETE FROM reactions WHERE message_id = ?1")?,
            update: prepare(
                "UPDATE messages SET content = ?2, edited_at = ?3, deleted = ?4, reactions = ?5, \
                 seq = ?6 WHERE id = ?1",
            )?,
        })
    }
}

/// One outcome per write, in input order: a message whose clientId was stored before, or
/// came earlier in this batch, is a duplicate of that original; any other is inserted;
/// a change is decided on the message as stored now and applied.
fn resolve_each(
    tx: &Transaction<'_>,
    batch: &[Write],
    now: DateTime<Utc>,
    rooms: &mut Cursors,
) -> Result<Vec<Outcome>, StoreError> {
    let mut statements = BatchStatements::prepare(tx)?;
    // Originals by (room, clientId), stored before or earlier in this batch.
    let mut originals: HashMap<(RoomId, &str), Message> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for write in batch {
        let outcome = match write {
            Write::Send(message) => send(tx, &mut statements, &mut originals, message, now, rooms)?,
            Write::Change(change) => apply_change(&mut statements, change, now, rooms)?,
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// What becomes of one new message of the batch.
fn send<'a>(
    tx: &Transaction<'_>,
    statements: &mut BatchStatements<'_>,
    originals: &mut HashMap<(RoomId, &'a str), Message>,
    message: &'a NewMessage,
    created_at: DateTime<Utc>,
    rooms: &mut Cursors,
) -> Result<Outcome, StoreError> {
    let client_id = message.client_id.as_ref().map(ClientId::as_str);
    if let Some(key) = client_id.map(|id| (message.room_id, id)) {
        if let Some(original) = original_of(&mut statements.find_original, originals, key)? {
            return Ok(Outcome::Duplicate(original));
        }
    }
    if let Some(target) = message.reply_to {
        // Inserted rows of this transaction count: a reply to a message earlier in the
        // batch is found.
        let found = statements
            .find_target
            .exists((target, message.room_id))
            .map_err(unavailable)?;
        if !found {
            return Ok(Outcome::ReplyTargetMissing);
        }
    }
    let committed = insert_chained(tx, &mut statements.insert, message, created_at, rooms)?;
    if let Some(id) = client_id {
        originals.insert((message.room_id, id), committed.message.clone());
    }
    Ok(Outcome::Created(committed))
}

/// Decides a change on the message as stored (earlier changes of the batch included) and,
/// when it changes something, writes the message's new state and its reactors.
fn apply_change(
    statements: &mut BatchStatements<'_>,
    change: &NewChange,
    now: DateTime<Utc>,
    rooms: &mut Cursors,
) -> Result<Outcome, StoreError> {
    let Some(mut message) = statements
        .find_message
        .query_row([change.message_id], message_at)
        .optional()
        .map_err(unavailable)?
    else {
        return Ok(Outcome::Refused(Refusal::NotFound));
    };
    let reactor = match &change.kind {
        ChangeKind::React { emoji, .. } => Some((emoji.as_str(), change.by.reactor.as_str())),
        _ => None,
    };
    let already_reacted = match reactor {
        Some((emoji, reactor)) => statements
            .has_reacted
            .exists((message.id, emoji, reactor))
            .map_err(unavailable)?,
        None => false,
    };
    match changes::decide(change, &message, already_reacted) {
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
        Ok(Effect::Nothing) => return Ok(Outcome::Unchanged(message)),
        Ok(Effect::Change) => {}
    }
    let cursor = rooms
        .get_mut(&change.room_id)
        .ok_or(StoreError::NoSuchRoom(change.room_id))?;
    changes::apply(&mut message, &change.kind, cursor.next_seq(), now);
    match (&change.kind, reactor) {
        (ChangeKind::React { add: true, .. }, Some((emoji, reactor))) => statements
            .add_reactor
            .execute((message.id, emoji, reactor))
            .map(drop),
        (ChangeKind::React { add: false, .. }, Some((emoji, reactor))) => statements
            .remove_reactor
            .execute((message.id, emoji, reactor))
            .map(drop),
        (ChangeKind::Delete, _) => statements.remove_reactors.execute([message.id]).map(drop),
        _ => Ok(()),
    }
    .map_err(unavailable)?;
    statements
        .update
        .execute((
            message.id,
            &message.content,
            message.edited_at.map(|at| at.timestamp_millis()),
            message.deleted,
            changes::reactions_to_text(&message.reactions),
            message.seq,
        ))
        .map_err(unavailable)?;
    Ok(Outcome::Changed(message))
}

/// The original of a (room, clientId) key: one this batch already met, or else the stored
/// one, which is then remembered for the batch's later repeats of the key.
fn original_of<'a>(
    find_original: &mut CachedStatement<'_>,
    originals: &mut HashMap<(RoomId, &'a str), Message>,
    key: (RoomId, &'a str),
) -> Result<Option<Message>, StoreError> {
    if let Some(original) = originals.get(&key) {
        return Ok(Some(original.clone()));
    }
    let stored = find_original
        .query_row((key.0, key.1), message_at)
        .optional()
        .map_err(unavailable)?;
    if let Some(original) = &stored {
        originals.insert(key, original.clone());
    }
    Ok(stored)
}

/// Inserts a new message with its room's last id as `prev_id` and the room's next
/// position, and moves the room's cursor past it.
fn insert_chained(
    tx: &Transaction<'_>,
    insert: &mut CachedStatement<'_>,
    message: &NewMessage,
    created_at: DateTime<Utc>,
    rooms: &mut Cursors,
) -> Result<Committed, StoreError> {
    let Some(cursor) = rooms.get_mut(&message.room_id) else {
        return Err(StoreError::NoSuchRoom(message.room_id));
    };
    let prev_id = cursor.last_id;
    let seq = cursor.next_seq();
    insert
        .execute((
            message.room_id,
            &message.sender,
            &message.content,
            message.client_id.as_ref().map(ClientId::as_str),
            created_at.timestamp_millis(),
            prev_id,
            message.bot,
            message.author_id.as_deref(),
            message.reply_to,
            seq,
        ))
        .map_err(unavailable)?;
    let id = tx.last_insert_rowid();
    cursor.last_id = Some(id);
    let mut stored = message.stored_as(id, created_at);
    stored.seq = seq;
    Ok(Committed {
        message: stored,
        prev_id,
    })
}

/// Writes each room's new cursor, once per room and only for rooms the batch wrote to (a
/// batch of duplicates writes no room row), and marks those rooms used at `now`
/// (retention).
fn advance_rooms(
    tx: &Transaction<'_>,
    rooms: &Cursors,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut advance = tx
        .prepare_cached(
            "UPDATE rooms SET last_message_id = ?2, last_seq = ?3, \
             last_active_at = max(last_active_at, ?4) WHERE id = ?1",
        )
        .map_err(unavailable)?;
    for (room_id, cursor) in rooms {
        if cursor.seq != cursor.seq_before || cursor.last_id != cursor.last_id_before {
            advance
                .execute((room_id, cursor.last_id, cursor.seq, now.timestamp_millis()))
                .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Runs a message query with `limit + 1` rows to learn whether more exist; keeps at most
/// `limit` rows in the order the query returned them.
fn page_of(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: u32,
) -> Result<Page, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(unavailable)?;
    let mut messages = statement
        .query_map(params, message_at)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = messages.len() > keep;
    messages.truncate(keep);
    Ok(Page { messages, has_more })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_room(
        &self,
        code: RoomCode,
        owner_key_hash: &str,
    ) -> Result<RoomRecord, StoreError> {
        let owner_key_hash = owner_key_hash.to_owned();
        self.write(move |conn| {
            let created_at = now_millis();
            match conn.execute(
                "INSERT INTO rooms (code, created_at, owner_key_hash, last_active_at) \
                 VALUES (?1, ?2, ?3, ?2)",
                (
                    code.as_str(),
                    created_at.timestamp_millis(),
                    &owner_key_hash,
                ),
            ) {
                Ok(_) => Ok(RoomRecord {
                    room: Room {
                        id: conn.last_insert_rowid(),
                        code,
                        created_at,
                    },
                    last_message_id: None,
                    owner_key_hash: Some(owner_key_hash),
                    last_seq: 0,
                }),
                Err(e) if is_unique_violation(&e) => Err(StoreError::CodeTaken),
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
    }

    async fn find_room(&self, code: RoomCode) -> Result<Option<RoomRecord>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, code, created_at, last_message_id, owner_key_hash, last_seq \
                 FROM rooms WHERE code = ?1 AND deleted_at IS NULL",
            )
            .and_then(|mut statement| statement.query_row([code.as_str()], room_at).optional())
            .map_err(unavailable)
        })
        .await
    }

    async fn commit_batch(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let batch = batch.to_vec();
        self.write(move |conn| commit_in(conn, &batch)).await
    }

    async fn find_by_client_id(
        &self,
        room_id: RoomId,
        client_id: &ClientId,
    ) -> Result<Option<Message>, StoreError> {
        let client_id = client_id.clone();
        self.read(move |conn| {
            conn.prepare_cached(message_query!("WHERE m.room_id = ?1 AND m.client_id = ?2"))
                .and_then(|mut statement| {
                    statement
                        .query_row((room_id, client_id.as_str()), message_at)
                        .optional()
                })
                .map_err(unavailable)
        })
        .await
    }

    async fn history(
        &self,
        room_id: RoomId,
        before_id: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let before = before_id.unwrap_or(MessageId::MAX);
        self.read(move |conn| {
            page_of(
                conn,
                message_query!("WHERE m.room_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"),
                (room_id, before, i64::from(limit) + 1),
                limit,
            )
        })
        .await
    }

    async fn message_in_room(&self, room_id: RoomId, id: MessageId) -> Result<bool, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND room_id = ?2")
                .and_then(|mut statement| statement.exists((id, room_id)))
                .map_err(unavailable)
        })
        .await
    }

    async fn secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM node_secrets WHERE name = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([name.as_str()], |row| row.get(0))
                        .optional()
                })
                .map_err(unavailable)
        })
        .await
    }

    async fn range(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        up_to_id: MessageId,
        limit: u32,
    ) -> Result<Page, StoreError> {
        self.read(move |conn| {
            // Newest first so that LIMIT keeps the newest; reversed to ascending below.
            let mut page = page_of(
                conn,
                message_query!(
                    "WHERE m.room_id = ?1 AND m.id > ?2 AND m.id <= ?3 \
                     ORDER BY m.id DESC LIMIT ?4"
                ),
                (room_id, after_id, up_to_id, i64::from(limit) + 1),
                limit,
            )?;
            page.messages.reverse();
            Ok(page)
        })
        .await
    }

    async fn since(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError> {
        self.read(move |conn| {
            page_of(
                conn,
                message_query!(
                    "WHERE m.room_id = ?1 AND (m.id > ?2 OR m.seq > ?3) ORDER BY m.id LIMIT ?4"
                ),
                (room_id, after_id, after_seq, i64::from(limit) + 1),
                limit,
            )
        })
        .await
    }

    async fn changed_since(
        &self,
        room_id: RoomId,
        up_to_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError> {
        self.read(move |conn| {
            page_of(
                conn,
                message_query!(
                    "WHERE m.room_id = ?1 AND m.seq > ?2 AND m.id <= ?3 ORDER BY m.seq LIMIT ?4"
                ),
                (room_id, after_seq, up_to_id, i64::from(limit) + 1),
                limit,
            )
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(unavailable)
        })
        .await
    }

    async fn touch_rooms(&self, rooms: &[RoomId]) -> Result<Vec<RoomId>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let rooms = rooms.to_vec();
        self.write(move |conn| {
            let now = now_millis().timestamp_millis();
            let touched = conn
                .prepare_cached(
                    "UPDATE rooms SET last_active_at = max(last_active_at, ?2) \
                     WHERE id IN (SELECT value FROM json_each(?1)) AND deleted_at IS NULL \
                     RETURNING id",
                )
                .and_then(|mut statement| {
                    statement
                        .query_map((id_list(&rooms), now), |row| row.get(0))?
                        .collect::<Result<Vec<RoomId>, _>>()
                })
                .map_err(unavailable)?;
            Ok(retention::gone(&rooms, &touched))
        })
        .await
    }

    async fn close_room(&self, room: RoomId) -> Result<bool, StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE rooms SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            )
            .and_then(|mut statement| statement.execute((room, now_millis().timestamp_millis())))
            .map(|updated| updated == 1)
            .map_err(unavailable)
        })
        .await
    }

    /// SQLite has one writer at a time, so there is one sweeper by construction, and a
    /// statement that tombstones reads the newest `last_active_at` of every room: a commit
    /// that used a room either came first (the room is not picked) or comes after (and finds
    /// the tombstone). Each step is its own call on the writer, so that commits run between
    /// the batches.
    async fn sweep_unused_rooms(
        &self,
        unused_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<SweepReport, StoreError> {
        let batch = i64::from(batch.max(1));
        let cutoff = unused_before.timestamp_millis();
        loop {
            let tombstoned = self
                .write(move |conn| {
                    conn.prepare_cached(
                        "UPDATE rooms SET deleted_at = ?3 WHERE id IN ( \
                             SELECT id FROM rooms WHERE deleted_at IS NULL \
                             AND last_active_at < ?1 ORDER BY id LIMIT ?2)",
                    )
                    .and_then(|mut statement| {
                        statement.execute((cutoff, batch, now_millis().timestamp_millis()))
                    })
                    .map_err(unavailable)
                })
                .await?;
            if i64::try_from(tombstoned).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        let mut report = SweepReport::default();
        let mut after: RoomId = 0;
        loop {
            let rooms = self
                .read(move |conn| {
                    conn.prepare_cached(
                        "SELECT id, code FROM rooms WHERE deleted_at IS NOT NULL AND id > ?1 \
                         ORDER BY id LIMIT ?2",
                    )
                    .and_then(|mut statement| {
                        statement
                            .query_map((after, batch), |row| Ok((row.get(0)?, code_at(row, 1)?)))?
                            .collect::<Result<Vec<(RoomId, RoomCode)>, _>>()
                    })
                    .map_err(unavailable)
                })
                .await?;
            let Some(&(last, _)) = rooms.last() else {
                return Ok(report);
            };
            after = last;
            for (room_id, code) in rooms {
                report.messages += self.delete_messages_of(room_id, batch).await?;
                self.write(move |conn| {
                    conn.prepare_cached(
                        "DELETE FROM rooms WHERE id = ?1 AND deleted_at IS NOT NULL \
                         AND NOT EXISTS (SELECT 1 FROM messages WHERE room_id = ?1)",
                    )
                    .and_then(|mut statement| statement.execute([room_id]))
                    .map_err(unavailable)
                })
                .await?;
                report.rooms.push((room_id, code));
            }
        }
    }
}

impl SqliteStore {
    /// Deletes every message of a tombstoned room, `batch` at a time (oldest first), each
    /// batch its own statement on the writer; answers how many. A tombstoned room takes no
    /// new messages, so the range up to the batch's newest id is exactly the batch.
    async fn delete_messages_of(&self, room_id: RoomId, batch: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let removed = self
                .write(move |conn| {
                    let up_to: Option<MessageId> = conn
                        .prepare_cached(
                            "SELECT max(id) FROM (SELECT id FROM messages WHERE room_id = ?1 \
                             ORDER BY id LIMIT ?2)",
                        )
                        .and_then(|mut statement| {
                            statement.query_row((room_id, batch), |row| row.get(0))
                        })
                        .map_err(unavailable)?;
                    let Some(up_to) = up_to else {
                        return Ok(0);
                    };
                    // The messages' reactors go with them (ON DELETE CASCADE, migration 0004).
                    conn.prepare_cached("DELETE FROM messages WHERE room_id = ?1 AND id <= ?2")
                        .and_then(|mut statement| statement.execute((room_id, up_to)))
                        .map_err(unavailable)
                })
                .await?;
            deleted += removed as u64;
            if i64::try_from(removed).unwrap_or(i64::MAX) < batch {
                return Ok(deleted);
            }
        }
    }
}

/// A list of ids as the JSON array `json_each` reads, so that one statement takes any
/// number of them.
fn id_list(ids: &[RoomId]) -> String {
    let items: Vec<String> = ids.iter().map(RoomId::to_string).collect();
    format!("[{}]", items.join(","))
}
