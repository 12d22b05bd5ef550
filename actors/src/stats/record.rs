//! The stats record a node publishes every stats interval, and the overview merged from
//! every node's record: the body of `GET /api/admin/overview` (issue 17, docs/operations.md
//! "The operators' page"). Field names are the wire's (camelCase).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a node takes new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NodeState {
    /// It takes sessions and its readiness probe passes.
    Ready,
    /// It sent its sessions elsewhere and refuses new ones (an operator's drain, or a
    /// shutdown).
    Draining,
}

/// One point of a node's traffic history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrafficPoint {
    /// When the interval ended.
    pub at: DateTime<Utc>,
    /// New messages this node committed per second over the interval.
    pub messages_per_second: f64,
    /// Frames this node pushed to its members per second over the interval.
    pub pushes_per_second: f64,
}

/// Store commits over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitStats {
    /// Median commit latency, in milliseconds (0 with no commit).
    pub p50_ms: f64,
    /// 99th percentile commit latency, in milliseconds.
    pub p99_ms: f64,
    /// Batches committed.
    pub batches: u64,
    /// Writes (messages and changes) per batch, on average.
    pub mean_batch: f64,
}

/// How long other nodes' messages took to arrive over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LagStats {
    /// Median, in milliseconds (0 when none arrived).
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Messages of other nodes that arrived (0: the percentiles measured nothing).
    pub messages: u64,
}

/// A busy room as one node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomRate {
    /// The room's code (shown only to operators: codes are secrets).
    pub code: String,
    /// Its members on this node.
    pub members: usize,
    /// Messages it pushed per minute over the last interval, from any node.
    pub messages_per_minute: f64,
}

/// What one node says about itself, every stats interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStats {
    /// The node's id.
    pub node: String,
    /// Its version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Seconds since it started.
    pub uptime: u64,
    /// Ready or draining.
    pub state: NodeState,
    /// Its open sessions.
    pub sessions: usize,
    /// Its rooms with at least one member.
    pub rooms: usize,
    /// When this record was made.
    pub sampled_at: DateTime<Utc>,
    /// New messages it committed per second over the last interval.
    pub messages_per_second: f64,
    /// Frames it pushed per second over the last interval.
    pub pushes_per_second: f64,
    /// The last minutes of the two rates, oldest first.
    pub history: Vec<TrafficPoint>,
    /// Its store commits over the last interval.
    pub commit: CommitStats,
    /// Delivery lag of other nodes' messages over the last interval.
    pub broker_lag: LagStats,
    /// Requests refused since start, by error code (codes never seen left out).
    pub rejections: BTreeMap<String, u64>,
    /// Members closed since start because they did not read their pushes.
    pub slow_consumers: u64,
    /// Its busiest rooms, busiest first.
    pub busiest: Vec<RoomRate>,
}

/// A busy room across the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterRoomRate {
    /// The room's code.
    pub code: String,
    /// Its members on every node that reported it.
    pub members: usize,
    /// Messages per minute (every node with members pushes each message, so this is the
    /// highest any of them saw, not their sum).
    pub messages_per_minute: f64,
    /// How many nodes have members in it.
    pub nodes: usize,
}

/// The order of busy rooms, given (messages per minute, members, code): most messages
/// first, then most members, then by code, so that equal rooms keep one order.
pub fn busiest_first(a: (f64, usize, &str), b: (f64, usize, &str)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2))
}

/// Most rooms the overview lists.
pub const OVERVIEW_ROOMS: usize = 20;

/// Every fresh node's record, sorted by id, and the busiest rooms across them.
pub fn merge(mut nodes: Vec<NodeStats>) -> (Vec<NodeStats>, Vec<ClusterRoomRate>) {
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    nodes.dedup_by(|a, b| a.node == b.node);
    let mut rooms: HashMap<&str, ClusterRoomRate> = HashMap::new();
    for node in &nodes {
        for room in &node.busiest {
            let entry = rooms
                .entry(room.code.as_str())
                .or_insert_with(|| ClusterRoomRate {
                    code: room.code.clone(),
                    members: 0,
                    messages_per_minute: 0.0,
                    nodes: 0,
                });
            entry.members += room.members;
            entry.nodes += 1;
            entry.messages_per_minute = entry.messages_per_minute.max(room.messages_per_minute);
        }
    }
    let mut rooms: Vec<ClusterRoomRate> = rooms.into_values().collect();
    rooms.sort_by(|a, b| {
        busiest_first(
            (a.messages_per_minute, a.members, &a.code),
            (b.messages_per_minute, b.members, &b.code),
        )
    });
    rooms.truncate(OVERVIEW_ROOMS);
    (nodes, rooms)
}

/// Records for tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A quiet, ready node's record.
    pub(crate) fn record(id: &str) -> NodeStats {
        NodeStats {
            node: id.into(),
            version: "1".into(),
            started_at: Utc::now(),
            uptime: 1,
            state: NodeState::Ready,
            sessions: 0,
            rooms: 0,
            sampled_at: Utc::now(),
            messages_per_second: 0.0,
            pushes_per_second: 0.0,
            history: Vec::new(),
            commit: CommitStats::default(),
            broker_lag: LagStats::default(),
            rejections: BTreeMap::new(),
            slow_consumers: 0,
            busiest: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::tests_support::record;
    use super::*;

    fn node(id: &str, busiest: Vec<RoomRate>) -> NodeStats {
        NodeStats {
            busiest,
            ..record(id)
        }
    }

    fn rate(code: &str, members: usize, per_minute: f64) -> RoomRate {
        RoomRate {
            code: code.into(),
            members,
            messages_per_minute: per_minute,
        }
    }

    #[test]
    fn rooms_spanning_nodes_add_members_and_keep_one_rate() {
        let (nodes, rooms) = merge(vec![
            node("b", vec![rate("AAAAAA", 3, 60.0), rate("BBBBBB", 1, 10.0)]),
            node("a", vec![rate("AAAAAA", 2, 59.0)]),
        ]);
        assert_eq!(
            nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(rooms[0].code, "AAAAAA");
        assert_eq!((rooms[0].members, rooms[0].nodes), (5, 2));
        assert!((rooms[0].messages_per_minute - 60.0).abs() < 1e-9);
        assert_eq!(rooms[1].code, "BBBBBB");
    }

    #[test]
    fn the_overview_lists_at_most_twenty_rooms() {
        let busiest = (0..30)
            .map(|i| rate(&format!("R{i:05}"), 1, f64::from(i)))
            .collect();
        let (_, rooms) = merge(vec![node("a", busiest)]);
        assert_eq!(rooms.len(), OVERVIEW_ROOMS);
        assert_eq!(rooms[0].code, "R00029");
    }

    #[test]
    fn the_record_is_camel_case_on_the_wire() {
        let json = serde_json::to_value(node("a", vec![rate("AAAAAA", 1, 1.0)])).unwrap();
        for field in [
            "startedAt",
            "sampledAt",
            "messagesPerSecond",
            "brokerLag",
            "slowConsumers",
        ] {
            assert!(json.get(field).is_some(), "{field} missing: {json}");
        }
        assert_eq!(json["state"], "ready");
        assert_eq!(json["busiest"][0]["messagesPerMinute"], 1.0);
    }
}
