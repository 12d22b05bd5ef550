//! The clustered store: PostgreSQL behind a bb8 pool, shared by every node.
//!
//! The invariant every node relies on: the ids of one room are committed in increasing
//! order, whichever node writes. A batch therefore locks its rooms' rows (in id order, so
//! two batches never deadlock) *before* it takes ids from the sequence, and holds the
//! locks until it commits: a later batch of the same room waits, then draws larger ids.
//! The room row also carries `last_message_id`, which gives each message its `prev_id`,
//! and `last_seq`, the room's change-stream position, which every new message and change
//! advances by one (see `postgres_changes.rs` for how a batch's changes are applied).
//!
//! A batch made only of sends (each clientId at most once) costs one round trip: one
//! call of the `commit_sends` function, which does all of that inside the server
//! (`postgres_sends.rs`). Any other batch costs two round trips whatever its size, because
//! the statements of each step are pipelined (sent together, answered in order): first
//! `BEGIN`, lock the rooms, look up clientIds and draw ids; then insert the new messages
//! and advance the rooms (one statement) and `COMMIT`. The server runs pipelined
//! statements one after the other, so the lock still comes before the ids. Every
//! statement is prepared once per connection, when the pool opens it.
//!
//! Every call is bounded in time ([`PostgresTimeouts`]): a network partition must turn into
//! `unavailable` answers within seconds, not into sends that hang while TCP retransmits for
//! a quarter of an hour. A connection whose call overran is dropped, since what it was
//! doing is unknown, and the server is told the same bound, so that it ends a transaction
//! whose node went silent (releasing the rows it locked) instead of waiting for it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use bb8::{ManageConnection, Pool, RunError};
use bb8_postgres::PostgresConnectionManager;
use chat_actors::changes;
use chat_actors::ids::{ClientId, MessageId, RoomCode, RoomId};
use chat_actors::model::{now_millis, Committed, Message, Room, RoomRecord, Seq};
use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls;

use super::postgres_changes::{ChangeColumns, ChangeKeys, Changes, Reactor};
use super::postgres_sends;
use super::{describe, migrate, retention, Outcome, Page, Store, StoreError, SweepReport, Write};

/// tokio-postgres's keepalive idle time when the URL sets none (two hours, as the kernel).
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// How long the store waits on PostgreSQL, and how soon a dead connection is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresTimeouts {
    /// Longest a call waits for a pooled connection (or to open one), and then again for
    /// its work on it, before it answers unavailable: a send should fail fast and be
    /// retried, not hang while the database is unreachable. Also the server's
    /// `statement_timeout` and `idle_in_transaction_session_timeout` on pooled connections.
    pub call: Duration,
    /// TCP keepalive idle time and `TCP_USER_TIMEOUT` of every connection, so that a socket
    /// whose server went silent is closed by the kernel in bounded time (an abandoned
    /// connection's I/O task ends with it).
    pub tcp: Duration,
}

impl Default for PostgresTimeouts {
    fn default() -> Self {
        PostgresTimeouts {
            call: Duration::from_secs(5),
            tcp: Duration::from_secs(10),
        }
    }
}

/// A [`Store`] on a PostgreSQL database.
pub struct PostgresStore {
    /// This node's connections.
    pool: Pool<Manager>,
    /// Bound of each call's work once it has a connection.
    call_timeout: Duration,
}

/// A pooled connection with its prepared statements.
struct PgConnection {
    /// The connection.
    client: Client,
    /// Everything the store runs, prepared on this connection.
    statements: Statements,
    /// A transaction was begun and has not been seen to end. A commit whose future was
    /// dropped half way (a timeout, shutdown) leaves this set, and the pool then closes
    /// the connection — which ends the transaction on the server — rather than hand it
    /// out mid-transaction.
    in_transaction: bool,
    /// A call on it overran its bound: whatever it was waiting for may still arrive, so
    /// the pool must not hand it out again.
    abandoned: bool,
    /// It may hold the session-level sweep lock (retention). A sweep dropped or failed half
    /// way leaves this set, and the pool closes the connection, which releases the lock,
    /// rather than hand out a connection that keeps every node from sweeping.
    sweep_lock: bool,
}

impl PgConnection {
    /// The result of a call bounded by `limit`; one that overran answers unavailable and
    /// marks this connection for the pool to drop.
    fn settle<T>(
        &mut self,
        result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
        limit: Duration,
    ) -> Result<T, StoreError> {
        result.unwrap_or_else(|_| {
            self.abandoned = true;
            Err(StoreError::Unavailable(format!(
                "postgres: no answer within {limit:?}; connection dropped"
            )))
        })
    }
}

/// Locks a batch's rooms and reads their last ids. `ORDER BY id` takes the row locks in id
/// order, so two batches that share rooms never deadlock. A tombstoned room is not locked
/// (the condition is checked again once a sweep that held the row lets go), so its
/// writes fail with `NoSuchRoom` rather than land in a room being deleted.
const LOCK_ROOMS: &str = "SELECT id, last_message_id, last_seq FROM rooms \
                          WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL \
                          ORDER BY id FOR UPDATE";

/// The stored originals of a batch's (room, clientId) pairs, as [`message_query!`] rows, in
/// one statement whatever the batch's size.
///
/// Written as one keyed lookup per pair (`LATERAL ... LIMIT 1`, which the planner cannot
/// flatten into a join) because the statement is prepared once per connection and
/// PostgreSQL then keeps a generic plan made from whatever the statistics said at the
/// time: as a join, a plan made while `messages` was small scanned the whole table (or all
/// of a room's messages) for every batch, so commits grew slower with every message until
/// autovacuum's next ANALYZE replaced the plan (the closed loop's "slow mode" in
/// BENCHMARKS.md). This shape has one plan, an index lookup per pair, whatever the
/// statistics; `tests/store_plans.rs` checks it.
const FIND_ORIGINALS: &str = "SELECT m.id, m.room_id, m.code, m.sender, m.content, m.client_id, \
            m.created_at, m.bot, m.author_id, m.reply_to, m.edited_at, m.deleted, m.reactions, \
            m.seq \
     FROM UNNEST($1::bigint[], $2::text[]) AS k (room_id, client_id) \
     CROSS JOIN LATERAL ( \
         SELECT m.*, r.code FROM messages m JOIN rooms r ON r.id = m.room_id \
         WHERE m.room_id = k.room_id AND m.client_id = k.client_id \
           AND m.client_id IS NOT NULL \
         LIMIT 1) AS m";

/// The statements whose plans must not depend on the statistics PostgreSQL had when a
/// connection prepared them (keyed lookups into tables that grow), by name, for
/// `tests/store_plans.rs`.
pub const PLAN_STABLE: &[(&str, &str)] = &[("find_originals", FIND_ORIGINALS)];

/// Inserts a batch's new messages and advances their rooms' `last_message_id` and
/// `last_seq` (and marks them used, for retention). One statement, so that nothing can
/// advance a room without its messages.
const INSERT_AND_ADVANCE: &str = "WITH inserted AS ( \
         INSERT INTO messages \
             (id, room_id, sender, content, client_id, created_at, prev_id, bot, \
              author_id, reply_to, seq) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], \
                              $4::text[], $5::text[], $6::timestamptz[], \
                              $7::bigint[], $8::boolean[], $9::text[], $10::bigint[], \
                              $11::bigint[]) \
         RETURNING room_id, id, seq, created_at) \
     UPDATE rooms SET last_message_id = v.last_id, \
                      last_seq = GREATEST(rooms.last_seq, v.last_seq), \
                      last_active_at = GREATEST(rooms.last_active_at, v.last_at) \
     FROM (SELECT room_id, max(id) AS last_id, max(seq) AS last_seq, \
                  max(created_at) AS last_at \
           FROM inserted GROUP BY room_id) AS v \
     WHERE rooms.id = v.room_id";

/// The messages a batch changes, as [`message_query!`] rows.
const FIND_CHANGED: &str = message_query!("WHERE m.id = ANY($1::bigint[])");

/// Which of the reactors a batch touches are stored.
const FIND_REACTORS: &str = "SELECT r.message_id, r.emoji, r.reactor FROM reactions r \
     JOIN UNNEST($1::bigint[], $2::text[], $3::text[]) AS k (message_id, emoji, reactor) \
       ON r.message_id = k.message_id AND r.emoji = k.emoji AND r.reactor = k.reactor";

/// Writes the final state of every message a batch changed.
const UPDATE_CHANGED: &str = "UPDATE messages m SET content = v.content, \
         edited_at = v.edited_at, deleted = v.deleted, reactions = v.reactions, seq = v.seq \
     FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::boolean[], $5::text[], \
                 $6::bigint[]) AS v (id, content, edited_at, deleted, reactions, seq) \
     WHERE m.id = v.id";

/// Removes reactors that took their reaction back.
const REMOVE_REACTORS: &str = "DELETE FROM reactions r \
     USING UNNEST($1::bigint[], $2::text[], $3::text[]) AS k (message_id, emoji, reactor) \
     WHERE r.message_id = k.message_id AND r.emoji = k.emoji AND r.reactor = k.reactor";

/// Adds the reactors of new reactions.
const ADD_REACTORS: &str = "INSERT INTO reactions (message_id, emoji, reactor) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[])";

/// Advances the rooms a batch's changes moved (after its inserts advanced theirs), and
/// marks them used (a change is a use, for retention).
const ADVANCE_SEQ: &str = "UPDATE rooms SET last_seq = GREATEST(rooms.last_seq, v.seq), \
         last_active_at = GREATEST(rooms.last_active_at, $3) \
     FROM UNNEST($1::bigint[], $2::bigint[]) AS v (id, seq) WHERE rooms.id = v.id";

/// The store's statements, prepared once per connection so the hot path never parses
/// or plans SQL text.
struct Statements {
    begin: Statement,
    commit: Statement,
    lock_rooms: Statement,
    find_originals: Statement,
    find_reply_targets: Statement,
    next_ids: Statement,
    insert_and_advance: Statement,
    commit_sends: Statement,
    find_changed: Statement,
    find_reactors: Statement,
    update_changed: Statement,
    remove_reactors: Statement,
    clear_reactors: Statement,
    add_reactors: Statement,
    advance_seq: Statement,
    create_room: Statement,
    find_room: Statement,
    find_by_client_id: Statement,
    history: Statement,
    range: Statement,
    since: Statement,
    changed_since: Statement,
}

impl Statements {
    /// Prepares every statement on `client`.
    async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
        Ok(Statements {
            begin: client.prepare("BEGIN").await?,
            commit: client.prepare("COMMIT").await?,
            lock_rooms: client.prepare(LOCK_ROOMS).await?,
            find_originals: client.prepare(FIND_ORIGINALS).await?,
            find_reply_targets: client
                .prepare("SELECT id, room_id FROM messages WHERE id = ANY($1::bigint[])")
                .await?,
            next_ids: client
                .prepare("SELECT nextval('messages_id_seq') FROM generate_series(1, $1::bigint)")
                .await?,
            insert_and_advance: client.prepare(INSERT_AND_ADVANCE).await?,
            commit_sends: client.prepare(postgres_sends::COMMIT_SENDS).await?,
            find_changed: client.prepare(FIND_CHANGED).await?,
            find_reactors: client.prepare(FIND_REACTORS).await?,
            update_changed: client.prepare(UPDATE_CHANGED).await?,
            remove_reactors: client.prepare(REMOVE_REACTORS).await?,
            clear_reactors: client
                .prepare("DELETE FROM reactions WHERE message_id = ANY($1::bigint[])")
                .await?,
            add_reactors: client.prepare(ADD_REACTORS).await?,
            advance_seq: client.prepare(ADVANCE_SEQ).await?,
            create_room: client
                .prepare(
                    "INSERT INTO rooms (code, created_at, owner_key_hash, last_active_at) \
                     VALUES ($1, $2, $3, $2) RETURNING id",
                )
                .await?,
            find_room: client
                .prepare(
                    "SELECT id, code, created_at, last_message_id, owner_key_hash, last_seq \
                     FROM rooms WHERE code = $1 AND deleted_at IS NULL",
                )
                .await?,
            find_by_client_id: client
                .prepare(message_query!("WHERE m.room_id = $1 AND m.client_id = $2"))
                .await?,
            history: client
                .prepare(message_query!(
                    "WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
                ))
                .await?,
            range: client
                .prepare(message_query!(
                    "WHERE m.room_id = $1 AND m.id > $2 AND m.id <= $3 \
                     ORDER BY m.id DESC LIMIT $4"
                ))
                .await?,
            since: client
                .prepare(message_query!(
                    "WHERE m.room_id = $1 AND (m.id > $2 OR m.seq > $3) ORDER BY m.id LIMIT $4"
                ))
                .await?,
            changed_since: client
                .prepare(message_query!(
                    "WHERE m.room_id = $1 AND m.seq > $2 AND m.id <= $3 ORDER BY m.seq LIMIT $4"
                ))
                .await?,
        })
    }
}

/// Why the pool could not hand out a connection.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    /// Connecting or preparing failed.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// The connection was closed (server restart, network): the pool drops it and opens
    /// another instead of handing out one that can only fail.
    #[error("connection closed")]
    Closed,
}

/// Opens connections for the pool and prepares the store's statements on each.
struct Manager {
    /// Opens the raw connections (and spawns their I/O tasks).
    inner: PostgresConnectionManager<MakeRustlsConnect>,
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = ConnectionError;

    async fn connect(&self) -> Result<PgConnection, ConnectionError> {
        let client = self.inner.connect().await?;
        let statements = Statements::prepare(&client).await?;
        Ok(PgConnection {
            client,
            statements,
            in_transaction: false,
            abandoned: false,
            sweep_lock: false,
        })
    }

    /// Checked on every checkout, so it must not cost a round trip: a connection that
    /// the server closed is noticed locally by its I/O task.
    async fn is_valid(&self, conn: &mut PgConnection) -> Result<(), ConnectionError> {
        if conn.client.is_closed() || conn.in_transaction || conn.sweep_lock {
            Err(ConnectionError::Closed)
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.abandoned || conn.in_transaction || conn.sweep_lock || conn.client.is_closed()
    }
}

/// Maps a database error: whatever went wrong, the transaction did not commit. A data
/// exception (SQLSTATE class 22, such as a NUL byte in text) is the data's fault, not the
/// server's: it is `Rejected`, so the batch can be retried without the culprit.
pub(super) fn unavailable(error: tokio_postgres::Error) -> StoreError {
    let described = format!("postgres: {}", describe(&error));
    match error.code() {
        Some(code) if code.code().starts_with("22") => StoreError::Rejected(described),
        _ => StoreError::Unavailable(described),
    }
}

/// Adds what to do to a first connection's failure that TLS caused.
fn explain_tls(error: StoreError, mode: tls::TlsMode) -> StoreError {
    let StoreError::Unavailable(text) = &error else {
        return error;
    };
    let hint = if text.contains("certificate") {
        "PostgreSQL's certificate was not accepted: set sslrootcert in DATABASE_URL or \
         --db-ca-file to the CA that signed it (with sslmode=verify-full the host name in \
         the URL must be in the certificate too)"
    } else if text.contains("no encryption") && mode == tls::TlsMode::Off {
        "the server accepts only encrypted connections: add sslmode=verify-full (or \
         require) to DATABASE_URL"
    } else if text.contains("does not support TLS") || text.contains("server does not support") {
        "the server does not offer TLS, and DATABASE_URL's sslmode requires it"
    } else {
        return error;
    };
    StoreError::Unavailable(format!("{text} ({hint})"))
}

/// Maps a failure to get a pooled connection.
fn no_connection(error: RunError<ConnectionError>) -> StoreError {
    match error {
        RunError::User(e) => StoreError::Unavailable(format!("postgres: {}", describe(&e))),
        RunError::TimedOut => {
            StoreError::Unavailable("postgres: timed out waiting for a connection".into())
        }
    }
}

/// A row whose stored value cannot be what the store wrote.
pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Unavailable(format!("postgres: corrupt row: {what}"))
}

/// Reads a room code column.
fn code_at(row: &Row, index: usize) -> Result<RoomCode, StoreError> {
    let text: &str = row.try_get(index).map_err(unavailable)?;
    RoomCode::parse(text).map_err(|_| corrupt(format!("room code {text:?}")))
}

/// Reads a row of [`message_query!`].
pub(super) fn message_from(row: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        id: row.try_get(0).map_err(unavailable)?,
        room_id: row.try_get(1).map_err(unavailable)?,
        room_code: code_at(row, 2)?,
        sender: row.try_get(3).map_err(unavailable)?,
        content: row.try_get(4).map_err(unavailable)?,
        client_id: row.try_get(5).map_err(unavailable)?,
        created_at: row.try_get(6).map_err(unavailable)?,
        bot: row.try_get(7).map_err(unavailable)?,
        author_id: row.try_get(8).map_err(unavailable)?,
        reply_to: row.try_get(9).map_err(unavailable)?,
        edited_at: row.try_get(10).map_err(unavailable)?,
        deleted: row.try_get(11).map_err(unavailable)?,
        reactions: changes::reactions_from_text(row.try_get(12).map_err(unavailable)?)
            .map_err(corrupt)?,
        seq: row.try_get(13).map_err(unavailable)?,
    })
}

/// Reads rows of [`message_query!`].
fn messages_from(rows: &[Row]) -> Result<Vec<Message>, StoreError> {
    rows.iter().map(message_from).collect()
}

/// Reads a `rooms` row selected as `id, code, created_at, last_message_id`.
fn room_from(row: &Row) -> Result<RoomRecord, StoreError> {
    Ok(RoomRecord {
        room: Room {
            id: row.try_get(0).map_err(unavailable)?,
            code: code_at(row, 1)?,
            created_at: row.try_get(2).map_err(unavailable)?,
        },
        last_message_id: row.try_get(3).map_err(unavailable)?,
        owner_key_hash: row.try_get(4).map_err(unavailable)?,
        last_seq: row.try_get(5).map_err(unavailable)?,
    })
}

/// Keeps at most `limit` of the `limit + 1` rows a page query fetched.
fn page_of(mut messages: Vec<Message>, limit: u32) -> Page {
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = messages.len() > keep;
    messages.truncate(keep);
    Page { messages, has_more }
}

/// What a message of the batch turns into, before ids are drawn.
enum Plan {
    /// Its clientId was stored before: this is the original.
    Stored(Message),
    /// A new message: the index of its row among the batch's inserts.
    New(usize),
    /// Its clientId came earlier in this batch: the index of that insert.
    Repeat(usize),
    /// It replies to a message that is not one of its room's.
    NoReplyTarget,
    /// A change, decided as the batch went.
    Decided(Outcome),
}

/// Sets the client side of `timeouts` on `config`, where the URL does not set its own.
fn bound_connections(config: &mut Config, timeouts: PostgresTimeouts) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeouts.call);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(timeouts.tcp);
    }
    if config.get_keepalives() && config.get_keepalives_idle() == DEFAULT_KEEPALIVES_IDLE {
        config.keepalives_idle(timeouts.tcp);
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval((timeouts.tcp / 3).max(Duration::from_secs(1)));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
    }
}

impl PostgresTimeouts {
    /// The startup options that tell the server the call bound: it cancels a statement
    /// that runs past it (one waiting for a lock, say) and ends a session left idle inside
    /// a transaction past it, which is what a node cut off mid-transaction leaves behind,
    /// holding its rooms' row locks. Public so that a test can open a session as the pool
    /// does.
    pub fn session_options(&self) -> String {
        let millis = self.call.as_millis();
        format!("-c statement_timeout={millis} -c idle_in_transaction_session_timeout={millis}")
    }
}

/// Gives the pool's connections [`PostgresTimeouts::session_options`] (not the migration
/// connection: migrations may rightly take longer). Options already in the URL come
/// later, so they win.
fn bound_sessions(config: &mut Config, timeouts: PostgresTimeouts) {
    let ours = timeouts.session_options();
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
        _ => ours,
    };
    config.options(&options);
}

impl PostgresStore {
    /// Connects to `url`, migrates the schema, and opens a pool of at most `pool_size`
    /// connections (at least one), bounded by `timeouts`.
    pub async fn connect(
        url: &str,
        pool_size: u32,
        timeouts: PostgresTimeouts,
    ) -> Result<PostgresStore, StoreError> {
        let (url, tls) = tls::split_url(url)?;
        let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Unavailable(format!("invalid database URL: {}", describe(&e)))
        })?;
        config.ssl_mode(tls.ssl_mode());
        let connector = tls.connector()?;
        bound_connections(&mut config, timeouts);
        if config.get_application_name().is_none() {
            config.application_name("chat-node");
        }

        let (mut client, connection) = config
            .connect(connector.clone())
            .await
            .map_err(|error| explain_tls(unavailable(error), tls.mode))?;
        let io = tokio::spawn(connection);
        let applied = migrate::apply_postgres(&mut client).await?;
        drop(client);
        // The migration connection ends once its client is gone; its result is moot.
        let _ = io.await;
        tracing::info!(applied, "postgres store ready");

        bound_sessions(&mut config, timeouts);
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(timeouts.call)
            .build(Manager {
                inner: PostgresConnectionManager::new(config, connector),
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("postgres: {}", describe(&e))))?;
        Ok(PostgresStore {
            pool,
            call_timeout: timeouts.call,
        })
    }

    /// Runs `work` on a pooled connection within the call bound (the checkout has its own,
    /// the pool's). A call that overran answers unavailable and leaves its connection for
    /// the pool to drop.
    /// Runs a page query of [`message_query!`] rows whose last parameter asks for
    /// `limit + 1` of them, and keeps at most `limit`, with `has_more` telling whether the
    /// extra one was there.
    async fn page(
        &self,
        statement: fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
        limit: u32,
    ) -> Result<Page, StoreError> {
        self.call(async |conn| {
            let rows = conn
                .client
                .query(statement(&conn.statements), params)
                .await
                .map_err(unavailable)?;
            Ok(page_of(messages_from(&rows)?, limit))
        })
        .await
    }

    async fn call<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get().await.map_err(no_connection)?;
        let result = tokio::time::timeout(self.call_timeout, work(&mut conn)).await;
        conn.settle(result, self.call_timeout)
    }
}

/// A statement of a pipelined round trip that is sent only when it has work: when
/// `$skip`, it answers the empty default (no rows, no rows affected) without a word to the
/// server.
macro_rules! unless_empty {
    ($skip:expr, $statement:expr $(,)?) => {
        async {
            if $skip {
                Ok(Default::default())
            } else {
                $statement.await
            }
        }
    };
}

/// What a commit looks up in its first round trip, taken from the batch before anything
/// is sent.
struct Keys<'a> {
    /// The batch's rooms, ascending and once each: the rows to lock.
    room_ids: Vec<RoomId>,
    /// The room of each message that carries a clientId, beside `key_ids`.
    key_rooms: Vec<RoomId>,
    /// Those clientIds, to look up as stored originals.
    key_ids: Vec<&'a str>,
    /// The messages replied to, once each, to look up with their rooms.
    reply_targets: Vec<MessageId>,
    /// How many ids to draw: one per new message. The ones that turn out to be duplicates
    /// leave gaps in the sequence, which is cheaper than a third round trip.
    count: i64,
    /// The messages and reactors the batch's changes touch.
    changes: ChangeKeys,
}

impl<'a> Keys<'a> {
    /// The keys of `batch`.
    fn of(batch: &'a [Write]) -> Keys<'a> {
        let mut room_ids: Vec<RoomId> = batch.iter().map(Write::room_id).collect();
        room_ids.sort_unstable();
        room_ids.dedup();
        let sends = || {
            batch.iter().filter_map(|write| match write {
                Write::Send(message) => Some(message),
                Write::Change(_) => None,
            })
        };
        let (key_rooms, key_ids): (Vec<RoomId>, Vec<&str>) = sends()
            .filter_map(|m| m.client_id.as_ref().map(|id| (m.room_id, id.as_str())))
            .unzip();
        let mut reply_targets: Vec<MessageId> = sends().filter_map(|m| m.reply_to).collect();
        reply_targets.sort_unstable();
        reply_targets.dedup();
        let count = i64::try_from(sends().count()).unwrap_or(i64::MAX);
        Keys {
            room_ids,
            key_rooms,
            key_ids,
            reply_targets,
            count,
            changes: ChangeKeys::of(batch),
        }
    }
}

/// The rows the first round trip of a commit answered with.
struct Looked {
    /// The locked rooms, as `id, last_message_id, last_seq`.
    locked: Vec<Row>,
    /// The stored originals of the batch's clientIds, as [`message_query!`] rows.
    originals: Vec<Row>,
    /// The drawn ids, one per new message, in no particular order.
    drawn: Vec<Row>,
    /// The stored messages replied to, as `id, room_id`.
    targets: Vec<Row>,
    /// The messages the batch changes, as [`message_query!`] rows.
    changed: Vec<Row>,
    /// The stored reactors of the ones the batch touches, as `message_id, emoji, reactor`.
    reactors: Vec<Row>,
}

/// What the first round trip of a commit decided: each write's fate, the rows of the new
/// messages, the net result of the changes, and where each room ends.
struct Decided {
    /// One per input write, in input order.
    plans: Vec<Plan>,
    /// The new messages, with their ids and `prev_id`s, ascending.
    created: Vec<Committed>,
    /// What the changes write.
    changes: ChangeColumns,
    /// The rooms whose changes moved them, and their last position.
    advanced: (Vec<RoomId>, Vec<Seq>),
    /// When the batch was decided: its messages' time, and its rooms' last use.
    now: DateTime<Utc>,
}

/// The body of [`Store::commit_batch`], on one connection, in one transaction of two
/// pipelined round trips.
async fn commit_on(conn: &mut PgConnection, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
    let keys = Keys::of(batch);
    let decided = lock_and_decide(conn, batch, &keys).await?;
    write_and_commit(conn, &decided).await?;
    Ok(outcomes(decided.plans, &decided.created))
}

/// The first round trip and what follows from it. The connection counts as in a
/// transaction from before `BEGIN` is sent, so that a commit dropped half way leaves it
/// for the pool to close; a failure here rolls the transaction back before it returns.
async fn lock_and_decide(
    conn: &mut PgConnection,
    batch: &[Write],
    keys: &Keys<'_>,
) -> Result<Decided, StoreError> {
    conn.in_transaction = true;
    let decided = begin_and_look_up(&conn.client, &conn.statements, keys)
        .await
        .and_then(|looked| decide(batch, &keys.room_ids, &looked));
    if decided.is_err() {
        rollback(conn).await;
    }
    decided
}

/// Round trip 1, pipelined: `BEGIN`; lock the rooms in id order (the statement sorts) and
/// learn their cursors; find clientIds already stored (no other batch can store one of
/// them now: the rooms are locked); draw ids, after the lock, so they come after every id
/// already committed in these rooms; read what replies point to and what changes change.
/// Waits for every answer, then reports the first failure in statement order.
async fn begin_and_look_up(
    client: &Client,
    statements: &Statements,
    keys: &Keys<'_>,
) -> Result<Looked, StoreError> {
    let Keys {
        room_ids,
        key_rooms,
        key_ids,
        reply_targets,
        count,
        changes,
    } = keys;
    let (begun, locked, originals, drawn, targets, changed, reactors) = futures_util::join!(
        client.execute(&statements.begin, &[]),
        async { client.query(&statements.lock_rooms, &[room_ids]).await },
        unless_empty!(
            key_rooms.is_empty(),
            client.query(&statements.find_originals, &[key_rooms, key_ids])
        ),
        unless_empty!(*count == 0, client.query(&statements.next_ids, &[count])),
        unless_empty!(
            reply_targets.is_empty(),
            client.query(&statements.find_reply_targets, &[reply_targets])
        ),
        unless_empty!(
            changes.is_empty(),
            client.query(&statements.find_changed, &[&changes.targets])
        ),
        unless_empty!(
            changes.reactor_messages.is_empty(),
            client.query(
                &statements.find_reactors,
                &[
                    &changes.reactor_messages,
                    &changes.reactor_emoji,
                    &changes.reactor_names
                ]
            )
        ),
    );
    begun.map_err(unavailable)?;
    Ok(Looked {
        locked: locked.map_err(unavailable)?,
        originals: originals.map_err(unavailable)?,
        drawn: drawn.map_err(unavailable)?,
        targets: targets.map_err(unavailable)?,
        changed: changed.map_err(unavailable)?,
        reactors: reactors.map_err(unavailable)?,
    })
}

/// The new messages column by column, as the `UNNEST` of `insert_and_advance` takes
/// them: one array parameter per column sends the whole batch in one statement.
struct Columns<'a> {
    ids: Vec<MessageId>,
    rooms: Vec<RoomId>,
    senders: Vec<&'a str>,
    contents: Vec<&'a str>,
    client_ids: Vec<Option<&'a str>>,
    times: Vec<DateTime<Utc>>,
    prevs: Vec<Option<MessageId>>,
    bots: Vec<bool>,
    authors: Vec<Option<&'a str>>,
    replies: Vec<Option<MessageId>>,
    seqs: Vec<Seq>,
}

impl<'a> Columns<'a> {
    /// The columns of `created`.
    fn of(created: &'a [Committed]) -> Columns<'a> {
        Columns {
            ids: created.iter().map(|c| c.message.id).collect(),
            rooms: created.iter().map(|c| c.message.room_id).collect(),
            senders: created.iter().map(|c| c.message.sender.as_str()).collect(),
            contents: created.iter().map(|c| c.message.content.as_str()).collect(),
            client_ids: created
                .iter()
                .map(|c| c.message.client_id.as_deref())
                .collect(),
            times: created.iter().map(|c| c.message.created_at).collect(),
            prevs: created.iter().map(|c| c.prev_id).collect(),
            bots: created.iter().map(|c| c.message.bot).collect(),
            authors: created
                .iter()
                .map(|c| c.message.author_id.as_deref())
                .collect(),
            replies: created.iter().map(|c| c.message.reply_to).collect(),
            seqs: created.iter().map(|c| c.message.seq).collect(),
        }
    }
}

/// Round trip 2, pipelined: insert the new messages and advance their rooms (one
/// statement), write the changes (only the statements the batch needs), and `COMMIT`.
/// Should a statement fail, the server answers the `COMMIT` behind it with a rollback.
async fn write_and_commit(conn: &mut PgConnection, decided: &Decided) -> Result<(), StoreError> {
    let Decided {
        created,
        changes,
        advanced,
        ..
    } = decided;
    let columns = Columns::of(created);
    let client = &conn.client;
    let statements = &conn.statements;
    let (inserted, updated, removed, cleared, added, moved, committed) = futures_util::join!(
        unless_empty!(
            created.is_empty(),
            client.execute(
                &statements.insert_and_advance,
                &[
                    &columns.ids,
                    &columns.rooms,
                    &columns.senders,
                    &columns.contents,
                    &columns.client_ids,
                    &columns.times,
                    &columns.prevs,
                    &columns.bots,
                    &columns.authors,
                    &columns.replies,
                    &columns.seqs,
                ],
            )
        ),
        unless_empty!(
            changes.ids.is_empty(),
            client.execute(
                &statements.update_changed,
                &[
                    &changes.ids,
                    &changes.contents,
                    &changes.edited_at,
                    &changes.deleted,
                    &changes.reactions,
                    &changes.seqs,
                ],
            )
        ),
        unless_empty!(
            changes.gone.is_empty(),
            client.execute(
                &statements.remove_reactors,
                &[
                    &changes.gone.messages,
                    &changes.gone.emoji,
                    &changes.gone.names
                ],
            )
        ),
        unless_empty!(
            changes.cleared.is_empty(),
            client.execute(&statements.clear_reactors, &[&changes.cleared])
        ),
        unless_empty!(
            changes.came.is_empty(),
            client.execute(
                &statements.add_reactors,
                &[
                    &changes.came.messages,
                    &changes.came.emoji,
                    &changes.came.names
                ],
            )
        ),
        unless_empty!(
            advanced.0.is_empty(),
            client.execute(
                &statements.advance_seq,
                &[&advanced.0, &advanced.1, &decided.now]
            )
        ),
        client.execute(&statements.commit, &[]),
    );
    // Every answer is in: the transaction is over, one way or the other (a connection
    // that broke instead is dropped by the pool as closed).
    conn.in_transaction = false;
    let advanced_rooms = inserted.map_err(unavailable)?;
    for result in [updated, removed, cleared, added, moved] {
        result.map_err(unavailable)?;
    }
    committed.map_err(unavailable)?;
    expect_advanced(advanced_rooms, columns.rooms)
}

/// Checks that the insert advanced each room of `rooms` (one entry per new message).
/// The insert and the room update are one statement, so a mismatch cannot be a partial
/// write; but it would mean the schema is not what the store expects.
fn expect_advanced(advanced: u64, mut rooms: Vec<RoomId>) -> Result<(), StoreError> {
    rooms.sort_unstable();
    rooms.dedup();
    if usize::try_from(advanced).ok() != Some(rooms.len()) {
        return Err(corrupt(format!(
            "advanced {advanced} rooms, expected {}",
            rooms.len()
        )));
    }
    Ok(())
}

/// One outcome per input write, in input order.
fn outcomes(plans: Vec<Plan>, created: &[Committed]) -> Vec<Outcome> {
    plans
        .into_iter()
        .filter_map(|plan| match plan {
            Plan::Stored(original) => Some(Outcome::Duplicate(original)),
            Plan::New(index) => created.get(index).cloned().map(Outcome::Created),
            Plan::Repeat(index) => created
                .get(index)
                .map(|first| Outcome::Duplicate(first.message.clone())),
            Plan::NoReplyTarget => Some(Outcome::ReplyTargetMissing),
            Plan::Decided(outcome) => Some(outcome),
        })
        .collect()
}

/// Where a locked room stands: its last message id, and its position.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    last_id: Option<MessageId>,
    seq: Seq,
    /// A change of the batch moved it.
    changed: bool,
}

/// Decides each write's fate from the first round trip's answers, in batch order:
/// duplicates point at their originals, new messages take ids and positions and chain
/// onto their room, changes are decided on the message as the batch left it so far.
fn decide(batch: &[Write], room_ids: &[RoomId], looked: &Looked) -> Result<Decided, StoreError> {
    let mut rooms = cursors_of(&looked.locked, room_ids)?;
    let stored = originals_by_key(&looked.originals)?;
    let sends = batch.iter().filter(|w| matches!(w, Write::Send(_))).count();
    let mut ids = drawn_ids(&looked.drawn, sends)?.into_iter();
    // Messages a reply may point to: stored ones, and the batch's own as they are decided.
    let mut targets = targets_of(&looked.targets)?;
    let mut changes = Changes::found(
        messages_from(&looked.changed)?,
        reactors_of(&looked.reactors)?,
    );

    let now: DateTime<Utc> = now_millis();
    let mut plans = Vec::with_capacity(batch.len());
    let mut created: Vec<Committed> = Vec::with_capacity(batch.len());
    let mut first_of: HashMap<(RoomId, &str), usize> = HashMap::new();
    for write in batch {
        let message = match write {
            Write::Send(message) => message,
            Write::Change(change) => {
                let cursor = rooms
                    .get_mut(&change.room_id)
                    .ok_or(StoreError::NoSuchRoom(change.room_id))?;
                let next_seq = || {
                    cursor.seq += 1;
                    cursor.changed = true;
                    Ok(cursor.seq)
                };
                plans.push(Plan::Decided(changes.apply(change, now, next_seq)?));
                continue;
            }
        };
        let key = message
            .client_id
            .as_ref()
            .map(|id| (message.room_id, id.as_str()));
        if let Some(key) = key {
            if let Some(original) = stored.get(&key.0).and_then(|ids| ids.get(key.1)) {
                plans.push(Plan::Stored(original.clone()));
                continue;
            }
            if let Some(&index) = first_of.get(&key) {
                plans.push(Plan::Repeat(index));
                continue;
            }
        }
        if let Some(target) = message.reply_to {
            if !targets.contains(&(target, message.room_id)) {
                plans.push(Plan::NoReplyTarget);
                continue;
            }
        }
        if let Some(key) = key {
            first_of.insert(key, created.len());
        }
        let Some(id) = ids.next() else {
            return Err(StoreError::Unavailable(
                "postgres: the sequence returned too few ids".into(),
            ));
        };
        let cursor = rooms
            .get_mut(&message.room_id)
            .ok_or(StoreError::NoSuchRoom(message.room_id))?;
        let prev_id = cursor.last_id.replace(id);
        cursor.seq += 1;
        targets.insert((id, message.room_id));
        plans.push(Plan::New(created.len()));
        let mut stored = message.stored_as(id, now);
        stored.seq = cursor.seq;
        created.push(Committed {
            message: stored,
            prev_id,
        });
    }
    let advanced = rooms
        .iter()
        .filter(|(_, cursor)| cursor.changed)
        .map(|(id, cursor)| (*id, cursor.seq))
        .unzip();
    Ok(Decided {
        plans,
        created,
        changes: changes.columns(),
        advanced,
        now,
    })
}

/// The stored messages replies point to, as (id, room).
fn targets_of(rows: &[Row]) -> Result<HashSet<(MessageId, RoomId)>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(unavailable)?,
                row.try_get(1).map_err(unavailable)?,
            ))
        })
        .collect()
}

/// The stored reactors a batch touches.
fn reactors_of(rows: &[Row]) -> Result<Vec<Reactor>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(unavailable)?,
                row.try_get(1).map_err(unavailable)?,
                row.try_get(2).map_err(unavailable)?,
            ))
        })
        .collect()
}

/// Each locked room's cursor, which the batch's writes in it continue. A room of the
/// batch that was not locked does not exist, and fails the batch.
fn cursors_of(locked: &[Row], room_ids: &[RoomId]) -> Result<HashMap<RoomId, Cursor>, StoreError> {
    let mut rooms: HashMap<RoomId, Cursor> = HashMap::with_capacity(locked.len());
    for row in locked {
        rooms.insert(
            row.try_get(0).map_err(unavailable)?,
            Cursor {
                last_id: row.try_get(1).map_err(unavailable)?,
                seq: row.try_get(2).map_err(unavailable)?,
                changed: false,
            },
        );
    }
    if let Some(missing) = room_ids.iter().find(|id| !rooms.contains_key(id)) {
        return Err(StoreError::NoSuchRoom(*missing));
    }
    Ok(rooms)
}

/// The stored originals by room, then clientId, so that a message can find its own
/// without building a key that owns its clientId.
fn originals_by_key(
    originals: &[Row],
) -> Result<HashMap<RoomId, HashMap<String, Message>>, StoreError> {
    let mut stored: HashMap<RoomId, HashMap<String, Message>> = HashMap::new();
    for row in originals {
        let original = message_from(row)?;
        let client_id = original.client_id.clone().unwrap_or_default();
        stored
            .entry(original.room_id)
            .or_default()
            .insert(client_id, original);
    }
    Ok(stored)
}

/// The drawn ids, ascending, so that new messages take them in input order; exactly one
/// per new message of a batch with `expected` of them, or the sequence misbehaved.
fn drawn_ids(drawn: &[Row], expected: usize) -> Result<Vec<MessageId>, StoreError> {
    let mut ids = drawn
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    if ids.len() != expected {
        return Err(StoreError::Unavailable(
            "postgres: the sequence returned too few ids".into(),
        ));
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Ends a transaction that failed half way, so the connection can be used again. If even
/// that fails, the connection stays marked as in a transaction and the pool closes it.
async fn rollback(conn: &mut PgConnection) {
    if conn.client.batch_execute("ROLLBACK").await.is_ok() {
        conn.in_transaction = false;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_room(
        &self,
        code: RoomCode,
        owner_key_hash: &str,
    ) -> Result<RoomRecord, StoreError> {
        let created_at = now_millis();
        self.call(async |conn| {
            match conn
                .client
                .query_one(
                    &conn.statements.create_room,
                    &[&code.as_str(), &created_at, &owner_key_hash],
                )
                .await
            {
                Ok(row) => Ok(RoomRecord {
                    room: Room {
                        id: row.try_get(0).map_err(unavailable)?,
                        code,
                        created_at,
                    },
                    last_message_id: None,
                    owner_key_hash: Some(owner_key_hash.to_owned()),
                    last_seq: 0,
                }),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StoreError::CodeTaken)
                }
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
    }

    async fn find_room(&self, code: RoomCode) -> Result<Option<RoomRecord>, StoreError> {
        self.call(async |conn| {
            conn.client
                .query_opt(&conn.statements.find_room, &[&code.as_str()])
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(room_from)
                .transpose()
        })
        .await
    }

    /// A commit that overran its bound is ambiguous: it may have committed after all. The
    /// senders are told `unavailable` (never a false ack), and their retries with the same
    /// clientIds are answered with the originals if it did.
    async fn commit_batch(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.call(async |conn| match postgres_sends::single_trip(batch) {
            Some(sends) => {
                postgres_sends::commit(&conn.client, &conn.statements.commit_sends, &sends).await
            }
            None => commit_on(conn, batch).await,
        })
        .await
    }

    async fn find_by_client_id(
        &self,
        room_id: RoomId,
        client_id: &ClientId,
    ) -> Result<Option<Message>, StoreError> {
        self.call(async |conn| {
            conn.client
                .query_opt(
                    &conn.statements.find_by_client_id,
                    &[&room_id, &client_id.as_str()],
                )
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(message_from)
                .transpose()
        })
        .await
    }

    async fn message_in_room(&self, room_id: RoomId, id: MessageId) -> Result<bool, StoreError> {
        self.call(async |conn| {
            conn.client
                .query_opt(
                    "SELECT 1 FROM messages WHERE id = $1 AND room_id = $2",
                    &[&id, &room_id],
                )
                .await
                .map(|row| row.is_some())
                .map_err(unavailable)
        })
        .await
    }

    async fn secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.call(async |conn| {
            conn.client
                .query_opt("SELECT value FROM node_secrets WHERE name = $1", &[&name])
                .await
                .map_err(unavailable)?
                .map(|row| row.try_get(0).map_err(unavailable))
                .transpose()
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
        let rows = i64::from(limit) + 1;
        self.page(|s| &s.history, &[&room_id, &before, &rows], limit)
            .await
    }

    async fn range(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        up_to_id: MessageId,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let rows = i64::from(limit) + 1;
        // Newest first so that LIMIT keeps the newest; reversed to ascending below.
        let mut page = self
            .page(
                |s| &s.range,
                &[&room_id, &after_id, &up_to_id, &rows],
                limit,
            )
            .await?;
        page.messages.reverse();
        Ok(page)
    }

    async fn since(
        &self,
        room_id: RoomId,
        after_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let rows = i64::from(limit) + 1;
        self.page(
            |s| &s.since,
            &[&room_id, &after_id, &after_seq, &rows],
            limit,
        )
        .await
    }

    async fn changed_since(
        &self,
        room_id: RoomId,
        up_to_id: MessageId,
        after_seq: Seq,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let rows = i64::from(limit) + 1;
        self.page(
            |s| &s.changed_since,
            &[&room_id, &after_seq, &up_to_id, &rows],
            limit,
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.call(async |conn| {
            conn.client
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn touch_rooms(&self, rooms: &[RoomId]) -> Result<Vec<RoomId>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        self.call(async |conn| {
            let rows = conn
                .client
                .query(TOUCH_ROOMS, &[&rooms, &now])
                .await
                .map_err(unavailable)?;
            let touched = rows
                .iter()
                .map(|row| row.try_get(0).map_err(unavailable))
                .collect::<Result<Vec<RoomId>, _>>()?;
            Ok(retention::gone(rooms, &touched))
        })
        .await
    }

    async fn close_room(&self, room: RoomId) -> Result<bool, StoreError> {
        let now = now_millis();
        self.call(async |conn| {
            conn.client
                .execute(
                    "UPDATE rooms SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                    &[&room, &now],
                )
                .await
                .map(|updated| updated == 1)
                .map_err(unavailable)
        })
        .await
    }

    /// One node at a time: the sweep holds a session-level advisory lock on its connection
    /// from start to end, and a node that cannot take it skips this round. Every step is
    /// bounded by the call timeout, as any call is.
    async fn sweep_unused_rooms(
        &self,
        unused_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<SweepReport, StoreError> {
        let batch = i64::from(batch.max(1));
        let limit = self.call_timeout;
        let mut conn = self.pool.get().await.map_err(no_connection)?;
        let locked = bounded(&mut conn, limit, async |conn| {
            // Set before the lock is asked for: a call dropped on the way may have taken it.
            conn.sweep_lock = true;
            conn.client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&SWEEP_LOCK_KEY])
                .await
                .and_then(|row| row.try_get::<_, bool>(0))
                .map_err(unavailable)
        })
        .await?;
        if !locked {
            conn.sweep_lock = false;
            return Ok(SweepReport {
                skipped: true,
                ..SweepReport::default()
            });
        }
        let swept = sweep_on(&mut conn, limit, unused_before, batch).await;
        let unlocked = bounded(&mut conn, limit, async |conn| {
            conn.client
                .query_one("SELECT pg_advisory_unlock($1)", &[&SWEEP_LOCK_KEY])
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
        .await;
        // Should the unlock fail, the flag stays set and the pool closes the connection,
        // which releases the lock as well.
        if unlocked.is_ok() {
            conn.sweep_lock = false;
        }
        swept
    }
}

/// Key of the session-level advisory lock that lets one node at a time sweep unused rooms
/// ("chatswep" in ASCII).
const SWEEP_LOCK_KEY: i64 = 0x6368_6174_7377_6570;

/// Marks rooms used, locking their rows in id order (as commits do, so the two never
/// deadlock); answers the ids it updated. A tombstoned room is skipped, also one a sweep
/// tombstones while the touch waits for its row.
const TOUCH_ROOMS: &str = "UPDATE rooms SET last_active_at = GREATEST(rooms.last_active_at, $2) \
     FROM (SELECT id FROM rooms WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL \
           ORDER BY id FOR UPDATE) AS used \
     WHERE rooms.id = used.id RETURNING rooms.id";

/// Tombstones up to `$2` rooms unused since before `$1`, at `$3`, in id order. Rows that a
/// commit or a touch holds are skipped (they are being used); the others are locked, and
/// the conditions are checked again on the newest version of each row, so a room used
/// since this statement's snapshot is kept.
const TOMBSTONE: &str = "UPDATE rooms SET deleted_at = $3 \
     FROM (SELECT id FROM rooms WHERE deleted_at IS NULL AND last_active_at < $1 \
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) AS unused \
     WHERE rooms.id = unused.id AND rooms.deleted_at IS NULL AND rooms.last_active_at < $1";

/// Runs one step of a sweep within `limit`; one that overran answers unavailable and
/// leaves the connection for the pool to drop.
async fn bounded<T>(
    conn: &mut PgConnection,
    limit: Duration,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = tokio::time::timeout(limit, work(&mut *conn)).await;
    conn.settle(result, limit)
}

/// The body of [`Store::sweep_unused_rooms`], under the sweep lock: tombstones the unused
/// rooms (`batch` per statement, each its own short transaction), then deletes every
/// tombstoned room, this sweep's and any an earlier one left, in id order.
async fn sweep_on(
    conn: &mut PgConnection,
    limit: Duration,
    unused_before: DateTime<Utc>,
    batch: i64,
) -> Result<SweepReport, StoreError> {
    loop {
        let now = now_millis();
        let tombstoned = bounded(conn, limit, async |conn| {
            conn.client
                .execute(TOMBSTONE, &[&unused_before, &batch, &now])
                .await
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
        let rooms = bounded(conn, limit, async |conn| {
            let rows = conn
                .client
                .query(
                    "SELECT id, code FROM rooms WHERE deleted_at IS NOT NULL AND id > $1 \
                     ORDER BY id LIMIT $2",
                    &[&after, &batch],
                )
                .await
                .map_err(unavailable)?;
            rows.iter()
                .map(|row| Ok((row.try_get(0).map_err(unavailable)?, code_at(row, 1)?)))
                .collect::<Result<Vec<(RoomId, RoomCode)>, StoreError>>()
        })
        .await?;
        let Some(&(last, _)) = rooms.last() else {
            return Ok(report);
        };
        after = last;
        for (room_id, code) in rooms {
            report.messages += delete_messages_of(conn, limit, room_id, batch).await?;
            bounded(conn, limit, async |conn| {
                conn.client
                    .execute(
                        "DELETE FROM rooms WHERE id = $1 AND deleted_at IS NOT NULL \
                         AND NOT EXISTS (SELECT 1 FROM messages WHERE room_id = $1)",
                        &[&room_id],
                    )
                    .await
                    .map_err(unavailable)
            })
            .await?;
            report.rooms.push((room_id, code));
        }
    }
}

/// Deletes every message of a tombstoned room, `batch` at a time (oldest first), each batch
/// its own statement and so its own short transaction; answers how many. A tombstoned room
/// takes no new messages, so the range up to the batch's newest id is exactly the batch.
async fn delete_messages_of(
    conn: &mut PgConnection,
    limit: Duration,
    room_id: RoomId,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    loop {
        let removed = bounded(conn, limit, async |conn| {
            let up_to: Option<MessageId> = conn
                .client
                .query_one(
                    "SELECT max(id) FROM (SELECT id FROM messages WHERE room_id = $1 \
                     ORDER BY id LIMIT $2) AS batch",
                    &[&room_id, &batch],
                )
                .await
                .and_then(|row| row.try_get(0))
                .map_err(unavailable)?;
            let Some(up_to) = up_to else {
                return Ok(0);
            };
            // The messages' reactors go with them (ON DELETE CASCADE, migration 0004).
            conn.client
                .execute(
                    "DELETE FROM messages WHERE room_id = $1 AND id <= $2",
                    &[&room_id, &up_to],
                )
                .await
                .map_err(unavailable)
        })
        .await?;
        deleted += removed;
        if i64::try_from(removed).unwrap_or(i64::MAX) < batch {
            return Ok(deleted);
        }
    }
}
