//! What nodes tell each other through Redis, the Redis keys they share, and the trait
//! through which the bridge hands other nodes' events to this node's rooms.
//!
//! - Channel `chat:room:CODE`: every event of a room (committed messages, presence
//!   changes, typing), published once by the node where it happened. Only nodes with
//!   local members in the room subscribe.
//! - Hash `chat:presence:CODE`: the room's members on every node, field
//!   `{node}/{session}` → nickname.
//! - Key `chat:node:NODE`: the node's heartbeat, with a TTL. Presence entries of a node
//!   whose heartbeat expired are removed by the survivors, who publish the `leave`s.
//! - Set `chat:rooms`: codes that may have members, for room listings.
//!
//! On a Redis Cluster the names carry hash tags ([`Keys`]): a room's channel and presence
//! hash share the tag `{CODE}`, so one shard owns both, and the heartbeats share one tag so
//! that a roster checks every node's in one command.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::connections::{self, Commands, PoolError, Target, Topology};
use crate::ids::{Nickname, RoomCode, SessionId};
use crate::model::{Member, Message};

/// A room event as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The node the event happened on (or, for expiries, the node that died).
    pub node: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The events of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// A message was committed.
    #[serde(rename_all = "camelCase")]
    Message {
        /// The message.
        message: Message,
        /// Its predecessor in the room. Rooms order by the message's `seq` now; this is
        /// kept for nodes that predate it, during a rolling upgrade.
        prev_id: Option<i64>,
    },
    /// A change (edit, deletion, reaction) was committed: the message's new state.
    Update {
        /// The message as it is now; its `seq` is the change's.
        message: Message,
    },
    /// A member joined (or renamed itself, when `old` is set).
    Join {
        /// `{node}/{session}`.
        member: String,
        /// Its nickname.
        nickname: Nickname,
        /// The previous nickname, for a rename.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<Nickname>,
    },
    /// A member left, or its node died.
    Leave {
        /// `{node}/{session}`.
        member: String,
        /// Its nickname.
        nickname: Nickname,
    },
    /// A member started or stopped typing.
    Typing {
        /// Its nickname.
        nickname: Nickname,
        /// Typing now or not.
        typing: bool,
    },
    /// A marker the publishing node reads back to know that everything published on the
    /// channel before it has arrived (see `cluster/barrier.rs`); other nodes ignore it.
    Barrier {
        /// Tells the publisher's markers apart.
        token: u64,
    },
}

/// Where the bridge delivers what other nodes publish. The node's room directory
/// implements it, so the bridge never needs to know what a room is (as centrifuge's
/// `BrokerEventHandler`).
pub trait ClusterEvents: Send + Sync + 'static {
    /// An event of room `code` that happened on another node.
    fn event(&self, code: RoomCode, event: Event);

    /// The bridge (re)subscribed to `code`: `roster` is the room's members on every live
    /// node (presence field → nickname), this one included.
    fn synced(&self, code: RoomCode, roster: HashMap<String, Nickname>);

    /// A node found the client address `key` over the failed-lookup limit: refuse its
    /// lookups for `period`.
    fn locked_out(&self, key: IpAddr, period: Duration);

    /// A message of another node arrived `lag` after it was committed, for the node's
    /// stats record.
    fn lag(&self, lag: Duration);

    /// An operator's command, published by the node that took the request.
    fn admin(&self, command: super::operators::AdminCommand);
}

/// The names of the keys and channels of a room and of the nodes, for one topology.
///
/// On one server they stay what they always were, so nodes of an earlier version share
/// Redis with this one during a rolling upgrade. On a cluster a room's names carry its code
/// as a hash tag (`chat:room:{CODE}`, `chat:presence:{CODE}`): both live in the slot of
/// the code, so the room's `SPUBLISH`, presence writes and subscription all go to the one
/// master that owns it, and a batch of the room's writes is one single-slot pipeline.
/// Heartbeats share the tag `{nodes}`, so checking which nodes of a roster are alive is
/// one command to one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    topology: Topology,
}

impl Keys {
    /// The names for `topology`.
    pub fn new(topology: Topology) -> Keys {
        Keys { topology }
    }

    /// Whether the names are a cluster's.
    pub fn topology(self) -> Topology {
        self.topology
    }

    /// The pub/sub channel of a room.
    pub fn channel(self, code: RoomCode) -> String {
        match self.topology {
            Topology::Single => format!("{CHANNEL_PREFIX}{code}"),
            Topology::Cluster => format!("{CHANNEL_PREFIX}{{{code}}}"),
        }
    }

    /// The presence hash of a room.
    pub fn presence(self, code: RoomCode) -> String {
        match self.topology {
            Topology::Single => format!("chat:presence:{code}"),
            Topology::Cluster => format!("chat:presence:{{{code}}}"),
        }
    }

    /// A node's heartbeat key.
    pub fn node(self, node: &str) -> String {
        match self.topology {
            Topology::Single => format!("chat:node:{node}"),
            Topology::Cluster => format!("chat:node:{{nodes}}:{node}"),
        }
    }
}

/// The channel on which a node that found a client address over the failed-lookup limit
/// tells the others; every node subscribes to it.
pub const LOCKOUTS_CHANNEL: &str = "chat:lockouts";

/// The channel of operators' commands (`admin.rs`); every node subscribes to it.
pub const ADMIN_CHANNEL: &str = "chat:admin";

/// The hash of every node's latest stats record, by node id (`cluster/operators.rs`).
pub const STATS_KEY: &str = "chat:node-stats";

/// The failed-lookup count of a client address (its key: an IPv6 /64), shared by the
/// nodes; it lives for one window of the limit.
pub fn failed_lookups_key(key: IpAddr) -> String {
    format!("chat:failed-lookups:{key}")
}

/// A client address over the failed-lookup limit, as published on [`LOCKOUTS_CHANNEL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lockout {
    /// The address's key.
    pub address: IpAddr,
    /// How much longer its count lives, in milliseconds.
    pub for_ms: u64,
}

/// The set of rooms that may have members.
pub const ROOMS_KEY: &str = "chat:rooms";

/// How many codes one `SSCAN` of [`ROOMS_KEY`] asks for.
pub const ROOMS_PAGE: usize = 500;

/// The presence field of a member.
pub fn member_field(node: &str, session: SessionId) -> String {
    format!("{node}/{session}")
}

/// The channel prefix of room events; the rest of a channel's name is the room code.
pub const CHANNEL_PREFIX: &str = "chat:room:";

/// The room a channel carries, if it is a room channel (of either topology).
pub fn room_of_channel(channel: &str) -> Option<RoomCode> {
    let code = channel.strip_prefix(CHANNEL_PREFIX)?;
    let code = code
        .strip_prefix('{')
        .and_then(|tagged| tagged.strip_suffix('}'))
        .unwrap_or(code);
    RoomCode::parse(code).ok()
}

/// The session part of a presence field, if the field has one.
pub fn session_of(field: &str) -> Option<SessionId> {
    field
        .rsplit_once('/')
        .and_then(|(_, id)| id.parse::<SessionId>().ok())
}

/// The node part of a presence field.
pub fn node_of(field: &str) -> &str {
    field.rsplit_once('/').map_or(field, |(node, _)| node)
}

/// One write the bridge queues for Redis.
pub enum Write {
    /// An event on a room's channel.
    Publish {
        /// The room.
        code: RoomCode,
        /// The encoded [`Envelope`].
        payload: String,
    },
    /// A local member joined (or renamed itself).
    SetMember {
        /// The room.
        code: RoomCode,
        /// The member's presence field.
        field: String,
        /// Its nickname.
        nickname: String,
    },
    /// A local member left.
    RemoveMember {
        /// The room.
        code: RoomCode,
        /// The member's presence field.
        field: String,
    },
}

/// Redis connections and shared settings for the queries a node makes outside the
/// bridge actor (REST listings).
pub struct Broker {
    /// Command connections.
    pub commands: Commands,
    /// Where Redis is; opens the bridge's dedicated subscriber connection.
    pub target: Target,
    /// The names of the shared keys and channels.
    pub keys: Keys,
    /// This node's id.
    pub node_id: String,
    /// How long a node's presence outlives its last heartbeat.
    pub presence_ttl: Duration,
    /// Longest a connection attempt, a command or a pub/sub health check may take.
    pub timeout: Duration,
    up: AtomicBool,
}

/// Why a broker call failed.
pub type BrokerResult<T> = Result<T, PoolError>;

impl Broker {
    /// Sets up the pool (connections are made on demand, so a node starts while Redis is
    /// down and catches up when it comes back). A `rediss://` URL speaks TLS (rustls),
    /// verifying Redis's certificate against `ca_file` or the system's roots; a password or
    /// ACL user in the URL is sent as `AUTH`. With `options.cluster` the URL lists seed
    /// nodes of a Redis Cluster (see `connections.rs`).
    pub fn new(options: &super::BrokerOptions, node_id: &str) -> Result<Broker, redis::RedisError> {
        let root_cert = match &options.ca_file {
            Some(ca_file) => Some(std::fs::read(ca_file).map_err(|error| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "cannot read the Redis CA file",
                    format!("{}: {error}", ca_file.display()),
                ))
            })?),
            None => None,
        };
        let topology = if options.cluster {
            Topology::Cluster
        } else {
            Topology::Single
        };
        let target = Target::parse(&options.url, topology, root_cert, options.timeout)?;
        Ok(Broker {
            commands: target.commands()?,
            target,
            keys: Keys::new(topology),
            node_id: node_id.to_owned(),
            presence_ttl: options.presence_ttl,
            timeout: options.timeout,
            up: AtomicBool::new(false),
        })
    }

    /// Whether the bridge is connected and subscribed now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records the bridge's connection state.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Connects once and pings, on a connection of its own: for the check at start that
    /// tells a Redis that refuses this node (a wrong password, a certificate it cannot
    /// verify) from one that is only down.
    pub async fn check_access(&self) -> redis::RedisResult<()> {
        self.target.check_access().await
    }

    /// Answers when Redis answers; for readiness.
    pub async fn ping(&self) -> BrokerResult<()> {
        let mut conn = self.commands.get().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Writes this node's heartbeat key, which lives for the presence TTL.
    pub async fn beat(&self) -> Result<(), String> {
        let mut conn = self.commands.get().await.map_err(|e| e.to_string())?;
        let ttl = self.presence_ttl.as_millis().max(1) as u64;
        redis::cmd("SET")
            .arg(self.keys.node(&self.node_id))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    /// Removes the presence entries of dead nodes in these rooms; answers the entries this
    /// call removed (another node may have removed some first), for their `leave`s.
    pub async fn remove_expired(&self, codes: Vec<RoomCode>) -> Vec<(RoomCode, String, Nickname)> {
        let mut expired = Vec::new();
        for code in codes {
            let Ok((_, dead)) = self.roster(code).await else {
                continue;
            };
            for (field, nickname) in dead {
                let Ok(mut conn) = self.commands.get().await else {
                    continue;
                };
                let removed: redis::RedisResult<u32> =
                    conn.hdel(self.keys.presence(code), &field).await;
                if removed == Ok(1) {
                    expired.push((code, field, nickname));
                }
            }
        }
        expired
    }

    /// Counts one failed lookup of the address `key` in the count the nodes share, which
    /// starts at the first failure and lives `window`; answers the count and how many
    /// milliseconds it still lives.
    pub async fn count_failed_lookup(
        &self,
        key: IpAddr,
        window: Duration,
    ) -> BrokerResult<(u64, u64)> {
        let mut conn = self.commands.get().await?;
        let counter = failed_lookups_key(key);
        let (count, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&counter)
            .arg(0)
            .arg("PX")
            .arg(window.as_millis().max(1) as u64)
            .arg("NX")
            .ignore()
            .incr(&counter, 1)
            .pttl(&counter)
            .query_async(&mut conn)
            .await?;
        Ok((count, ttl.max(0) as u64))
    }

    /// Tells every node that `key` is over the failed-lookup limit for `for_ms` more.
    pub async fn publish_lockout(&self, key: IpAddr, for_ms: u64) -> BrokerResult<()> {
        let payload = serde_json::to_string(&Lockout {
            address: key,
            for_ms,
        })
        .unwrap_or_default();
        let mut conn = self.commands.get().await?;
        let _: i64 = conn.publish(LOCKOUTS_CHANNEL, payload).await?;
        Ok(())
    }

    /// Writes a batch, in order; answers how many events it published. On one server the
    /// batch is one pipeline. On a cluster it is one pipeline per room (a room's keys share
    /// its slot) plus one for the room set, all in flight at once: each room's writes stay in
    /// order, and rooms never had an order among them.
    pub async fn write(&self, writes: &[Write]) -> Result<u64, String> {
        let topology = self.keys.topology();
        let mut pipes: Vec<(Option<RoomCode>, redis::Pipeline)> = vec![(None, redis::pipe())];
        let mut published = 0u64;
        for write in writes {
            let code = match write {
                Write::Publish { code, .. }
                | Write::SetMember { code, .. }
                | Write::RemoveMember { code, .. } => *code,
            };
            let at = match topology {
                Topology::Single => 0,
                Topology::Cluster => match pipes.iter().position(|(c, _)| *c == Some(code)) {
                    Some(at) => at,
                    None => {
                        pipes.push((Some(code), redis::pipe()));
                        pipes.len() - 1
                    }
                },
            };
            match write {
                Write::Publish { payload, .. } => {
                    connections::publish(
                        &mut pipes[at].1,
                        topology,
                        &self.keys.channel(code),
                        payload,
                    );
                    published += 1;
                }
                Write::SetMember {
                    field, nickname, ..
                } => {
                    pipes[at]
                        .1
                        .hset(self.keys.presence(code), field, nickname)
                        .ignore();
                    pipes[0].1.sadd(ROOMS_KEY, code.as_str()).ignore();
                }
                Write::RemoveMember { field, .. } => {
                    pipes[at].1.hdel(self.keys.presence(code), field).ignore();
                }
            }
        }
        let pipes: Vec<redis::Pipeline> = pipes
            .into_iter()
            .map(|(_, pipe)| pipe)
            .filter(|pipe| !pipe.is_empty())
            .collect();
        self.commands
            .run_all(&pipes)
            .await
            .map_err(|e| e.to_string())?;
        Ok(published)
    }

    /// One page of the room set, from `cursor` (0 starts): the next cursor (0 when done)
    /// and up to about [`ROOMS_PAGE`] codes. `SSCAN`, not `SMEMBERS`: with hundreds of
    /// thousands of rooms one `SMEMBERS` would hold the Redis (or its cluster master) for
    /// the whole set. A code may come twice; unparsable entries are skipped.
    pub async fn rooms_page(&self, cursor: u64) -> BrokerResult<(u64, Vec<RoomCode>)> {
        let mut conn = self.commands.get().await?;
        let (next, codes): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(ROOMS_KEY)
            .arg(cursor)
            .arg("COUNT")
            .arg(ROOMS_PAGE)
            .query_async(&mut conn)
            .await?;
        Ok((
            next,
            codes
                .iter()
                .filter_map(|c| RoomCode::parse(c).ok())
                .collect(),
        ))
    }

    /// Removes the presence entries this node's id left from a previous run (it crashed
    /// before saying goodbye); answers them, for their `leave`s.
    pub async fn remove_own_leftovers(&self) -> Result<Vec<(RoomCode, String, Nickname)>, String> {
        let mut leftovers = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, codes) = self.rooms_page(cursor).await.map_err(|e| e.to_string())?;
            self.remove_own_in(&codes, &mut leftovers).await?;
            if next == 0 {
                return Ok(leftovers);
            }
            cursor = next;
        }
    }

    /// [`Broker::remove_own_leftovers`] for one page of rooms.
    async fn remove_own_in(
        &self,
        codes: &[RoomCode],
        leftovers: &mut Vec<(RoomCode, String, Nickname)>,
    ) -> Result<(), String> {
        let mut conn = self.commands.get().await.map_err(|e| e.to_string())?;
        for &code in codes {
            let entries: HashMap<String, String> = conn
                .hgetall(self.keys.presence(code))
                .await
                .map_err(|e| e.to_string())?;
            for (field, nickname) in entries {
                if node_of(&field) != self.node_id {
                    continue;
                }
                let removed: u32 = conn
                    .hdel(self.keys.presence(code), &field)
                    .await
                    .map_err(|e| e.to_string())?;
                if removed == 1 {
                    leftovers.push((code, field, Nickname::trusted(&nickname)));
                }
            }
        }
        Ok(())
    }

    /// Which of these nodes have no heartbeat any more: one pipeline of `EXISTS` (on a
    /// cluster the heartbeats share a slot, so one shard answers it).
    pub async fn dead_nodes(&self, nodes: &[String]) -> BrokerResult<Vec<String>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for node in nodes {
            pipe.exists(self.keys.node(node));
        }
        let mut conn = self.commands.get().await?;
        let exists: Vec<bool> = pipe.query_async(&mut conn).await?;
        Ok(nodes
            .iter()
            .zip(exists)
            .filter(|(_, alive)| !alive)
            .map(|(node, _)| node.clone())
            .collect())
    }

    /// Which of these nodes have a live heartbeat.
    async fn alive(&self, nodes: HashSet<&str>) -> BrokerResult<HashSet<String>> {
        let nodes: Vec<&str> = nodes.into_iter().collect();
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.commands.get().await?;
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.exists(self.keys.node(node));
        }
        let exists: Vec<bool> = pipe.query_async(&mut conn).await?;
        Ok(nodes
            .into_iter()
            .zip(exists)
            .filter(|(node, alive)| *alive || *node == self.node_id)
            .map(|(node, _)| node.to_owned())
            .collect())
    }

    /// A room's presence entries on live nodes, and the fields of dead ones.
    pub async fn roster(
        &self,
        code: RoomCode,
    ) -> BrokerResult<(HashMap<String, Nickname>, Vec<(String, Nickname)>)> {
        let entries: HashMap<String, String> = {
            let mut conn = self.commands.get().await?;
            conn.hgetall(self.keys.presence(code)).await?
        };
        let alive = self
            .alive(entries.keys().map(|f| node_of(f)).collect())
            .await?;
        let mut live = HashMap::new();
        let mut dead = Vec::new();
        for (field, nickname) in entries {
            let nickname = Nickname::trusted(&nickname);
            if alive.contains(node_of(&field)) {
                live.insert(field, nickname);
            } else {
                dead.push((field, nickname));
            }
        }
        Ok((live, dead))
    }

    /// Members of a room on every live node.
    pub async fn members(&self, code: RoomCode) -> BrokerResult<Vec<Member>> {
        let (live, _) = self.roster(code).await?;
        Ok(live
            .into_values()
            .map(|nickname| Member { nickname })
            .collect())
    }

    /// Rooms with members on live nodes, with their counts.
    pub async fn occupied_rooms(&self) -> BrokerResult<Vec<(RoomCode, usize)>> {
        let mut rooms = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, codes) = self.rooms_page(cursor).await?;
            for code in codes.into_iter().filter(|code| seen.insert(*code)) {
                let (live, dead) = self.roster(code).await?;
                if live.is_empty() && dead.is_empty() {
                    let mut conn = self.commands.get().await?;
                    let _: () = conn.srem(ROOMS_KEY, code.as_str()).await?;
                } else if !live.is_empty() {
                    rooms.push((code, live.len()));
                }
            }
            if next == 0 {
                return Ok(rooms);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> RoomCode {
        RoomCode::parse("ABCDEF").unwrap_or_else(|_| panic!("a valid code"))
    }

    #[test]
    fn one_server_keeps_the_names_earlier_versions_use() {
        let keys = Keys::new(Topology::Single);
        assert_eq!(keys.channel(code()), "chat:room:ABCDEF");
        assert_eq!(keys.presence(code()), "chat:presence:ABCDEF");
        assert_eq!(keys.node("n1"), "chat:node:n1");
    }

    #[test]
    fn on_a_cluster_a_rooms_names_share_its_hash_tag_and_heartbeats_share_one() {
        let keys = Keys::new(Topology::Cluster);
        assert_eq!(keys.channel(code()), "chat:room:{ABCDEF}");
        assert_eq!(keys.presence(code()), "chat:presence:{ABCDEF}");
        assert_eq!(keys.node("n1"), "chat:node:{nodes}:n1");
    }

    #[test]
    fn both_channel_names_carry_the_room() {
        for topology in [Topology::Single, Topology::Cluster] {
            let channel = Keys::new(topology).channel(code());
            assert_eq!(room_of_channel(&channel), Some(code()));
        }
        assert_eq!(room_of_channel("chat:room:{ABCDEF"), None);
        assert_eq!(room_of_channel("chat:lockouts"), None);
    }
}
