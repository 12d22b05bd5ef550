//! The chat node's actors.
//!
//! # Layout
//!
//! Read top-down; no file imports one above it.
//!
//! - [`lifecycle`]: starts and stops everything below (threads, registry, bridge,
//!   heartbeats, drain, flush).
//! - [`session`]: one actor per WebSocket; decodes and validates frames ([`protocol`]),
//!   applies limits ([`limits`], [`rate_limit`]) and writes acks and pushes
//!   ([`protocol::push`]). It is told things through [`outbound`].
//! - [`hub`]: what sessions and REST handlers share (store, directory, registry, cluster,
//!   limits, open sessions) and the lookups made through it.
//! - [`registry`]: finds or starts the [`room`] actor for a code, supervises it, and keeps
//!   the [`directory`] of live rooms.
//! - [`room`]: one actor per live room; members, presence, typing, and pushes in id order
//!   ([`room::order`]); its cross-node handlers are in `room/cluster.rs`.
//! - [`persistence`]: group commit of messages into the [`store`]; [`hops`] times each
//!   hop of a send through the actors, for the latency budget.
//! - [`retention`]: with `--room-retention`, marks the rooms with members used and deletes
//!   unused rooms from the [`store`], every interval.
//! - [`admin`]: operators' commands (drain, resume, close a room) as every node carries
//!   them out; [`stats`]: what the node counts for its operators and the record its
//!   sampler makes from that every interval (the counters sit below everything that
//!   records into them; the sampler reads the hub).
//! - [`cluster`]: the link to other nodes, a no-op handle on one node; the Redis bridge
//!   actor ([`cluster::bridge`]) and what nodes tell each other ([`cluster::broker`]).
//!
//! Values are validated once, at the edge ([`protocol`]), into the types of [`ids`] and
//! [`model`]; failures are [`error::ChatError`]s carrying the protocol's error codes.

pub mod address_limit;
pub mod address_table;
pub mod admin;
pub mod authors;
pub mod budget;
pub mod changes;
pub mod cluster;
pub mod directory;
pub mod error;
pub mod frame_gate;
pub mod guards;
pub mod hops;
pub mod hub;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod metric_names;
pub mod model;
pub mod node_events;
pub mod outbound;
pub mod persistence;
pub mod protocol;
pub mod rate_limit;
pub mod registry;
pub mod retention;
pub mod room;
pub mod session;
pub mod spawn;
pub mod stats;
pub mod store;

pub use error::{ChatError, ErrorCode};
pub use hub::Hub;
pub use lifecycle::{NodeActors, NodeOptions};
pub use limits::{Limits, SendRate};
