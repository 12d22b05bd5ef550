//! The plans of the PostgreSQL store's keyed lookups do not depend on the statistics the
//! server had when a connection prepared them.
//!
//! Each pooled connection prepares its statements once, and after a few executions
//! PostgreSQL keeps a generic plan for each, made from the statistics of that moment. A
//! lookup written as a join, planned while `messages` was small and not yet analyzed, was
//! planned as a scan of the whole table, and kept that plan while the table grew: every
//! batch then read every stored message, and commits slowed down with each one until an
//! ANALYZE replaced the plan. This test builds that moment (a fresh database, a few hundred
//! messages, no statistics) and asks for the generic plan of each statement of
//! `PLAN_STABLE`: the messages must be reached through an index on every key column.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chat_actors::ids::RoomCode;
use chat_node::store;
use chat_node::store::postgres::PLAN_STABLE;
use common::{fresh_postgres_database, message, postgres_url, CommitSends};
use serde_json::Value;

/// Every scan of `messages` in a JSON plan, as (node type, index condition).
fn scans_of_messages(plan: &Value, found: &mut Vec<(String, String)>) {
    if let Some(object) = plan.as_object() {
        if object.get("Relation Name").and_then(Value::as_str) == Some("messages") {
            let kind = object
                .get("Node Type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let cond = object
                .get("Index Cond")
                .and_then(Value::as_str)
                .unwrap_or("");
            found.push((kind.to_string(), cond.to_string()));
        }
        for value in object.values() {
            scans_of_messages(value, found);
        }
    } else if let Some(items) = plan.as_array() {
        for item in items {
            scans_of_messages(item, found);
        }
    }
}

#[tokio::test]
async fn keyed_lookups_use_the_index_whatever_the_statistics() {
    let Some(url) = postgres_url() else {
        return;
    };
    let url = fresh_postgres_database(&url).await;
    let store = store::connect(Some(&url), std::path::Path::new("."), 2, Default::default())
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // No ANALYZE may run while the table is small: that is the moment a plan goes wrong.
    client
        .batch_execute(
            "ALTER TABLE messages SET (autovacuum_enabled = false); \
             ALTER TABLE rooms SET (autovacuum_enabled = false)",
        )
        .await
        .unwrap();
    for _ in 0..10 {
        let room = store
            .create_room(RoomCode::random(), "test-owner-key-hash")
            .await
            .unwrap()
            .room;
        let batch: Vec<_> = (0..30).map(|i| message(room.id, room.code, i)).collect();
        store.commit_sends(&batch).await.unwrap();
    }

    client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    for (name, sql) in PLAN_STABLE {
        client
            .batch_execute(&format!("PREPARE {name} AS {sql}"))
            .await
            .unwrap();
        let answer = client
            .simple_query(&format!(
                "EXPLAIN (FORMAT JSON) EXECUTE {name}('{{1}}', '{{c1}}')"
            ))
            .await
            .unwrap();
        let text = answer
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap();
        let plan: Value = serde_json::from_str(&text).unwrap();
        let mut scans = Vec::new();
        scans_of_messages(&plan, &mut scans);
        assert!(!scans.is_empty(), "{name} reads messages: {plan:#}");
        for (kind, cond) in &scans {
            assert!(
                kind.starts_with("Index") && cond.contains("room_id") && cond.contains("client_id"),
                "{name}: messages read by {kind} on `{cond}`, not by an index on both keys: {plan:#}"
            );
        }
    }
}
