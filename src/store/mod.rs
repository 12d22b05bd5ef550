//! The node's two implementations of the actors' [`Store`]: embedded SQLite for a single
//! node on a laptop, PostgreSQL for a cluster. [`connect`] picks one from the
//! configuration and migrates its schema before anything else touches it.
//!
//! Layout: `migrate.rs` applies the numbered files of `sql/<dialect>/`; `sqlite.rs` and
//! `postgres.rs` each implement the whole trait, with the same semantics, which
//! `tests/store.rs` checks against both; `retention.rs` holds what their retention sweeps
//! share.

/// The columns every message query selects, in the order the dialects' row readers
/// (`postgres::message_from`, `sqlite::message_at`) read them; shared so they cannot drift.
macro_rules! message_query {
    ($tail:literal) => {
        concat!(
            "SELECT m.id, m.room_id, r.code, m.sender, m.content, m.client_id, m.created_at, \
             m.bot, m.author_id, m.reply_to, m.edited_at, m.deleted, m.reactions, m.seq \
             FROM messages m JOIN rooms r ON r.id = m.room_id ",
            $tail
        )
    };
}

pub mod migrate;
pub mod postgres;
mod postgres_changes;
mod postgres_sends;
mod retention;
pub mod sqlite;
pub mod tls;

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

pub use chat_actors::store::{NewMessage, Outcome, Page, Store, StoreError, SweepReport, Write};

pub use postgres::{PostgresStore, PostgresTimeouts};
pub use sqlite::SqliteStore;

/// Name of the SQLite database file inside the data directory.
pub const SQLITE_FILE: &str = "chat.db";

/// Opens the store the configuration names: PostgreSQL when `database_url` is set (and
/// not blank), else SQLite in `<data_dir>/chat.db`, creating the directory.
///
/// `pool_size` bounds the PostgreSQL connections of this node, or the SQLite reader
/// connections (SQLite always has one writer); `timeouts` bound PostgreSQL calls (the
/// embedded store has no network to wait on). The schema is migrated before this
/// returns, so a node never serves against an old schema.
pub async fn connect(
    database_url: Option<&str>,
    data_dir: &Path,
    pool_size: u32,
    timeouts: PostgresTimeouts,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => Ok(Arc::new(
            PostgresStore::connect(url, pool_size, timeouts).await?,
        )),
        None => {
            let path = data_dir.join(SQLITE_FILE);
            Ok(Arc::new(SqliteStore::open(path, pool_size).await?))
        }
    }
}

/// Renders an error with its chain of causes: driver errors often say only "db error" at
/// the top and keep the useful part (the server's message) in their source.
pub(crate) fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
