//! Integration tests: real nodes, real WebSocket and HTTP clients, real stores.
//!
//! Tests that involve the store run twice, against the embedded SQLite store and against
//! the PostgreSQL server named by `TEST_DATABASE_URL` (the test command starts one).
//! Each test creates its own rooms, so tests can share a database and run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod lab;
mod netns;
mod own_postgres;
mod redis_cluster;
mod roamer;
mod support;
mod traffic;

/// Defines each test twice: `sqlite::name` and `postgres::name`.
macro_rules! on_both_stores {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $backend = crate::support::Backend::Sqlite;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($backend) = crate::support::Backend::postgres() else { return };
                    $body
                }
            )*
        }
    };
}

mod abuse;
mod authors;
mod bad_input;
mod changes;
mod cluster;
mod cluster_changes;
mod delivery;
mod durability;
mod faults;
mod hostile;
mod keys;
mod lifecycle;
mod network;
mod operators;
mod ordering;
mod poison;
mod replies;
mod rest;
mod retention;
mod rooms;
mod security;
mod sharded;
mod tls;
