//! Abuse limits of a node: sessions per node, connections per client address, room
//! creation and failed joins per address, members per room. Each refusal has a clear
//! protocol error and is counted in `chat_limit_rejections_total{limit}`.

use std::net::IpAddr;

use dashmap::DashMap;

use crate::address_limit::AddressLimiter;
use crate::error::{ChatError, ErrorCode};
use crate::limits::SendRate;
use crate::metric_names;

/// The configured abuse limits (0 means no limit).
#[derive(Debug, Clone, Default)]
pub struct GuardLimits {
    /// Open sessions on this node.
    pub max_sessions: usize,
    /// Open sessions from one client address (off behind a proxy, where every client
    /// shares the proxy's address).
    pub max_connections_per_address: u32,
    /// Rooms one address may create per window.
    pub room_create_rate: Option<SendRate>,
    /// Joins of unknown rooms one address may make per window; after that its joins are
    /// refused, so room codes cannot be found by trying them.
    pub failed_join_rate: Option<SendRate>,
    /// Members of one room, across all nodes.
    pub max_room_members: usize,
    /// Client addresses each per-address limit remembers (the least recently seen go
    /// first), which caps its memory whatever the number of addresses.
    pub address_table_size: usize,
}

/// Enforces [`GuardLimits`]. The per-address tables are bounded (`address_table.rs`);
/// `connections` holds an entry only while its address has a connection open, so it is
/// bounded by the open sessions (`max_sessions`).
pub struct Guards {
    /// The limits.
    pub limits: GuardLimits,
    connections: DashMap<IpAddr, u32>,
    room_creations: AddressLimiter,
    failed_joins: AddressLimiter,
}

/// Counts a refusal under a limit's name (`chat_limit_rejections_total{limit}`) and hands
/// the error back; every abuse limit of the node counts through here.
pub fn refused(limit: &'static str, error: ChatError) -> ChatError {
    metrics::counter!(metric_names::LIMIT_REJECTIONS, "limit" => limit).increment(1);
    error
}

impl Guards {
    /// Guards for `limits`.
    pub fn new(limits: GuardLimits) -> Guards {
        Guards {
            room_creations: AddressLimiter::new(
                "room_create",
                limits.room_create_rate,
                limits.address_table_size,
            ),
            failed_joins: AddressLimiter::new(
                "failed_join",
                limits.failed_join_rate,
                limits.address_table_size,
            ),
            connections: DashMap::new(),
            limits,
        }
    }

    /// Admits a new connection from `address` when `open` sessions are open now; the
    /// caller gives the slot back with [`Guards::disconnected`].
    pub fn admit(&self, address: Option<IpAddr>, open: usize) -> Result<(), ChatError> {
        if self.limits.max_sessions > 0 && open >= self.limits.max_sessions {
            return Err(refused(
                "sessions",
                ChatError::new(
                    ErrorCode::Unavailable,
                    "this node is full; connect to another or retry later",
                ),
            ));
        }
        let (Some(address), max) = (address, self.limits.max_connections_per_address) else {
            return Ok(());
        };
        if max == 0 {
            return Ok(());
        }
        let mut count = self.connections.entry(address).or_insert(0);
        if *count >= max {
            return Err(refused(
                "connections_per_address",
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many connections from this address",
                ),
            ));
        }
        *count += 1;
        Ok(())
    }

    /// Gives back the slot of a closed connection.
    pub fn disconnected(&self, address: Option<IpAddr>) {
        if self.limits.max_connections_per_address == 0 {
            return;
        }
        if let Some(address) = address {
            self.connections.remove_if_mut(&address, |_, count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
        }
    }

    /// Allows one more room creation by `address`, or refuses it.
    pub fn create_room(&self, address: Option<IpAddr>) -> Result<(), ChatError> {
        match address {
            Some(address) if !self.room_creations.try_acquire(address) => Err(refused(
                "room_create",
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many rooms created from this address; wait a moment",
                ),
            )),
            Some(address) => {
                self.room_creations.release(address, true);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Refuses every join of `address` while it is over its failed-join rate.
    pub fn may_join(&self, address: Option<IpAddr>) -> Result<(), ChatError> {
        match address {
            Some(address) if !self.failed_joins.allows(address) => Err(refused(
                "failed_join",
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many joins of unknown rooms from this address; wait a moment",
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Counts a join of a room that does not exist.
    pub fn join_failed(&self, address: Option<IpAddr>) {
        if let Some(address) = address {
            self.failed_joins.record(address);
        }
    }

    /// Refuses a new member when the room already has the most members allowed.
    pub fn room_has_space(&self, members: usize) -> Result<(), ChatError> {
        if self.limits.max_room_members > 0 && members >= self.limits.max_room_members {
            return Err(refused(
                "room_members",
                ChatError::too_large(format!(
                    "the room is full ({} members)",
                    self.limits.max_room_members
                )),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn address() -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, 1]))
    }

    #[test]
    fn connections_per_address_are_counted_and_given_back() {
        let guards = Guards::new(GuardLimits {
            max_connections_per_address: 2,
            ..Default::default()
        });
        assert!(guards.admit(address(), 0).is_ok());
        assert!(guards.admit(address(), 1).is_ok());
        assert_eq!(
            guards.admit(address(), 2).unwrap_err().code,
            ErrorCode::RateLimited
        );
        assert!(guards.admit(Some(IpAddr::from([10, 0, 0, 2])), 2).is_ok());
        guards.disconnected(address());
        assert!(guards.admit(address(), 2).is_ok());
    }

    #[test]
    fn sessions_per_node_are_capped() {
        let guards = Guards::new(GuardLimits {
            max_sessions: 3,
            ..Default::default()
        });
        assert!(guards.admit(None, 2).is_ok());
        assert_eq!(
            guards.admit(None, 3).unwrap_err().code,
            ErrorCode::Unavailable
        );
    }

    #[test]
    fn failed_joins_lock_the_address_out() {
        let guards = Guards::new(GuardLimits {
            failed_join_rate: Some(SendRate {
                count: 2,
                window: Duration::from_secs(60),
            }),
            ..Default::default()
        });
        assert!(guards.may_join(address()).is_ok());
        guards.join_failed(address());
        guards.join_failed(address());
        assert_eq!(
            guards.may_join(address()).unwrap_err().code,
            ErrorCode::RateLimited
        );
        assert!(guards.may_join(Some(IpAddr::from([10, 0, 0, 9]))).is_ok());
    }
}
