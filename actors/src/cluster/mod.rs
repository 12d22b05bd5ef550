//! The node's link to the other nodes, as one handle that is a no-op on a single node.
//!
//! - [`broker`]: the Redis keys and events nodes share, and [`ClusterEvents`], the trait
//!   the bridge delivers other nodes' events into.
//! - [`bridge`]: the Redis bridge actor (ordered publishing, pub/sub, heartbeats).
//! - [`operators`]: the nodes' stats records and the operators' command channel.
//!
//! Rooms and the hub hold a [`Cluster`] and call it unconditionally: with one node every
//! call does nothing and every query answers "nothing elsewhere", so no call site branches
//! on whether Redis is configured.

pub mod barrier;
pub mod bridge;
pub mod broker;
pub mod connections;
pub mod operators;
pub mod validate;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::ids::{Nickname, RoomCode, SessionId};
use crate::limits::SendRate;
use bridge::{
    AfterWrites, Barrier, Goodbye, Publish, RedisBridge, SetPresence, Subscribe, Unsubscribe,
};
pub use broker::{Broker, BrokerResult, ClusterEvents, Event};

/// Events that may wait for the Redis bridge.
const BRIDGE_MAILBOX: usize = 64 * 1024;

/// A room with members catches up from the store at least this often, even when the
/// broker is up: a cheap safety net for an event the broker lost.
const CATCH_UP_EVERY: Duration = Duration::from_secs(10);

/// How to reach the other nodes.
pub struct BrokerOptions {
    /// The Redis URL; with `cluster`, the seed nodes' URLs separated by commas.
    pub url: String,
    /// The URL names a Redis Cluster: room channels are sharded (`SSUBSCRIBE`,
    /// `SPUBLISH`) and every name of a room shares its slot.
    pub cluster: bool,
    /// How long a node's members outlive its last heartbeat.
    pub presence_ttl: Duration,
    /// Longest a Redis connection attempt, command or health check may take.
    pub timeout: Duration,
    /// The CA that signed Redis's certificate (PEM), for a `rediss://` URL; without it the
    /// system's trusted roots are used.
    pub ca_file: Option<std::path::PathBuf>,
}

/// The Redis connections and the bridge actor of a node that is one of several.
struct Link {
    broker: Arc<Broker>,
    bridge: Addr<RedisBridge>,
}

/// This node's view of the cluster; cheap to clone.
#[derive(Clone, Default)]
pub struct Cluster {
    link: Option<Arc<Link>>,
}

/// The members of a room, split by where they are.
pub struct SplitRoster {
    /// Entries this node wrote: presence field and nickname.
    pub own: Vec<(String, Nickname)>,
    /// Members on other live nodes, by presence field.
    pub remote: HashMap<String, Nickname>,
}

impl Cluster {
    /// A node on its own.
    pub fn single() -> Cluster {
        Cluster::default()
    }

    /// Connects to Redis (lazily: a node starts while Redis is down) and starts the bridge
    /// on `arbiter`, delivering other nodes' events that pass `rules` into `events`.
    pub fn join(
        options: &BrokerOptions,
        node_id: &str,
        events: Arc<dyn ClusterEvents>,
        rules: validate::EventRules,
        arbiter: &ArbiterHandle,
    ) -> Result<Cluster, redis::RedisError> {
        let broker = Arc::new(Broker::new(options, node_id)?);
        let (tx, rx) = actix::dev::channel::channel(BRIDGE_MAILBOX);
        let shared = Arc::clone(&broker);
        arbiter.spawn_fn(move || {
            Context::with_receiver(rx).run(RedisBridge::new(events, shared, rules));
        });
        let bridge = Addr::new(tx);
        Ok(Cluster {
            link: Some(Arc::new(Link { broker, bridge })),
        })
    }

    /// The Redis connections, for the queries a node answers about the whole cluster
    /// (room listings, readiness); `None` on a single node.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.link.as_ref().map(|link| &link.broker)
    }

    /// Adds a failed lookup of the client address `key` to the count the nodes share, and
    /// when it reaches the limit tells every node to refuse that address (see
    /// `guards.rs`). Nothing on a single node, or while the broker is down: each node's own
    /// count still holds then.
    pub fn count_failed_lookup(&self, key: IpAddr, rate: SendRate) {
        let Some(link) = self.link.as_ref().filter(|link| link.broker.is_up()) else {
            return;
        };
        let broker = Arc::clone(&link.broker);
        tokio::spawn(async move {
            let counted =
                tokio::time::timeout(broker.timeout, broker.count_failed_lookup(key, rate.window))
                    .await;
            match counted {
                Ok(Ok((count, for_ms))) if count == u64::from(rate.count) => {
                    if let Err(error) = broker.publish_lockout(key, for_ms).await {
                        tracing::warn!(%error, "a lockout was not published");
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "a failed lookup was not counted in Redis")
                }
                Err(_) => tracing::debug!("counting a failed lookup in Redis timed out"),
            }
        });
    }

    /// Publishes an event of a room to the other nodes.
    pub fn publish(&self, code: RoomCode, event: Event) {
        if let Some(link) = &self.link {
            link.bridge.do_send(Publish { code, event });
        }
    }

    /// Records a local member's presence (`nickname` `None`: it left) and tells the other
    /// nodes: a join, a rename (`old` set), or a leave.
    pub fn announce(
        &self,
        code: RoomCode,
        session: SessionId,
        nickname: Option<&Nickname>,
        old: Option<&Nickname>,
    ) {
        let Some(link) = &self.link else {
            return;
        };
        let member = broker::member_field(&link.broker.node_id, session);
        link.bridge.do_send(SetPresence {
            code,
            member: member.clone(),
            nickname: nickname.cloned(),
        });
        let event = match (nickname, old) {
            (Some(nickname), old) => Event::Join {
                member,
                nickname: nickname.clone(),
                old: old.cloned(),
            },
            (None, Some(old)) => Event::Leave {
                member,
                nickname: old.clone(),
            },
            (None, None) => return,
        };
        self.publish(code, event);
    }

    /// Removes a presence entry of this node that no longer has a member (its removal
    /// was lost while Redis was unreachable), with its `leave`.
    pub fn forget(&self, code: RoomCode, member: String, nickname: Nickname) {
        let Some(link) = &self.link else {
            return;
        };
        link.bridge.do_send(SetPresence {
            code,
            member: member.clone(),
            nickname: None,
        });
        self.publish(code, Event::Leave { member, nickname });
    }

    /// Waits until everything this node queued for Redis before now is written, at most
    /// the broker's timeout; at once on a single node. A join's ack waits for it.
    pub fn written(&self) -> impl Future<Output = ()> + 'static {
        self.wait_for(|done| AfterWrites { done })
    }

    /// Waits until every event published on the room's channel before now has reached
    /// this node's room, at most the broker's timeout; at once on a single node, while the
    /// broker is down, or when this node is not subscribed to the room. A join waits for it
    /// before the room lists the members.
    pub fn barrier(&self, code: RoomCode) -> impl Future<Output = ()> + 'static {
        self.wait_for(move |done| Barrier { code, done })
    }

    /// Sends the bridge a request now and waits for its answer, at most the broker's
    /// timeout.
    fn wait_for<M>(&self, request: impl FnOnce(bridge::Waiter) -> M) -> impl Future<Output = ()>
    where
        M: Message<Result = ()> + Send + 'static,
        RedisBridge: Handler<M>,
    {
        let waiting = self.link.as_ref().map(|link| {
            let (done, answered) = tokio::sync::oneshot::channel();
            link.bridge.do_send(request(done));
            (answered, link.broker.timeout)
        });
        async move {
            if let Some((answered, timeout)) = waiting {
                let _ = tokio::time::timeout(timeout, answered).await;
            }
        }
    }

    /// The room has local members now: receive its events.
    pub fn subscribe(&self, code: RoomCode) {
        if let Some(link) = &self.link {
            link.bridge.do_send(Subscribe { code });
        }
    }

    /// The room has no local members any more: stop receiving its events.
    pub fn unsubscribe(&self, code: RoomCode) {
        if let Some(link) = &self.link {
            link.bridge.do_send(Unsubscribe { code });
        }
    }

    /// Whether a room with members, which last caught up from the store `since` ago,
    /// should do so now: always while the broker is down, and every few seconds anyway.
    /// Never on a single node, where every commit passes through the room itself.
    pub fn catch_up_due(&self, since: Duration) -> bool {
        self.link
            .as_ref()
            .is_some_and(|link| !link.broker.is_up() || since >= CATCH_UP_EVERY)
    }

    /// The members of a room on the other live nodes, read now if the broker is up;
    /// `None` on a single node, while the broker is down, or when the read fails.
    pub fn remote_roster(
        &self,
        code: RoomCode,
    ) -> impl Future<Output = Option<HashMap<String, Nickname>>> + 'static {
        let broker = self
            .link
            .as_ref()
            .filter(|link| link.broker.is_up())
            .map(|link| Arc::clone(&link.broker));
        async move {
            let broker = broker?;
            let (live, _) = broker.roster(code).await.ok()?;
            Some(
                live.into_iter()
                    .filter(|(field, _)| broker::node_of(field) != broker.node_id)
                    .collect(),
            )
        }
    }

    /// Splits a roster the bridge sent into this node's entries and the other nodes'.
    pub fn split(&self, roster: HashMap<String, Nickname>) -> SplitRoster {
        let node_id = self.link.as_ref().map(|link| link.broker.node_id.as_str());
        let (own, remote): (Vec<_>, Vec<_>) = roster
            .into_iter()
            .partition(|(field, _)| Some(broker::node_of(field)) == node_id);
        SplitRoster {
            own,
            remote: remote.into_iter().collect(),
        }
    }

    /// Writes out queued events and removes this node's heartbeat, within `timeout`. The
    /// last step of a graceful shutdown, after the sessions were drained.
    pub async fn leave(&self, timeout: Duration) {
        if let Some(link) = &self.link {
            let _ = tokio::time::timeout(timeout, link.bridge.send(Goodbye)).await;
        }
    }
}
