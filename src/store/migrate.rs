//! Schema migrations: numbered SQL files per dialect (`sql/sqlite`, `sql/postgres`),
//! compiled into the binary so a node never runs against a schema it does not know.
//!
//! Each migration runs in its own transaction together with the row that records it in
//! `schema_migrations`, so it is applied exactly once even when several nodes start at
//! the same time against one database: SQLite serialises them with `BEGIN IMMEDIATE`,
//! PostgreSQL with a transaction-scoped advisory lock.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{describe, StoreError};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; migrations are applied in increasing order and recorded by it.
    pub version: i64,
    /// The statements to run.
    pub sql: &'static str,
}

/// The migrations of a dialect, oldest first, from its folder of `sql/`. Both dialects have
/// the same files, listed once here, so that neither can miss a version.
macro_rules! migrations {
    ($dialect:literal: $($version:literal => $file:literal),+ $(,)?) => {
        &[$(Migration {
            version: $version,
            sql: include_str!(concat!("../../sql/", $dialect, "/", $file)),
        }),+]
    };
    ($dialect:literal) => {
        migrations!($dialect:
            1 => "0001_init.sql",
            2 => "0002_bot.sql",
            3 => "0003_authors_owners_replies.sql",
            4 => "0004_message_changes.sql",
            5 => "0005_retention.sql",
            6 => "0006_commit_without_room_fk.sql",
            7 => "0007_commit_sends_function.sql",
        )
    };
}

/// The SQLite migrations, oldest first.
pub const SQLITE: &[Migration] = migrations!("sqlite");

/// The PostgreSQL migrations, oldest first.
pub const POSTGRES: &[Migration] = migrations!("postgres");

/// Key of the advisory lock that serialises PostgreSQL migrations across nodes
/// ("chatmigr" in ASCII).
const POSTGRES_LOCK_KEY: i64 = 0x6368_6174_6d69_6772;

/// Brings a SQLite database up to date; returns how many migrations it applied.
pub fn apply_sqlite(conn: &mut rusqlite::Connection) -> Result<usize, StoreError> {
    let fail = |e: rusqlite::Error| StoreError::Unavailable(format!("migration: {}", describe(&e)));
    let mut applied = 0;
    for migration in SQLITE {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at INTEGER NOT NULL
             )",
        )
        .map_err(fail)?;
        let done = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |_| Ok(()),
            )
            .optional()
            .map_err(fail)?
            .is_some();
        if !done {
            tx.execute_batch(migration.sql).map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                (
                    migration.version,
                    chat_actors::model::now_millis().timestamp_millis(),
                ),
            )
            .map_err(fail)?;
            applied += 1;
        }
        tx.commit().map_err(fail)?;
    }
    Ok(applied)
}

/// Brings a PostgreSQL database up to date; returns how many migrations it applied.
pub async fn apply_postgres(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
    let fail =
        |e: tokio_postgres::Error| StoreError::Unavailable(format!("migration: {}", describe(&e)));
    let mut applied = 0;
    for migration in POSTGRES {
        let tx = client.transaction().await.map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&POSTGRES_LOCK_KEY])
            .await
            .map_err(fail)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT      PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(fail)?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&migration.version],
            )
            .await
            .map_err(fail)?
            .is_some();
        if !done {
            tx.batch_execute(migration.sql).await.map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&migration.version],
            )
            .await
            .map_err(fail)?;
            applied += 1;
        }
        tx.commit().await.map_err(fail)?;
    }
    Ok(applied)
}
