//! The registry actor: finds or starts the room actor for a code, and forgets rooms that
//! stopped.
//!
//! Lookups of live rooms do not pass through here: the room directory in the [`Hub`] is a
//! concurrent map that sessions read directly. The registry is the only writer, so one
//! code never gets two room actors on one node. Rooms are started under an actix
//! [`Supervisor`], which restarts one that stops unexpectedly, spread over the room
//! arbiters so that fan-out uses every core.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::error::ChatError;
use crate::hub::{Hub, RoomHandle};
use crate::ids::RoomCode;
use crate::model::RoomRecord;
use crate::room::RoomActor;

/// Finds the room actor for a code, starting it if the room exists in the store.
#[derive(Message)]
#[rtype(result = "Result<Addr<RoomActor>, ChatError>")]
pub struct ResolveRoom {
    /// The room.
    pub code: RoomCode,
    /// An address the caller found stopped; replaced rather than returned again.
    pub stale: Option<Addr<RoomActor>>,
}

/// A room actor stopped for idleness; forget it if it is still the registered one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomStopped {
    /// The room.
    pub code: RoomCode,
    /// The actor that stopped.
    pub addr: Addr<RoomActor>,
}

type Waiter = oneshot::Sender<Result<Addr<RoomActor>, ChatError>>;

/// Supervises this node's room actors.
pub struct Registry {
    hub: Arc<Hub>,
    loading: HashMap<RoomCode, Vec<Waiter>>,
    next_arbiter: usize,
}

impl Registry {
    /// A registry for the rooms of `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Registry {
            hub,
            loading: HashMap::new(),
            next_arbiter: 0,
        }
    }

    fn start_room(&mut self, record: RoomRecord) -> Addr<RoomActor> {
        let arbiters = self.hub.room_arbiters();
        let arbiter = &arbiters[self.next_arbiter % arbiters.len()];
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        let members = Arc::new(AtomicUsize::new(0));
        let hub = Arc::clone(&self.hub);
        let counter = Arc::clone(&members);
        let code = record.room.code;
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
            RoomActor::new(record.room, record.last_message_id, counter, hub)
        });
        self.hub.rooms.insert(
            code,
            RoomHandle {
                addr: addr.clone(),
                members,
            },
        );
        addr
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<ResolveRoom> for Registry {
    type Result = ResponseFuture<Result<Addr<RoomActor>, ChatError>>;

    fn handle(&mut self, msg: ResolveRoom, ctx: &mut Self::Context) -> Self::Result {
        let ResolveRoom { code, stale } = msg;
        if let Some(stale) = stale {
            self.hub
                .rooms
                .remove_if(&code, |_, handle| handle.addr == stale);
        }
        if let Some(handle) = self.hub.rooms.get(&code) {
            if handle.addr.connected() {
                let addr = handle.addr.clone();
                return Box::pin(async move { Ok(addr) });
            }
        }
        let (tx, rx) = oneshot::channel();
        let already_loading = self.loading.contains_key(&code);
        self.loading.entry(code).or_default().push(tx);
        if !already_loading {
            let store = Arc::clone(&self.hub.store);
            let load = async move { store.find_room(code).await };
            ctx.spawn(load.into_actor(self).map(move |found, act, _| {
                let result = match found {
                    Ok(Some(record)) => Ok(act.start_room(record)),
                    Ok(None) => Err(ChatError::room_not_found()),
                    Err(error) => {
                        tracing::warn!(%error, %code, "loading a room failed");
                        Err(ChatError::unavailable())
                    }
                };
                for waiter in act.loading.remove(&code).unwrap_or_default() {
                    let _ = waiter.send(result.clone());
                }
            }));
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ChatError::internal("registry stopped")))
        })
    }
}

impl Handler<RoomStopped> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RoomStopped, _: &mut Self::Context) {
        self.hub
            .rooms
            .remove_if(&msg.code, |_, handle| handle.addr == msg.addr);
    }
}
