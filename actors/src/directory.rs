//! The room directory: the live room actors of this node, by code.
//!
//! Sessions and REST handlers read it directly (a concurrent map, no actor hop); only the
//! registry writes it, so one code never gets two room actors on one node. It is also
//! where the Redis bridge's events for rooms end up (through `node_events.rs`): a room
//! without a live actor here has no local members and needs none of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;

use crate::cluster::Event;
use crate::ids::{Nickname, RoomCode, RoomId};
use crate::room::{Remote, RoomActor, RoomDeleted, Synced};

/// What a room actor keeps up to date for others to read without asking it.
#[derive(Default)]
pub struct RoomGauges {
    /// Its local member count, read for room listings.
    pub members: AtomicUsize,
    /// Messages it pushed since it started (its own and other nodes'), for the busiest
    /// rooms of the stats record (`stats/sampler.rs`).
    pub messages: AtomicU64,
}

/// A live room in the directory.
#[derive(Clone)]
pub struct RoomHandle {
    /// The room actor.
    pub addr: Addr<RoomActor>,
    /// What the room actor keeps up to date.
    pub gauges: Arc<RoomGauges>,
    /// Its id in the store, by which retention marks it used (`retention.rs`).
    pub room_id: RoomId,
}

/// Live rooms of this node.
#[derive(Default)]
pub struct RoomDirectory {
    rooms: DashMap<RoomCode, RoomHandle>,
}

impl RoomDirectory {
    /// The room's entry, live or not.
    pub fn get(&self, code: &RoomCode) -> Option<RoomHandle> {
        self.rooms.get(code).map(|entry| entry.value().clone())
    }

    /// The room's actor, if it is registered and still running.
    pub fn live(&self, code: &RoomCode) -> Option<Addr<RoomActor>> {
        self.rooms
            .get(code)
            .filter(|handle| handle.addr.connected())
            .map(|handle| handle.addr.clone())
    }

    /// Registers a room's actor (the registry's job).
    pub fn insert(&self, code: RoomCode, handle: RoomHandle) {
        self.rooms.insert(code, handle);
    }

    /// Forgets a room if `addr` is still its registered actor; true if it was.
    pub fn remove_if_is(&self, code: &RoomCode, addr: &Addr<RoomActor>) -> bool {
        self.rooms
            .remove_if(code, |_, handle| handle.addr == *addr)
            .is_some()
    }

    /// Whether no room actor is registered (every room stopped).
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Rooms with at least one member on this node, with their member counts.
    pub fn occupied(&self) -> Vec<(RoomCode, usize)> {
        self.rooms
            .iter()
            .filter_map(|entry| {
                let count = entry.value().gauges.members.load(Ordering::Relaxed);
                (count > 0).then_some((*entry.key(), count))
            })
            .collect()
    }

    /// Every live room with its local members and the messages it pushed since it started.
    pub fn gauges(&self) -> Vec<(RoomCode, usize, u64)> {
        self.rooms
            .iter()
            .map(|entry| {
                let gauges = &entry.value().gauges;
                (
                    *entry.key(),
                    gauges.members.load(Ordering::Relaxed),
                    gauges.messages.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Store ids of the rooms with at least one member on this node: the rooms retention
    /// must keep (`retention.rs` marks them used).
    pub fn used_rooms(&self) -> Vec<RoomId> {
        self.rooms
            .iter()
            .filter(|entry| entry.value().gauges.members.load(Ordering::Relaxed) > 0)
            .map(|entry| entry.value().room_id)
            .collect()
    }
}

impl RoomDirectory {
    /// Hands the live actor of `code` an event another node published.
    pub fn deliver(&self, code: RoomCode, event: Event) {
        if let Some(room) = self.rooms.get(&code) {
            room.addr.do_send(Remote { event });
        }
    }

    /// Tells the live actors of rooms the store no longer has (retention deleted them) to
    /// stop for good, so that none hands out a room that is gone.
    pub fn deleted(&self, ids: &[RoomId]) {
        if ids.is_empty() {
            return;
        }
        for entry in self.rooms.iter() {
            if ids.contains(&entry.value().room_id) {
                entry.value().addr.do_send(RoomDeleted);
            }
        }
    }

    /// Hands the live actor of `code` the cluster-wide roster read after (re)subscribing.
    pub fn deliver_roster(&self, code: RoomCode, roster: HashMap<String, Nickname>) {
        if let Some(room) = self.rooms.get(&code) {
            room.addr.do_send(Synced { roster });
        }
    }
}
