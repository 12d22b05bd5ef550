//! Starting and stopping the node's actors: the persistence shards and room threads, the
//! registry, the Redis bridge, the shared heartbeat timer, the stats sampler and the
//! operators' command queue, the retention actor (when retention is on), and the steps of
//! a graceful shutdown (drain the sessions, flush persistence, leave the cluster, stop the
//! threads).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;

use crate::admin;
use crate::authors::AuthorIds;
use crate::cluster::validate::EventRules;
use crate::cluster::{BrokerOptions, Cluster};
use crate::directory::RoomDirectory;
use crate::guards::{GuardLimits, Guards};
use crate::hub::Hub;
use crate::limits::Limits;
use crate::node_events::NodeEvents;
use crate::outbound::Outbound;
use crate::persistence::PersistencePool;
use crate::registry::Registry;
use crate::retention::{Retention, RetentionOptions};
use crate::room::RoomDeps;
use crate::stats::{sampler, NodeCounters, StatsBoard};
use crate::store::Store;

/// How the node's actors are set up.
pub struct NodeOptions {
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
    /// The store's `author_id` secret, which keys author ids (`authors.rs`).
    pub author_secret: String,
    /// Room retention; `None` keeps every room forever.
    pub retention: Option<RetentionOptions>,
    /// Over how long an operator's drain spreads its sessions' reconnects.
    pub drain_window: Duration,
    /// How often the node makes its stats record (`stats/`).
    pub stats_interval: Duration,
}

/// The node's running actors and the threads they run on.
pub struct NodeActors {
    hub: Arc<Hub>,
    /// The first runs persistence, the bridge and the heartbeat timer; the rest run rooms.
    arbiters: Vec<Arbiter>,
}

impl NodeActors {
    /// Starts the persistence shards, the room threads, the registry, with a broker the
    /// Redis bridge, and with retention the retention actor. Must be called inside an
    /// actix system.
    pub fn start(options: NodeOptions) -> Result<NodeActors, redis::RedisError> {
        let room_threads = options.room_threads;
        let arbiters: Vec<Arbiter> = (0..room_threads + 1).map(|_| Arbiter::new()).collect();
        let service = arbiters[0].handle();
        let rooms = Arc::new(RoomDirectory::default());
        let guards = Arc::new(Guards::new(options.guards));
        let counters = Arc::new(NodeCounters::default());
        let (admin_commands, admin_queue) = tokio::sync::mpsc::channel(admin::QUEUE);
        let events = Arc::new(NodeEvents {
            rooms: Arc::clone(&rooms),
            guards: Arc::clone(&guards),
            counters: Arc::clone(&counters),
            admin: admin_commands,
        });
        let cluster = match &options.broker {
            Some(broker) => Cluster::join(
                broker,
                &options.node_id,
                events,
                EventRules::of(&options.limits),
                &service,
            ),
            None => Ok(Cluster::single()),
        };
        let cluster = cluster.inspect_err(|_| arbiters.iter().for_each(|a| _ = a.stop()))?;
        let persistence = PersistencePool::start(
            Arc::clone(&options.store),
            Arc::clone(&counters),
            options.persistence_shards,
            options.limits.batch_max,
            options.limits.batch_delay,
            &service,
        );
        // With no room threads of their own, rooms run beside persistence: a send then
        // crosses threads only between its session and its room.
        let room_arbiters = match &arbiters[1..] {
            [] => vec![service.clone()],
            rooms => rooms.iter().map(Arbiter::handle).collect(),
        };
        let retention = options.retention.is_some();
        let registry = Registry::create(|ctx| {
            let deps = Arc::new(RoomDeps {
                store: Arc::clone(&options.store),
                persistence: persistence.clone(),
                limits: options.limits.clone(),
                guards: Arc::clone(&guards),
                cluster: cluster.clone(),
                counters: Arc::clone(&counters),
                supervisor: ctx.address().recipient(),
                retention,
            });
            Registry::new(Arc::clone(&rooms), deps, room_arbiters)
        });
        if let Some(retention) = options.retention {
            let store = Arc::clone(&options.store);
            let rooms = Arc::clone(&rooms);
            Retention::start_in_arbiter(&service, move |_| Retention::new(store, rooms, retention));
        }
        let hub = Arc::new(Hub {
            store: options.store,
            persistence,
            limits: options.limits,
            rooms,
            registry,
            node_id: options.node_id,
            cluster,
            guards,
            authors: AuthorIds::new(&options.author_secret),
            sessions: DashMap::new(),
            draining: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            drain_window: options.drain_window,
            counters,
            stats: StatsBoard::default(),
            stats_interval: options.stats_interval,
        });
        let interval = hub.limits.heartbeat_interval.max(Duration::from_millis(10));
        service.spawn(heartbeats(Arc::downgrade(&hub), interval));
        let stats_interval = options.stats_interval.max(Duration::from_millis(100));
        service.spawn(sampler::run(Arc::downgrade(&hub), stats_interval));
        service.spawn(admin::run(Arc::downgrade(&hub), admin_queue));
        Ok(NodeActors { hub, arbiters })
    }

    /// The state the node's handlers share.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Tells every open session to reconnect to another node and closes it (1012), spread
    /// evenly over `window`.
    pub async fn drain_sessions(&self, window: Duration) {
        self.hub
            .drain_sessions(window, "node is shutting down")
            .await;
    }

    /// Commits everything the persistence shards hold; for shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.hub.persistence.flush()).await;
    }

    /// Says goodbye to the other nodes: writes out queued events, removes this node's
    /// heartbeat and its stats record. Part of a graceful shutdown, after the sessions
    /// were drained.
    pub async fn leave_cluster(&self, timeout: Duration) {
        self.hub.cluster.leave(timeout).await;
        if let Some(broker) = self.hub.cluster.broker() {
            let own = [broker.node_id.clone()];
            let _ = tokio::time::timeout(timeout, broker.forget_stats(&own)).await;
        }
    }

    /// Stops the room and persistence threads; the last step of a shutdown.
    pub fn stop_threads(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// Slices of the session table the heartbeat visits one after the other, so that a node
/// with many sessions pings a few of them at a time instead of all in one burst (19,000
/// pings at once keep both cores busy for a noticeable moment, which every message then in
/// flight would wait out).
const HEARTBEAT_SLICES: u64 = 20;

/// Asks every session to check its connection once per `interval`, for as long as the hub
/// lives: one timer for the node instead of one per session. Each tick visits one slice of
/// the sessions (by id), so each session still hears once per `interval`.
async fn heartbeats(hub: Weak<Hub>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval / HEARTBEAT_SLICES as u32);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    for slice in (0..HEARTBEAT_SLICES).cycle() {
        ticks.tick().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        for session in hub.sessions.iter() {
            if session.key() % HEARTBEAT_SLICES == slice {
                session.value().do_send(Outbound::Heartbeat);
            }
        }
    }
}
