//! What the nodes share for their operators (issue 17): every node's stats record in one
//! Redis hash, and the admin channel on which operators' commands reach every node.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::broker::{Broker, BrokerResult, ADMIN_CHANNEL, STATS_KEY};
use crate::ids::{RoomCode, RoomId};
use crate::stats::NodeStats;

/// What an operator asked every node, or one of them, to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AdminCommand {
    /// The named node tells its sessions to reconnect elsewhere and refuses new ones.
    Drain {
        /// The node's id.
        node: String,
    },
    /// The named node takes sessions again.
    Resume {
        /// The node's id.
        node: String,
    },
    /// Every node stops its actor of this room (the store already tombstoned it): its
    /// members are told to reconnect, and their rejoin answers `not_found`.
    CloseRoom {
        /// The room's id in the store.
        room_id: RoomId,
        /// Its code, whose rejoins the failed-lookup count forgives for a while.
        code: RoomCode,
    },
}

impl AdminCommand {
    /// The command's name in the audit log.
    pub fn action(&self) -> &'static str {
        match self {
            AdminCommand::Drain { .. } => "drain",
            AdminCommand::Resume { .. } => "resume",
            AdminCommand::CloseRoom { .. } => "close_room",
        }
    }
}

/// Most records an overview reads: more nodes than this are not shown (the hash is read
/// with one HGETALL, so this bounds what one request costs).
pub const STATS_RECORDS_MAX: usize = 1_000;

impl Broker {
    /// Writes this node's latest stats record into the nodes' hash.
    pub async fn publish_stats(&self, record: &NodeStats) -> BrokerResult<()> {
        let payload = serde_json::to_string(record).unwrap_or_default();
        let mut conn = self.commands.get().await?;
        let _: i64 = conn.hset(STATS_KEY, &self.node_id, payload).await?;
        Ok(())
    }

    /// Every node's record as stored (unreadable ones skipped, with a debug log), at most
    /// [`STATS_RECORDS_MAX`].
    pub async fn read_stats(&self) -> BrokerResult<Vec<NodeStats>> {
        let mut conn = self.commands.get().await?;
        let count: usize = conn.hlen(STATS_KEY).await?;
        if count > STATS_RECORDS_MAX {
            tracing::warn!(
                count,
                "too many stats records to read; showing this node only"
            );
            return Ok(Vec::new());
        }
        let fields: Vec<(String, String)> = conn.hgetall(STATS_KEY).await?;
        Ok(fields
            .into_iter()
            .filter_map(|(node, json)| match serde_json::from_str(&json) {
                Ok(record) => Some(record),
                Err(error) => {
                    tracing::debug!(%node, %error, "skipping an unreadable stats record");
                    None
                }
            })
            .collect())
    }

    /// Removes records of `nodes` (gone for good: left, or silent for long).
    pub async fn forget_stats(&self, nodes: &[String]) -> BrokerResult<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut conn = self.commands.get().await?;
        let _: i64 = conn.hdel(STATS_KEY, nodes).await?;
        Ok(())
    }

    /// Tells every node (this one too) to carry out `command`.
    pub async fn publish_admin(&self, command: &AdminCommand) -> BrokerResult<()> {
        let payload = serde_json::to_string(command).unwrap_or_default();
        let mut conn = self.commands.get().await?;
        let _: i64 = conn.publish(ADMIN_CHANNEL, payload).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn commands_are_tagged_camel_case_json() {
        let drain = serde_json::to_string(&AdminCommand::Drain { node: "n1".into() }).unwrap();
        assert_eq!(drain, r#"{"action":"drain","node":"n1"}"#);
        let close: AdminCommand =
            serde_json::from_str(r#"{"action":"closeRoom","roomId":7,"code":"k7qx2m"}"#).unwrap();
        let code = RoomCode::parse("K7QX2M").unwrap();
        assert_eq!(close, AdminCommand::CloseRoom { room_id: 7, code });
        let forged = r#"{"action":"closeRoom","roomId":7,"code":"not a code"}"#;
        assert!(serde_json::from_str::<AdminCommand>(forged).is_err());
        assert!(serde_json::from_str::<AdminCommand>(r#"{"action":"explode"}"#).is_err());
    }
}
