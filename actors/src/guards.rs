//! Abuse limits of a node: sessions per node, connections per client address, room
//! creation and failed room lookups per address, members per room. Each refusal has a
//! clear protocol error and is counted in `chat_limit_rejections_total{limit}`.
//!
//! Room codes are secrets (PROTOCOL.md v2): every lookup of a code that does not exist,
//! by any route, counts against the address (an IPv6 address by its /64), and past the
//! limit every lookup of that address is refused, so a right guess cannot be told from a
//! wrong one. With several nodes the count is shared through Redis: the node that sees an
//! address reach the limit tells the others ([`Guards::lock_out`]), so a guesser cannot
//! spread its guesses over the nodes.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::address_limit::{client_key, AddressLimiter};
use crate::address_table::AddressTable;
use crate::error::{ChatError, ErrorCode};
use crate::ids::RoomCode;
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
    /// Lookups of unknown rooms (joins, history, room details, REST posts) one address may
    /// make per window; after that all its lookups are refused, so room codes cannot be
    /// found by trying them.
    pub failed_lookup_rate: Option<SendRate>,
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
    failed_lookups: AddressLimiter,
    /// Addresses another node found over the failed-lookup limit, until when.
    lockouts: AddressTable<Instant>,
    /// Rooms an operator closed lately, and when: their members' rejoins are no guesses.
    closed_rooms: Mutex<lru::LruCache<RoomCode, Instant>>,
}

/// How many closed rooms the failed-lookup count forgives at once (about 40 KiB).
const CLOSED_ROOMS: usize = 1024;
/// How long after a room closed its members' rejoins are forgiven: longer than any
/// client's reconnect backoff, shorter than a guesser would care to wait.
const CLOSED_FORGIVEN: Duration = Duration::from_secs(600);

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
            failed_lookups: AddressLimiter::new(
                "failed_lookup",
                limits.failed_lookup_rate,
                limits.address_table_size,
            ),
            lockouts: AddressTable::new(if limits.failed_lookup_rate.is_some() {
                limits.address_table_size
            } else {
                1
            }),
            connections: DashMap::new(),
            closed_rooms: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CLOSED_ROOMS).unwrap_or(NonZeroUsize::MIN),
            )),
            limits,
        }
    }

    /// An operator closed `code`: for a while a lookup of it that finds nothing is its
    /// members rejoining, not a guess, and does not count against their address (a room of
    /// 50 behind one NAT would otherwise lock that address out of every room).
    pub fn room_closed(&self, code: RoomCode) {
        self.closed_rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put(code, Instant::now());
    }

    /// Whether `code` was closed by an operator lately (see [`Guards::room_closed`]).
    pub fn recently_closed(&self, code: &RoomCode) -> bool {
        self.closed_rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .peek(code)
            .is_some_and(|closed| closed.elapsed() < CLOSED_FORGIVEN)
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

    /// Refuses every room lookup of `address` while it is over its failed-lookup rate,
    /// here or (through Redis) on another node.
    pub fn may_look_up(&self, address: Option<IpAddr>) -> Result<(), ChatError> {
        let Some(address) = address else {
            return Ok(());
        };
        let locked_elsewhere = self
            .lockouts
            .peek(client_key(address), |until| *until > Instant::now())
            .unwrap_or(false);
        if locked_elsewhere || !self.failed_lookups.allows(address) {
            return Err(refused(
                "failed_lookup",
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many lookups of unknown rooms from this address; wait a minute",
                ),
            ));
        }
        Ok(())
    }

    /// Counts a lookup of a room that does not exist; answers the address's key (its /64
    /// for IPv6) and the rate, for the count the nodes share.
    pub fn lookup_failed(&self, address: Option<IpAddr>) -> Option<(IpAddr, SendRate)> {
        let address = address?;
        let rate = self.failed_lookups.rate()?;
        self.failed_lookups.record(address);
        Some((client_key(address), rate))
    }

    /// Another node found `key` over the failed-lookup limit: refuse its lookups here too,
    /// for `period` (at most one window of the limit, whatever the message says).
    pub fn lock_out(&self, key: IpAddr, period: Duration) {
        let Some(rate) = self.failed_lookups.rate() else {
            return;
        };
        let until = Instant::now() + period.min(rate.window);
        self.lockouts
            .with(client_key(key), || until, |held| *held = (*held).max(until));
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

    fn lookup_limited(count: u32) -> Guards {
        Guards::new(GuardLimits {
            failed_lookup_rate: Some(SendRate {
                count,
                window: Duration::from_secs(60),
            }),
            address_table_size: 1024,
            ..Default::default()
        })
    }

    #[test]
    fn failed_lookups_lock_the_address_out() {
        let guards = lookup_limited(2);
        assert!(guards.may_look_up(address()).is_ok());
        assert_eq!(
            guards.lookup_failed(address()).map(|(key, _)| key),
            address()
        );
        guards.lookup_failed(address());
        assert_eq!(
            guards.may_look_up(address()).unwrap_err().code,
            ErrorCode::RateLimited
        );
        assert!(guards
            .may_look_up(Some(IpAddr::from([10, 0, 0, 9])))
            .is_ok());
    }

    #[test]
    fn a_lockout_from_another_node_holds_for_at_most_one_window() {
        let guards = lookup_limited(5);
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        guards.lock_out(client_key(v6), Duration::from_secs(3600));
        let neighbour: IpAddr = "2001:db8::8".parse().unwrap();
        assert!(guards.may_look_up(Some(neighbour)).is_err(), "the same /64");
        assert!(guards.may_look_up(address()).is_ok());
        let until = guards
            .lockouts
            .peek(client_key(v6), |until| *until)
            .unwrap();
        assert!(until <= Instant::now() + Duration::from_secs(60));
        guards.lock_out(client_key(address().unwrap()), Duration::ZERO);
        assert!(guards.may_look_up(address()).is_ok(), "an expired lockout");
    }
}
