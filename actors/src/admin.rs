//! Operators' commands that reach every node (issue 17): drain a node, resume it, close a
//! room ([`AdminCommand`], defined beside the channel it travels on). The node that takes
//! the API request acts on its own part and publishes the command on [`ADMIN_CHANNEL`](crate::cluster::broker::ADMIN_CHANNEL); the bridge hands it
//! to [`NodeEvents`](crate::node_events::NodeEvents), which queues it here, and
//! [`run`] carries it out on the hub.

use std::sync::Weak;

use tokio::sync::mpsc;

pub use crate::cluster::operators::AdminCommand;
use crate::hub::Hub;

/// Commands waiting for the hub; past this many, more are dropped (and logged): they come
/// from operators, a few at a time.
pub const QUEUE: usize = 64;

/// Carries out the commands queued by the bridge for as long as the hub lives.
pub async fn run(hub: Weak<Hub>, mut commands: mpsc::Receiver<AdminCommand>) {
    while let Some(command) = commands.recv().await {
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let _ = apply(&hub, command);
    }
}

/// Applies a command on this node (a drain or resume of another node is not ours); false
/// when it could not be: a resume while the node shuts down.
pub fn apply(hub: &std::sync::Arc<Hub>, command: AdminCommand) -> bool {
    match command {
        AdminCommand::Drain { node } if node == hub.node_id => hub.drain(),
        AdminCommand::Resume { node } if node == hub.node_id => {
            if !hub.resume() {
                tracing::info!("not resumed: the node is shutting down");
                return false;
            }
        }
        AdminCommand::Drain { .. } | AdminCommand::Resume { .. } => {}
        AdminCommand::CloseRoom { room_id, code } => {
            hub.guards.room_closed(code);
            hub.rooms.deleted(&[room_id]);
        }
    }
    true
}
