//! Where the Redis bridge delivers what it reads: room events and rosters to the room
//! directory, failed-lookup lockouts to the abuse guards, delivery lag to the node's
//! counters, operators' commands to the hub (through a queue: the hub starts after the
//! bridge). The bridge knows none of them; it holds this as an `Arc<dyn ClusterEvents>`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cluster::operators::AdminCommand;
use crate::cluster::{ClusterEvents, Event};
use crate::directory::RoomDirectory;
use crate::guards::Guards;
use crate::ids::{Nickname, RoomCode};
use crate::stats::NodeCounters;

/// The node's receivers of cluster events.
pub struct NodeEvents {
    /// The live rooms.
    pub rooms: Arc<RoomDirectory>,
    /// The abuse limits.
    pub guards: Arc<Guards>,
    /// The node's counters, for its stats record.
    pub counters: Arc<NodeCounters>,
    /// Where operators' commands wait for the hub (`admin::run`).
    pub admin: mpsc::Sender<AdminCommand>,
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

    fn lag(&self, lag: Duration) {
        self.counters.broker_lag(lag);
    }

    fn admin(&self, command: AdminCommand) {
        if let Err(error) = self.admin.try_send(command) {
            tracing::warn!(%error, "an operator's command was dropped");
        }
    }
}
