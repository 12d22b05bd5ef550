//! The hub: what every actor and request handler of the node shares — the store, the
//! persistence shards, the room directory, the registry and the limits — in one cloneable
//! `Arc`, so a session costs one pointer for all of it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;

use crate::broker::Broker;
use crate::error::ChatError;
use crate::guards::{GuardLimits, Guards};
use crate::ids::RoomCode;
use crate::ids::SessionId;
use crate::limits::Limits;
use crate::model::{Member, Room};
use crate::persistence::PersistencePool;
use crate::redis_bridge::{Goodbye, RedisBridge};
use crate::registry::{Registry, ResolveRoom};
use crate::room::{ListMembers, RoomActor, RoomError};
use crate::session::{Heartbeat, Reconnect, WsSession};
use crate::store::{Store, StoreError};

/// Asks every session to check its connection once per `interval`, for as long as the hub
/// lives: one timer for the node instead of one per session.
async fn heartbeats(hub: std::sync::Weak<Hub>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        for session in hub.sessions.iter() {
            session.value().do_send(Heartbeat);
        }
    }
}

/// Events that may wait for the Redis bridge.
const BRIDGE_MAILBOX: usize = 64 * 1024;

/// How many random codes to try before giving up on creating a room.
const CREATE_ROOM_ATTEMPTS: usize = 8;

/// A live room in the directory.
#[derive(Clone)]
pub struct RoomHandle {
    /// The room actor.
    pub addr: Addr<RoomActor>,
    /// Its local member count, kept by the room actor, read for room listings.
    pub members: Arc<AtomicUsize>,
}

/// How the hub is set up.
pub struct HubOptions {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Limits and timings.
    pub limits: Limits,
    /// This node's id, for logs and cross-node events.
    pub node_id: String,
    /// Persistence shards (concurrent batches).
    pub persistence_shards: usize,
    /// Threads that run room actors.
    pub room_threads: usize,
    /// Redis, when this node is one of several.
    pub broker: Option<BrokerOptions>,
    /// Abuse limits.
    pub guards: GuardLimits,
}

/// How to reach the other nodes.
pub struct BrokerOptions {
    /// The Redis URL.
    pub url: String,
    /// How long a node's members outlive its last heartbeat.
    pub presence_ttl: Duration,
    /// Longest a Redis connection attempt, command or health check may take.
    pub timeout: Duration,
}

/// Shared state of the node's actors.
pub struct Hub {
    /// The message store.
    pub store: Arc<dyn Store>,
    /// Where rooms send messages to be committed.
    pub persistence: PersistencePool,
    /// Limits and timings.
    pub limits: Limits,
    /// Live rooms of this node, by code; written only by the registry.
    pub rooms: DashMap<RoomCode, RoomHandle>,
    /// The registry actor.
    pub registry: Addr<Registry>,
    /// This node's id.
    pub node_id: String,
    /// Redis connections, when this node is one of several.
    pub broker: Option<Arc<Broker>>,
    /// The Redis bridge actor, when this node is one of several.
    pub bridge: Option<Addr<RedisBridge>>,
    /// Abuse limits.
    pub guards: Guards,
    /// Open sessions of this node, so a draining node can tell each to reconnect.
    pub sessions: DashMap<SessionId, Addr<WsSession>>,
    draining: AtomicBool,
    room_arbiters: Vec<ArbiterHandle>,
    arbiters: Vec<Arbiter>,
}

impl Hub {
    /// Starts the registry, the persistence shards, the room threads and, with a broker,
    /// the Redis bridge. Must be called inside an actix system.
    pub fn start(options: HubOptions) -> Result<Arc<Hub>, redis::RedisError> {
        let broker = match &options.broker {
            Some(b) => Some(Arc::new(Broker::new(
                &b.url,
                &options.node_id,
                b.presence_ttl,
                b.timeout,
            )?)),
            None => None,
        };
        // The bridge's address exists before the hub so that rooms can reach it; the
        // actor itself starts once the hub does.
        let bridge_channel = broker
            .as_ref()
            .map(|_| actix::dev::channel::channel(BRIDGE_MAILBOX));
        let room_threads = options.room_threads.max(1);
        let arbiters: Vec<Arbiter> = (0..room_threads + 1).map(|_| Arbiter::new()).collect();
        let room_arbiters: Vec<ArbiterHandle> = arbiters[1..].iter().map(Arbiter::handle).collect();
        let persistence = PersistencePool::start(
            Arc::clone(&options.store),
            options.persistence_shards,
            options.limits.batch_max,
            options.limits.batch_delay,
            &arbiters[0].handle(),
        );
        let mut hub = None;
        Registry::create(|ctx| {
            let shared = Arc::new(Hub {
                broker: broker.clone(),
                bridge: bridge_channel.as_ref().map(|(tx, _)| Addr::new(tx.clone())),
                store: options.store,
                persistence,
                limits: options.limits,
                rooms: DashMap::new(),
                registry: ctx.address(),
                node_id: options.node_id,
                sessions: DashMap::new(),
                guards: Guards::new(options.guards),
                draining: AtomicBool::new(false),
                room_arbiters,
                arbiters,
            });
            hub = Some(Arc::clone(&shared));
            Registry::new(shared)
        });
        let Some(hub) = hub else {
            unreachable!("Actor::create runs its closure synchronously")
        };
        let weak = Arc::downgrade(&hub);
        let interval = hub.limits.heartbeat_interval.max(Duration::from_millis(10));
        hub.arbiters[0].spawn(heartbeats(weak, interval));
        if let (Some((_, rx)), Some(broker)) = (bridge_channel, broker) {
            let shared = Arc::clone(&hub);
            hub.arbiters[0].spawn_fn(move || {
                Context::with_receiver(rx).run(RedisBridge::new(shared, broker));
            });
        }
        Ok(hub)
    }

    /// Says goodbye to the other nodes: writes out queued events and removes this node's
    /// heartbeat. Part of a graceful shutdown, after the sessions were drained.
    pub async fn leave_cluster(&self, timeout: Duration) {
        if let Some(bridge) = &self.bridge {
            let _ = tokio::time::timeout(timeout, bridge.send(Goodbye)).await;
        }
    }

    /// The threads room actors run on.
    pub fn room_arbiters(&self) -> &[ArbiterHandle] {
        &self.room_arbiters
    }

    /// Whether the node is shutting down (readiness fails, new sessions are refused).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks the node as draining.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Tells every open session to reconnect to another node and closes it (1012), spread
    /// evenly over `window`.
    pub async fn drain_sessions(&self, window: Duration) {
        const SLICES: u32 = 20;
        let sessions: Vec<Addr<WsSession>> =
            self.sessions.iter().map(|s| s.value().clone()).collect();
        if sessions.is_empty() {
            return;
        }
        let per_slice = sessions.len().div_ceil(SLICES as usize).max(1);
        for (i, slice) in sessions.chunks(per_slice).enumerate() {
            if i > 0 {
                tokio::time::sleep(window / SLICES).await;
            }
            for session in slice {
                session.do_send(Reconnect {
                    reason: "node is shutting down",
                });
            }
        }
    }

    /// Stops the room and persistence threads; the last step of a shutdown.
    pub fn stop_threads(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }

    /// The room actor for a code: from the directory when live, else through the registry
    /// (which loads the room from the store, or answers `not_found`).
    pub async fn room(
        &self,
        code: RoomCode,
        stale: Option<Addr<RoomActor>>,
    ) -> Result<Addr<RoomActor>, ChatError> {
        if stale.is_none() {
            if let Some(handle) = self.rooms.get(&code) {
                if handle.addr.connected() {
                    return Ok(handle.addr.clone());
                }
            }
        }
        self.registry
            .send(ResolveRoom { code, stale })
            .await
            .map_err(|_| ChatError::internal("registry stopped"))?
    }

    /// Sends a request to a room's actor, resolving it again if the actor stopped between
    /// lookup and delivery (a room stopped for idleness).
    ///
    /// When the room is live the request is queued before this returns, so requests a
    /// session makes one after another reach the room in that order (a send followed by a
    /// leave is stored, not refused).
    pub fn ask_room<M, T>(
        self: &Arc<Self>,
        code: RoomCode,
        make: impl Fn() -> M + Send + 'static,
    ) -> impl Future<Output = Result<T, ChatError>> + 'static
    where
        M: Message<Result = Result<T, RoomError>> + Send + 'static,
        T: Send + 'static,
        RoomActor: Handler<M>,
    {
        let queued = self
            .rooms
            .get(&code)
            .filter(|handle| handle.addr.connected())
            .map(|handle| (handle.addr.clone(), handle.addr.send(make())));
        let hub = Arc::clone(self);
        async move {
            let mut stale = None;
            if let Some((addr, request)) = queued {
                match request.await {
                    Ok(Ok(value)) => return Ok(value),
                    Ok(Err(RoomError::Chat(error))) => return Err(error),
                    Ok(Err(RoomError::Gone)) | Err(_) => stale = Some(addr),
                }
            }
            for _ in 0..3 {
                let addr = hub.room(code, stale.take()).await?;
                match addr.send(make()).await {
                    Ok(Ok(value)) => return Ok(value),
                    Ok(Err(RoomError::Chat(error))) => return Err(error),
                    Ok(Err(RoomError::Gone)) | Err(_) => stale = Some(addr),
                }
            }
            Err(ChatError::internal("the room kept stopping; try again"))
        }
    }

    /// Members of a room on this node; empty when the room has no live actor.
    pub async fn local_members(&self, code: RoomCode) -> Vec<Member> {
        let addr = self.rooms.get(&code).map(|h| h.addr.clone());
        match addr {
            Some(addr) => addr.send(ListMembers).await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Rooms with at least one member on this node, with their member counts.
    pub fn occupied_rooms(&self) -> Vec<(RoomCode, usize)> {
        self.rooms
            .iter()
            .filter_map(|entry| {
                let count = entry.value().members.load(Ordering::Relaxed);
                (count > 0).then_some((*entry.key(), count))
            })
            .collect()
    }

    /// Creates a room with a fresh random code, retrying on the rare collision.
    pub async fn create_room(&self) -> Result<Room, ChatError> {
        for _ in 0..CREATE_ROOM_ATTEMPTS {
            match self.store.create_room(RoomCode::random()).await {
                Ok(record) => return Ok(record.room),
                Err(StoreError::CodeTaken) => continue,
                Err(StoreError::Unavailable(error)) => {
                    tracing::warn!(%error, "creating a room failed");
                    return Err(ChatError::unavailable());
                }
                Err(other) => return Err(ChatError::internal(other.to_string())),
            }
        }
        Err(ChatError::internal("no free room code found"))
    }

    /// Commits everything the persistence shards hold; for shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.persistence.flush()).await;
    }
}
