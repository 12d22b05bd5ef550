//! The registry actor: finds or starts the room actor for a code, and forgets rooms that
//! stopped.
//!
//! Lookups of live rooms do not pass through here: the [`RoomDirectory`] is a concurrent
//! map that sessions read directly. The registry is its only writer, so one code never
//! gets two room actors on one node. It supervises them: a room actor that fails (its
//! in-memory order can no longer be trusted) tells its members to reconnect and stops,
//! and the registry starts a fresh one from the store. Rooms are spread over the room
//! arbiters so that fan-out uses every core.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::directory::{RoomDirectory, RoomGauges, RoomHandle};
use crate::error::ChatError;
use crate::ids::RoomCode;
use crate::model::RoomRecord;
use crate::room::{RoomActor, RoomDeps, RoomStopped};
use crate::spawn::start_on;

/// Finds the room actor for a code, starting it if the room exists in the store.
#[derive(Message)]
#[rtype(result = "Result<Addr<RoomActor>, ChatError>")]
pub struct ResolveRoom {
    /// The room.
    pub code: RoomCode,
    /// An address the caller found stopped; replaced rather than returned again.
    pub stale: Option<Addr<RoomActor>>,
}

/// Messages that may wait for one room actor before senders are made to wait.
const ROOM_MAILBOX: usize = 4096;

type Waiter = oneshot::Sender<Result<Addr<RoomActor>, ChatError>>;

/// Supervises this node's room actors.
pub struct Registry {
    directory: Arc<RoomDirectory>,
    /// What each room is given; made once the registry's own address exists.
    deps: Arc<RoomDeps>,
    arbiters: Vec<ArbiterHandle>,
    loading: HashMap<RoomCode, Vec<Waiter>>,
    next_arbiter: usize,
}

impl Registry {
    /// A registry that keeps `directory`, starting rooms with `deps` on `arbiters`
    /// (round robin; at least one).
    pub fn new(
        directory: Arc<RoomDirectory>,
        deps: Arc<RoomDeps>,
        arbiters: Vec<ArbiterHandle>,
    ) -> Self {
        Registry {
            directory,
            deps,
            arbiters,
            loading: HashMap::new(),
            next_arbiter: 0,
        }
    }

    /// Loads a room from the store and starts its actor; every caller waiting for the same
    /// code shares one load.
    fn load(&mut self, code: RoomCode, waiter: Option<Waiter>, ctx: &mut Context<Self>) {
        let already_loading = self.loading.contains_key(&code);
        let waiters = self.loading.entry(code).or_default();
        waiters.extend(waiter);
        if already_loading {
            return;
        }
        let store = Arc::clone(&self.deps.store);
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

    fn start_room(&mut self, record: RoomRecord) -> Addr<RoomActor> {
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        let gauges = Arc::new(RoomGauges::default());
        let deps = Arc::clone(&self.deps);
        let counter = Arc::clone(&gauges);
        let (code, room_id) = (record.room.code, record.room.id);
        let addr = start_on(arbiter, ROOM_MAILBOX, move || {
            RoomActor::new(record, counter, deps)
        });
        let handle = RoomHandle {
            addr: addr.clone(),
            gauges,
            room_id,
        };
        self.directory.insert(code, handle);
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
            self.directory.remove_if_is(&code, &stale);
        }
        if let Some(addr) = self.directory.live(&code) {
            return Box::pin(async move { Ok(addr) });
        }
        let (tx, rx) = oneshot::channel();
        self.load(code, Some(tx), ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ChatError::internal("registry stopped")))
        })
    }
}

impl Handler<RoomStopped> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RoomStopped, ctx: &mut Self::Context) {
        let removed = self.directory.remove_if_is(&msg.code, &msg.addr);
        if msg.failed && removed {
            self.load(msg.code, None, ctx);
        }
    }
}
