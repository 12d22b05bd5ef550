//! The hub: what the node's request handlers and sessions share (the store, the room
//! directory, the registry, the cluster, the limits and the open sessions) in one
//! cloneable `Arc`, so a session costs one pointer for all of it, and the lookups made
//! through it. Starting and stopping it is the job of `lifecycle.rs`.

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;

use crate::authors::{AuthorIds, OwnerKey};
use crate::cluster::{BrokerResult, Cluster};
use crate::directory::RoomDirectory;
use crate::error::{ChatError, ErrorCode};
use crate::guards::Guards;
use crate::ids::{RoomCode, SessionId};
use crate::limits::Limits;
use crate::model::{Member, Room};
use crate::outbound::{Outbound, Outbox};
use crate::persistence::PersistencePool;
use crate::protocol::push::Joined;
use crate::registry::{Registry, ResolveRoom};
use crate::room::{Join, ListMembers, RoomActor, RoomError};
use crate::stats::{NodeCounters, NodeState, StatsBoard};
use crate::store::{Store, StoreError};

/// How many random codes to try before giving up on creating a room.
const CREATE_ROOM_ATTEMPTS: usize = 8;

/// Shared state of the node's actors.
pub struct Hub {
    /// The message store.
    pub store: Arc<dyn Store>,
    /// Where rooms send messages to be committed.
    pub persistence: PersistencePool,
    /// Limits and timings.
    pub limits: Limits,
    /// Live rooms of this node, by code; written only by the registry.
    pub rooms: Arc<RoomDirectory>,
    /// The registry actor.
    pub registry: Addr<Registry>,
    /// This node's id.
    pub node_id: String,
    /// The other nodes (a no-op handle on a single node).
    pub cluster: Cluster,
    /// Turns author keys into author ids, the same on every node.
    pub authors: AuthorIds,
    /// Abuse limits.
    pub guards: Arc<Guards>,
    /// Open sessions of this node, so a draining node can tell each to reconnect.
    pub sessions: DashMap<SessionId, Outbox>,
    /// Set by a drain (an operator's, or a shutdown's); see [`Hub::is_draining`].
    pub(crate) draining: AtomicBool,
    /// Set once a shutdown began: nothing resumes the node then.
    pub(crate) stopping: AtomicBool,
    /// Over how long a drain spreads its sessions' reconnects.
    pub drain_window: Duration,
    /// What the node counts for its stats record.
    pub counters: Arc<NodeCounters>,
    /// The node's latest stats record.
    pub stats: StatsBoard,
    /// How often the node makes a stats record.
    pub stats_interval: Duration,
}

impl Hub {
    /// Whether the node drains: readiness fails and new sessions are refused (a shutdown,
    /// or an operator's drain until resumed).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Ready or draining, as the stats record and the overview say.
    pub fn state(&self) -> NodeState {
        if self.is_draining() {
            NodeState::Draining
        } else {
            NodeState::Ready
        }
    }

    /// Marks the node as shutting down: draining, for good.
    pub fn start_draining(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.draining.store(true, Ordering::Relaxed);
    }

    /// An operator's drain: readiness fails, new sessions are refused, and the open ones
    /// are told to reconnect elsewhere, spread over the drain window. Nothing if the node
    /// drains already.
    pub fn drain(self: &Arc<Self>) {
        if self.draining.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::info!(window = ?self.drain_window, sessions = self.sessions.len(), "draining: sessions are sent to other nodes");
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            hub.drain_sessions(hub.drain_window, "node is draining")
                .await
        });
    }

    /// Ends an operator's drain: the node takes sessions again (its readiness passes).
    /// False, and nothing changes, while the node shuts down.
    pub fn resume(&self) -> bool {
        if self.stopping.load(Ordering::Relaxed) {
            return false;
        }
        if self.draining.swap(false, Ordering::Relaxed) {
            tracing::info!("resumed: taking sessions again");
        }
        true
    }

    /// Whether the node is shutting down (not only drained by an operator).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Tells every open session to reconnect to another node for `reason` and closes it
    /// (1012), spread evenly over `window`; stops early if the node is resumed meanwhile.
    pub async fn drain_sessions(&self, window: Duration, reason: &'static str) {
        const SLICES: u32 = 20;
        let sessions: Vec<Outbox> = self.sessions.iter().map(|s| s.value().clone()).collect();
        if sessions.is_empty() {
            return;
        }
        let per_slice = sessions.len().div_ceil(SLICES as usize).max(1);
        for (i, slice) in sessions.chunks(per_slice).enumerate() {
            if i > 0 {
                tokio::time::sleep(window / SLICES).await;
            }
            if !self.is_draining() {
                return;
            }
            for session in slice {
                session.do_send(Outbound::Reconnect { reason });
            }
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
            if let Some(addr) = self.rooms.live(&code) {
                return Ok(addr);
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
        let queued = self.rooms.live(&code).map(|addr| {
            let request = addr.send(make());
            (addr, request)
        });
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

    /// Joins a session to a room (or renames it there) so that presence reads its own
    /// writes across nodes: the room adds the member only after every event published on
    /// its channel before now has reached it, and the ack waits until the member's own
    /// presence is in Redis. On a single node both waits are nothing.
    pub fn join_room(
        self: &Arc<Self>,
        code: RoomCode,
        join: impl Fn() -> Join + Send + 'static,
    ) -> impl Future<Output = Result<Joined, ChatError>> + 'static {
        let barrier = self.cluster.barrier(code);
        let hub = Arc::clone(self);
        async move {
            barrier.await;
            let joined = hub.ask_room(code, join).await?;
            hub.cluster.written().await;
            Ok(joined)
        }
    }

    /// Hands back the result of a room lookup of `code` by the client `address`, counting
    /// it when the room does not exist, on this node and, with several nodes, in the count
    /// they share (PROTOCOL.md v2: room codes are secrets; `Guards::may_look_up` is the
    /// gate). A room an operator closed lately is not counted: that is its members
    /// rejoining.
    pub fn counted<T>(
        &self,
        address: Option<IpAddr>,
        code: RoomCode,
        lookup: Result<T, ChatError>,
    ) -> Result<T, ChatError> {
        if matches!(&lookup, Err(error) if error.code == ErrorCode::NotFound)
            && !self.guards.recently_closed(&code)
        {
            if let Some((key, rate)) = self.guards.lookup_failed(address) {
                self.cluster.count_failed_lookup(key, rate);
            }
        }
        lookup
    }

    /// Members of a room on every node (through Redis when there are several nodes).
    pub async fn room_members(&self, code: RoomCode) -> BrokerResult<Vec<Member>> {
        match self.cluster.broker() {
            Some(broker) => broker.members(code).await,
            None => Ok(self.local_members(code).await),
        }
    }

    /// Members of a room on this node; empty when the room has no live actor.
    pub async fn local_members(&self, code: RoomCode) -> Vec<Member> {
        match self.rooms.get(&code) {
            Some(handle) => handle.addr.send(ListMembers).await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Rooms with at least one member on any node, with their member counts.
    pub async fn occupied_rooms(&self) -> BrokerResult<Vec<(RoomCode, usize)>> {
        match self.cluster.broker() {
            Some(broker) => broker.occupied_rooms().await,
            None => Ok(self.rooms.occupied()),
        }
    }

    /// Creates a room with a fresh random code (retrying on the rare collision) and a fresh
    /// owner key; answers both. The key is shown only now: the store keeps its hash.
    pub async fn create_room(&self) -> Result<(Room, String), ChatError> {
        let (owner_key, owner_key_hash) = OwnerKey::generate();
        for _ in 0..CREATE_ROOM_ATTEMPTS {
            match self
                .store
                .create_room(RoomCode::random(), &owner_key_hash)
                .await
            {
                Ok(record) => return Ok((record.room, owner_key)),
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
}
