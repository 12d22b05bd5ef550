//! The node's Redis connections, to one server or to a Redis Cluster, behind one interface.
//!
//! - [`Commands`]: a small bb8 pool for commands. On one server it holds multiplexed
//!   connections (bb8-redis); on a cluster each pooled connection is a redis crate
//!   `ClusterConnection`, which keeps one multiplexed socket per master and routes every
//!   command by its key's slot, following `MOVED` and `ASK` on its own.
//! - [`Subscriber`] and [`Incoming`]: the bridge's pub/sub connection and what it reads.
//!   On one server a classic `SUBSCRIBE` per room; on a cluster `SSUBSCRIBE`, which the
//!   cluster connection sends to the master that owns the channel's slot, so a room's
//!   events never travel to the other shards.
//!
//! So a node holds, per Redis server (each master of a cluster), at most
//! [`pool_size`](Topology::pool_size) command sockets and one subscriber socket, however
//! many rooms it serves.

use std::pin::Pin;
use std::time::Duration;

use bb8_redis::RedisConnectionManager;
use futures_util::future::try_join_all;
use futures_util::{Stream, StreamExt};
use redis::aio::{ConnectionLike, PubSubSink};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, PushInfo, PushKind, RedisFuture,
    RedisResult, Value,
};

/// What `REDIS_URL` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One Redis server (with or without replicas behind it).
    Single,
    /// A Redis Cluster, reached through any of its nodes.
    Cluster,
}

impl Topology {
    /// Pooled command connections: on a cluster each is one socket to every master, and
    /// the commands are pipelined on them, so two are plenty.
    pub fn pool_size(self) -> u32 {
        match self {
            Topology::Single => 8,
            Topology::Cluster => 2,
        }
    }
}

/// How to reach Redis: parsed once at start, used for every connection.
#[derive(Clone)]
pub struct Target {
    /// Single server or cluster.
    pub topology: Topology,
    /// The server, or the cluster's seed nodes (any of them will do to find the rest).
    nodes: Vec<ConnectionInfo>,
    /// The CA (PEM) that signed the servers' certificates, for `rediss://`.
    root_cert: Option<Vec<u8>>,
    timeout: Duration,
}

impl Target {
    /// Parses `url`: on one server a single URL; on a cluster a comma-separated list of
    /// seed URLs, as the redis crate's `ClusterClient` takes them. Every socket gets
    /// `timeout` as its `TCP_USER_TIMEOUT`: one whose peer went silent is closed by the
    /// kernel then, rather than after many minutes of retransmissions.
    pub fn parse(
        url: &str,
        topology: Topology,
        root_cert: Option<Vec<u8>>,
        timeout: Duration,
    ) -> RedisResult<Target> {
        let urls: Vec<&str> = match topology {
            Topology::Single => vec![url.trim()],
            Topology::Cluster => url
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .collect(),
        };
        let mut nodes = Vec::with_capacity(urls.len());
        for url in urls {
            let info = url.into_connection_info()?;
            let tcp = info.tcp_settings().clone().set_user_timeout(timeout);
            nodes.push(info.set_tcp_settings(tcp));
        }
        if nodes.is_empty() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "REDIS_URL names no Redis node",
            )));
        }
        Ok(Target {
            topology,
            nodes,
            root_cert,
            timeout,
        })
    }

    /// A client for the one server, with the CA when one is set.
    fn single_client(&self) -> RedisResult<redis::Client> {
        let info = self.nodes[0].clone();
        match &self.root_cert {
            Some(root_cert) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert.clone()),
                },
            ),
            None => redis::Client::open(info),
        }
    }

    /// A cluster client. Every request is bounded by the timeout, retries included: a
    /// master that died must fail a publish within it (the rooms then catch up from the
    /// store), not hold up every room's events behind it while the cluster elects its
    /// replica.
    fn cluster_builder(&self) -> ClusterClientBuilder {
        let mut builder = ClusterClientBuilder::new(self.nodes.clone())
            .tcp_settings(self.nodes[0].tcp_settings().clone())
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .overall_response_timeout(Some(self.timeout))
            .retries(3)
            .max_retry_wait(self.timeout.as_millis() as u64 / 4)
            .use_protocol(redis::ProtocolVersion::RESP3);
        if let Some(root_cert) = &self.root_cert {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert.clone()),
            });
        }
        builder
    }

    /// The command pool. Connections are made on demand, so a node starts while Redis is
    /// down and catches up when it comes back.
    pub fn commands(&self) -> RedisResult<Commands> {
        let (size, timeout) = (self.topology.pool_size(), self.timeout);
        Ok(match self.topology {
            Topology::Single => Commands::Single(
                bb8::Pool::builder()
                    .max_size(size)
                    .connection_timeout(timeout)
                    .build_unchecked(RedisConnectionManager::new(
                        // With the CA in it, when one is set.
                        self.single_client()?.get_connection_info().clone(),
                    )?),
            ),
            Topology::Cluster => Commands::Cluster(
                bb8::Pool::builder()
                    .max_size(size)
                    .connection_timeout(timeout)
                    .build_unchecked(self.cluster_builder().build()?),
            ),
        })
    }

    /// Opens a subscriber connection and the stream of what it receives.
    pub async fn subscriber(&self) -> RedisResult<(Subscriber, IncomingStream)> {
        match self.topology {
            Topology::Single => {
                let (sink, stream) = self.single_client()?.get_async_pubsub().await?.split();
                Ok((
                    Subscriber::Single(sink),
                    Box::pin(stream.map(Incoming::Message)),
                ))
            }
            Topology::Cluster => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
                let client = self.cluster_builder().push_sender(tx).build()?;
                let connection = client.get_async_connection().await?;
                let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
                    .filter_map(|push| std::future::ready(Incoming::from_push(push)));
                Ok((Subscriber::Cluster(connection), Box::pin(stream)))
            }
        }
    }

    /// Connects once and pings, on a connection of its own: for the check at start that
    /// tells a Redis that refuses this node (a wrong password, a certificate it cannot
    /// verify) from one that is only down.
    pub async fn check_access(&self) -> RedisResult<()> {
        match self.topology {
            Topology::Single => {
                let mut conn = self
                    .single_client()?
                    .get_multiplexed_async_connection()
                    .await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await?;
            }
            Topology::Cluster => {
                let mut conn = self
                    .cluster_builder()
                    .build()?
                    .get_async_connection()
                    .await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await?;
            }
        }
        Ok(())
    }
}

/// The pooled command connections.
pub enum Commands {
    /// To one server.
    Single(bb8::Pool<RedisConnectionManager>),
    /// To a cluster.
    Cluster(bb8::Pool<ClusterClient>),
}

/// Why a pooled command failed: no connection within the timeout, or Redis said no.
pub type PoolError = bb8::RunError<redis::RedisError>;

impl Commands {
    /// A connection from the pool.
    pub async fn get(&self) -> Result<Command<'_>, PoolError> {
        Ok(match self {
            Commands::Single(pool) => Command::Single(pool.get().await?),
            Commands::Cluster(pool) => Command::Cluster(pool.get().await?),
        })
    }

    /// Runs pipelines, the commands of each in order, on one pooled connection: one after
    /// the other on one server, all at once on a cluster, where each keeps to one slot and
    /// so goes to one master.
    pub async fn run_all(&self, pipes: &[Pipeline]) -> Result<(), PoolError> {
        match self.get().await? {
            Command::Single(mut conn) => {
                for pipe in pipes {
                    pipe.query_async::<()>(&mut *conn).await?;
                }
            }
            Command::Cluster(conn) => {
                try_join_all(pipes.iter().map(|pipe| {
                    let mut conn = conn.clone();
                    async move { pipe.query_async::<()>(&mut conn).await }
                }))
                .await?;
            }
        }
        Ok(())
    }
}

/// A pooled command connection; commands and pipelines run on it as on any redis
/// connection. On a cluster a pipeline must keep to one slot (the bridge groups its writes
/// by room, whose keys share a hash tag).
pub enum Command<'a> {
    /// To one server.
    Single(bb8::PooledConnection<'a, RedisConnectionManager>),
    /// To a cluster.
    Cluster(bb8::PooledConnection<'a, ClusterClient>),
}

impl ConnectionLike for Command<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Command::Single(conn) => conn.req_packed_command(cmd),
            Command::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Command::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Command::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Command::Single(conn) => conn.get_db(),
            Command::Cluster(conn) => conn.get_db(),
        }
    }
}

/// What the subscriber connection receives.
#[derive(Debug)]
pub enum Incoming {
    /// An event published on a channel this node subscribed to.
    Message(redis::Msg),
    /// The cluster dropped this node's subscription to a room channel: its slot moved to
    /// another master (a reshard). The bridge subscribes again, which reaches the new owner.
    Dropped {
        /// The channel.
        channel: String,
    },
    /// The connection to one of the cluster's masters closed (it died, or a failover is
    /// under way): the subscriptions it carried are in doubt.
    Disconnected,
}

impl Incoming {
    /// What a cluster push means to the bridge; `None` for confirmations and the like.
    fn from_push(push: PushInfo) -> Option<Incoming> {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                redis::Msg::from_push_info(push).map(Incoming::Message)
            }
            PushKind::SUnsubscribe => {
                let channel = push.data.into_iter().next()?;
                let channel: String = redis::from_redis_value(channel).ok()?;
                Some(Incoming::Dropped { channel })
            }
            PushKind::Disconnection => Some(Incoming::Disconnected),
            _ => None,
        }
    }
}

/// The stream of a subscriber connection.
pub type IncomingStream = Pin<Box<dyn Stream<Item = Incoming> + Send>>;

/// The bridge's subscriber connection.
#[derive(Clone)]
pub enum Subscriber {
    /// A pub/sub connection to one server.
    Single(PubSubSink),
    /// A cluster connection whose pushes feed the stream.
    Cluster(ClusterConnection),
}

impl Subscriber {
    /// Subscribes to rooms' channels: on a cluster with `SSUBSCRIBE`, one per channel
    /// (channels of different slots cannot share a command), all in flight at once.
    pub async fn subscribe_rooms(&mut self, channels: &[String]) -> RedisResult<()> {
        if channels.is_empty() {
            return Ok(());
        }
        match self {
            Subscriber::Single(sink) => sink.subscribe(channels).await,
            Subscriber::Cluster(conn) => {
                try_join_all(channels.iter().map(|channel| {
                    let mut conn = conn.clone();
                    async move { conn.ssubscribe(channel).await }
                }))
                .await?;
                Ok(())
            }
        }
    }

    /// Stops receiving a room's channel.
    pub async fn unsubscribe_room(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.unsubscribe(channel).await,
            Subscriber::Cluster(conn) => conn.sunsubscribe(channel).await,
        }
    }

    /// Subscribes to a channel every node hears, whichever shard it is connected to
    /// (classic pub/sub reaches every node of a cluster); for the rare node-wide events.
    pub async fn subscribe_everywhere(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.subscribe(channel).await,
            Subscriber::Cluster(conn) => conn.subscribe(channel).await,
        }
    }

    /// Pings the connection (on a cluster, every master): reading alone cannot tell a quiet
    /// channel from a connection that a silent partition has cut.
    pub async fn ping(&mut self) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.ping::<Value>().await.map(drop),
            Subscriber::Cluster(conn) => redis::cmd("PING")
                .query_async::<Value>(conn)
                .await
                .map(drop),
        }
    }
}

/// Publishes `payload` on a room's channel: `SPUBLISH` on a cluster, so that only the
/// shard that owns the channel's slot carries it.
pub fn publish(pipe: &mut Pipeline, topology: Topology, channel: &str, payload: &str) {
    let command = match topology {
        Topology::Single => "PUBLISH",
        Topology::Cluster => "SPUBLISH",
    };
    pipe.cmd(command).arg(channel).arg(payload).ignore();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_lists_its_seed_nodes() {
        let target = Target::parse(
            "redis://10.0.0.1:6379, redis://10.0.0.2:6380,",
            Topology::Cluster,
            None,
            Duration::from_secs(1),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let nodes: Vec<String> = target.nodes.iter().map(|n| n.addr().to_string()).collect();
        assert_eq!(nodes, ["10.0.0.1:6379", "10.0.0.2:6380"]);
    }

    #[test]
    fn a_url_with_no_node_is_refused() {
        let parsed = Target::parse(" , ", Topology::Cluster, None, Duration::from_secs(1));
        assert!(parsed.is_err());
    }

    #[test]
    fn a_single_server_url_is_one_node_even_with_a_comma_in_its_password() {
        let target = Target::parse(
            "redis://:pa,ss@10.0.0.1:6379",
            Topology::Single,
            None,
            Duration::from_secs(1),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(target.nodes.len(), 1);
    }

    fn push(kind: PushKind, data: &[&str]) -> PushInfo {
        PushInfo {
            kind,
            data: data
                .iter()
                .map(|d| Value::BulkString(d.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn cluster_pushes_become_messages_dropped_rooms_and_disconnections() {
        match Incoming::from_push(push(PushKind::SMessage, &["chat:room:{ABC123}", "{}"])) {
            Some(Incoming::Message(msg)) => {
                assert_eq!(msg.get_channel_name(), "chat:room:{ABC123}");
                assert_eq!(msg.get_payload_bytes(), b"{}");
            }
            other => panic!("{other:?}"),
        }
        match Incoming::from_push(push(PushKind::SUnsubscribe, &["chat:room:{ABC123}"])) {
            Some(Incoming::Dropped { channel }) => assert_eq!(channel, "chat:room:{ABC123}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Incoming::from_push(push(PushKind::Disconnection, &[])),
            Some(Incoming::Disconnected)
        ));
        assert!(Incoming::from_push(push(PushKind::SSubscribe, &["chat:room:{ABC123}"])).is_none());
    }
}
