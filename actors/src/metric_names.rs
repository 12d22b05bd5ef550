//! Metric names, in one place so dashboards and code agree (PROTOCOL.md, precise rule 12).

/// Gauge: open WebSocket sessions on this node.
pub const SESSIONS: &str = "chat_sessions";
/// Gauge: room actors alive on this node.
pub const ROOMS_ACTIVE: &str = "chat_rooms_active";
/// Counter: messages newly committed to the store by this node.
pub const MESSAGES_COMMITTED: &str = "chat_messages_committed_total";
/// Counter: edits, deletions and reactions committed to the store by this node.
pub const CHANGES_COMMITTED: &str = "chat_changes_committed_total";
/// Counter: client frames received (messages in).
pub const FRAMES_IN: &str = "chat_frames_received_total";
/// Counter: frames queued to sessions by room fan-out (messages out).
pub const PUSHES: &str = "chat_pushes_total";
/// Counter, label `code`: errors answered to clients.
pub const ERRORS: &str = "chat_errors_total";
/// Counter: sessions closed because their outbound queue was full.
pub const SLOW_CONSUMERS: &str = "chat_slow_consumers_total";
/// Histogram: messages per committed batch.
pub const PERSIST_BATCH_SIZE: &str = "chat_persist_batch_size";
/// Histogram: seconds one batch commit took.
pub const PERSIST_COMMIT_SECONDS: &str = "chat_persist_commit_seconds";
/// Histogram, label `hop`: seconds a send spends in each hop through the node
/// (`hops.rs`: session → room → shard → batch → commit → room → fan-out → ack).
pub const SEND_HOP_SECONDS: &str = "chat_send_hop_seconds";
/// Counter: events published to the broker.
pub const BROKER_PUBLISHED: &str = "chat_broker_published_total";
/// Counter: events received from the broker.
pub const BROKER_RECEIVED: &str = "chat_broker_received_total";
/// Counter: room subscriptions a Redis Cluster dropped because the room's slot moved to
/// another master, and the bridge made again.
pub const BROKER_RESUBSCRIBED: &str = "chat_broker_resubscribed_total";
/// Histogram: seconds from a message's commit on one node to its arrival on another.
pub const BROKER_LAG_SECONDS: &str = "chat_broker_lag_seconds";
/// Counter, label `reason`: events read from Redis that were dropped as malformed or
/// failing validation (`cluster/validate.rs`).
pub const BROKER_REJECTED: &str = "chat_broker_rejected_total";
/// Gauge, label `table`: client addresses a per-address limit holds (at most
/// `--address-table-size` each).
pub const ADDRESS_TABLE_ENTRIES: &str = "chat_address_table_entries";
/// Counter, label `limit`: requests refused by an abuse limit.
pub const LIMIT_REJECTIONS: &str = "chat_limit_rejections_total";
/// Counter: rooms deleted by retention (`retention.rs`) on this node's sweeps.
pub const RETENTION_ROOMS_DELETED: &str = "chat_retention_rooms_deleted_total";
/// Counter: messages deleted with those rooms.
pub const RETENTION_MESSAGES_DELETED: &str = "chat_retention_messages_deleted_total";
/// Counter, label `result`: retention rounds of this node: `swept` (it held the sweep
/// lock), `skipped` (another node was sweeping), `failed` (the store did not answer).
pub const RETENTION_SWEEPS: &str = "chat_retention_sweeps_total";
