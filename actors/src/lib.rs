//! The chat node's actors.
//!
//! # Layout
//!
//! A chat message travels through these files, in this order:
//!
//! - [`session`]: one actor per WebSocket; decodes frames ([`protocol`]), applies limits
//!   ([`limits`], [`rate_limit`]) and writes acks and pushes.
//! - [`registry`]: finds or starts the [`room`] actor for a code and supervises it.
//! - [`room`]: one actor per live room; members, presence, typing, and pushes in id order.
//! - [`persistence`]: group commit of messages into the [`store`].
//! - [`redis_bridge`]: relays room events between nodes through Redis ([`broker`]).
//! - [`hub`]: what they all share (store, persistence shards, room directory, limits).
//!
//! Values are validated once, at the edge, into the types of [`ids`] and [`model`];
//! failures are [`error::ChatError`]s carrying the protocol's error codes.

pub mod address_limit;
pub mod broker;
pub mod error;
pub mod guards;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metric_names;
pub mod model;
pub mod persistence;
pub mod protocol;
pub mod rate_limit;
pub mod redis_bridge;
pub mod registry;
pub mod room;
pub mod session;
pub mod spawn;
pub mod store;

pub use error::{ChatError, ErrorCode};
pub use hub::{Hub, HubOptions};
pub use limits::{Limits, SendRate};
