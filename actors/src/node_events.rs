//! Where the Redis bridge delivers what it reads: room events and rosters to the room
//! directory, failed-lookup lockouts to the abuse guards. The bridge knows neither; it
//! holds this as an `Arc<dyn ClusterEvents>`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{ClusterEvents, Event};
use crate::directory::RoomDirectory;
use crate::guards::Guards;
use crate::ids::{Nickname, RoomCode};

/// The node's receivers of cluster events.
pub struct NodeEvents {
    /// The live rooms.
    pub rooms: Arc<RoomDirectory>,
    /// The abuse limits.
    pub guards: Arc<Guards>,
}

impl ClusterEvents for NodeEvents {
    fn event(&self, code: RoomCode, event: Event) {
        self.rooms.deliver(code, event);
    }

    fn synced(&self, code: RoomCode, roster: HashMap<String, Nickname>) {
        self.rooms.deliver_roster(code, roster);
    }

    fn locked_out(&self, key: IpAddr, period: Duration) {
        self.guards.lock_out(key, period);
    }
}
