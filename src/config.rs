//! The node's configuration: every flag, its environment variable and its default, in one
//! struct. `chat-node --help` prints the same text as the doc comments below.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chat_actors::guards::GuardLimits;
use chat_actors::retention::RetentionOptions;
use chat_actors::{Limits, SendRate};
use clap::{Parser, ValueEnum};

use crate::client_address::TrustedProxies;
use crate::security::AllowedOrigins;
use crate::store::PostgresTimeouts;

/// The shortest timeout the node accepts: a zero one would fail every call.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// A horizontally scalable real-time chat node.
///
/// With no DATABASE_URL it keeps messages in an embedded SQLite file under --data-dir;
/// with DATABASE_URL it uses PostgreSQL; with REDIS_URL it joins the other nodes that use
/// the same Redis and PostgreSQL.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-node", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on for HTTP and WebSocket.
    #[arg(long, env = "CHAT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory of the embedded SQLite store (used when DATABASE_URL is unset).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// PostgreSQL connection URL; the embedded store is used when unset.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Redis URL; when set, the node relays room events through Redis to other nodes.
    /// `rediss://` for TLS; a password (`redis://:PASSWORD@host`) or an ACL user
    /// (`redis://USER:PASSWORD@host`) is sent as AUTH.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// REDIS_URL names a Redis Cluster (7.0 or later): a comma-separated list of seed
    /// nodes, e.g. `redis://10.0.0.1:6379,redis://10.0.0.2:6379`; any one that answers is
    /// enough to find the rest. Rooms then use sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`), so
    /// a room's events travel only to the shard that owns its slot.
    #[arg(long, env = "CHAT_REDIS_CLUSTER", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub redis_cluster: bool,

    /// With a `rediss://` REDIS_URL: the CA certificate (PEM) that signed Redis's
    /// certificate [default: the system's trusted roots].
    #[arg(long, env = "CHAT_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// With `sslmode=verify-ca` or `verify-full` in DATABASE_URL: the CA certificate (PEM)
    /// that signed PostgreSQL's certificate (like `sslrootcert` in the URL, which it
    /// overrides) [default: the system's trusted roots].
    #[arg(long, env = "CHAT_DB_CA_FILE")]
    pub db_ca_file: Option<PathBuf>,

    /// Integration keys, comma-separated (several, so one can be rotated): with any,
    /// `POST /api/messages`, `GET /api/rooms` and `GET /metrics` need `Authorization:
    /// Bearer <key>`. Prefer the environment or --api-keys-file to a command line others
    /// can read.
    #[arg(long, env = "CHAT_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,

    /// A file of integration keys, one per line (`#` comments), e.g. a mounted Secret;
    /// added to --api-keys.
    #[arg(long, env = "CHAT_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,

    /// This node's id in logs, health answers and cross-node events [default: host name].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<String>,

    /// Directory of the browser client, served at `/`.
    #[arg(long, env = "CHAT_STATIC_DIR", default_value = "static/dist")]
    pub static_dir: PathBuf,

    /// Per-session send limit as COUNT/WINDOW (e.g. 20/10s); 0 turns it off.
    #[arg(long, env = "CHAT_SEND_RATE", default_value = "20/10s")]
    pub send_rate: SendRateArg,

    /// Per-session budget over every frame (requests, pings, fragments) as COUNT/WINDOW,
    /// a token bucket that allows COUNT at once; past it frames get rate_limited, and a
    /// session refused 1,000 frames in a row is closed (1008). 0 turns it off.
    #[arg(long, env = "CHAT_FRAME_RATE", default_value = "2000/10s")]
    pub frame_rate: SendRateArg,

    /// Per-session joins, rejoins and renames as COUNT/WINDOW (a token bucket); 0 = off.
    #[arg(long, env = "CHAT_JOIN_RATE", default_value = "30/10s")]
    pub join_rate: SendRateArg,

    /// Per-client-address limit for REST POST /api/messages as COUNT/WINDOW; 0 = none.
    #[arg(long, env = "CHAT_REST_SEND_RATE", default_value = "0")]
    pub rest_send_rate: SendRateArg,

    /// Most open sessions on this node; more are refused (503) so a load balancer sends
    /// them elsewhere. 0 = no limit.
    #[arg(long, env = "CHAT_MAX_SESSIONS", default_value_t = 100_000)]
    pub max_sessions: usize,

    /// Most open sessions from one client address (429). Leave at 0 (no limit) behind a
    /// proxy or ingress, where every client shares its address; limit at the edge instead.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 0)]
    pub max_connections_per_address: u32,

    /// Rooms one client address may create, as COUNT/WINDOW; 0 = no limit.
    #[arg(long, env = "CHAT_ROOM_CREATE_RATE", default_value = "30/60s")]
    pub room_create_rate: SendRateArg,

    /// Lookups of unknown room codes one client address (an IPv6 address by its /64) may
    /// make, as COUNT/WINDOW, by any route (room:join, history, room details, REST posts),
    /// counted across nodes through Redis; past it, all its lookups are refused for up to
    /// one window, so room codes cannot be found by brute force. 0 = no limit.
    #[arg(
        long,
        alias = "failed-join-rate",
        env = "CHAT_FAILED_LOOKUP_RATE",
        default_value = "30/60s"
    )]
    pub failed_lookup_rate: SendRateArg,

    /// Client addresses each per-address limit (room creation, failed lookups, REST sends)
    /// remembers; the least recently seen are forgotten first. Caps the limits' memory
    /// (about 100 bytes an address) however many addresses a flood comes from.
    #[arg(long, env = "CHAT_ADDRESS_TABLE_SIZE", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(16..))]
    pub address_table_size: u32,

    /// Most members of one room, across all nodes (too_large past it); 0 = no limit.
    #[arg(long, env = "CHAT_MAX_ROOM_MEMBERS", default_value_t = 10_000)]
    pub max_room_members: usize,

    /// Longest message content, in characters after trimming.
    #[arg(long, env = "CHAT_CONTENT_MAX", default_value_t = 2000)]
    pub content_max: usize,

    /// Longest nickname (and REST sender), in characters after trimming.
    #[arg(long, env = "CHAT_NICKNAME_MAX", default_value_t = 32)]
    pub nickname_max: usize,

    /// Largest WebSocket text frame that is parsed, in bytes; larger ones get too_large.
    #[arg(long, env = "CHAT_FRAME_MAX", default_value_t = 16 * 1024)]
    pub frame_max: usize,

    /// Largest WebSocket frame at all, in bytes; larger ones close the connection (1009),
    /// refused from their header. 4 × --frame-max: room for a polite too_large, no more.
    #[arg(long, env = "CHAT_FRAME_HARD_CAP", default_value_t = 64 * 1024)]
    pub frame_hard_cap: usize,

    /// Rooms one session may be in at once.
    #[arg(long, env = "CHAT_ROOMS_PER_SESSION", default_value_t = 16)]
    pub rooms_per_session: usize,

    /// Default page size of GET /api/messages.
    #[arg(long, env = "CHAT_HISTORY_DEFAULT", default_value_t = 50)]
    pub history_default: u32,

    /// Largest page size of GET /api/messages (larger limits are clamped).
    #[arg(long, env = "CHAT_HISTORY_MAX", default_value_t = 200)]
    pub history_max: u32,

    /// Most missed messages returned by room:join with sinceId.
    #[arg(long, env = "CHAT_MISSED_MAX", default_value_t = 500)]
    pub missed_max: u32,

    /// Presence pushes carry the full member list only up to this many members.
    #[arg(long, env = "CHAT_PRESENCE_LIST_MAX", default_value_t = 100)]
    pub presence_list_max: usize,

    /// Pushes that may wait for one session before it is closed as too slow.
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Kernel send buffer per connection, in bytes (0: the kernel's autotuning, up to
    /// several MB per socket). Bounds what a client that stops reading can hold.
    #[arg(long, env = "CHAT_SOCKET_SEND_BUFFER", default_value_t = 64 * 1024)]
    pub socket_send_buffer: usize,

    /// How often each WebSocket is pinged.
    #[arg(long, env = "CHAT_HEARTBEAT_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// A WebSocket that has not answered for this long is closed.
    #[arg(long, env = "CHAT_CLIENT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub client_timeout: Duration,

    /// A room with no members on this node is stopped after this long.
    #[arg(long, env = "CHAT_ROOM_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub room_idle_timeout: Duration,

    /// Most messages committed in one transaction.
    #[arg(long, env = "CHAT_BATCH_MAX", default_value_t = 512)]
    pub batch_max: usize,

    /// Longest a message waits for others to share its commit.
    #[arg(long, env = "CHAT_BATCH_DELAY", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub batch_delay: Duration,

    /// Persistence shards, each committing one batch at a time [default: 1 with the
    /// embedded store, 2 with PostgreSQL].
    #[arg(long, env = "CHAT_PERSIST_SHARDS")]
    pub persist_shards: Option<usize>,

    /// PostgreSQL connections per node.
    #[arg(long, env = "CHAT_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Longest one store call may wait for a PostgreSQL connection, and then again for its
    /// work on it (a read, or a batch's whole transaction up to its commit), before it
    /// answers `unavailable`; a connection that overran is dropped. The server is given the
    /// same bound (statement and idle-in-transaction timeouts), so that a transaction whose
    /// node went silent releases its locks. A commit that overran may still have committed:
    /// the sender got an error, never an ack, and its retry with the same clientId is
    /// answered with the original.
    #[arg(long, env = "CHAT_DB_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_timeout: Duration,

    /// TCP keepalive and TCP_USER_TIMEOUT of PostgreSQL connections: a connection whose
    /// server stopped answering (a silent network partition) is closed by the kernel after
    /// about this long, instead of the system's default of many minutes.
    #[arg(long, env = "CHAT_DB_TCP_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub db_tcp_timeout: Duration,

    /// HTTP worker threads [default: half the CPUs, at least one].
    #[arg(long, env = "CHAT_WORKERS")]
    pub workers: Option<usize>,

    /// Threads that run room actors, besides the thread of the persistence shards, which
    /// runs rooms too when this is 0 [default: half the CPUs less one; 0 on 2 CPUs].
    #[arg(long, env = "CHAT_ROOM_THREADS")]
    pub room_threads: Option<usize>,

    /// With REDIS_URL: a node's members leave the others' presence this long after its
    /// last heartbeat (a node that died without saying goodbye).
    #[arg(long, env = "CHAT_PRESENCE_TTL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub presence_ttl: Duration,

    /// With REDIS_URL: longest a Redis connection attempt or command may take, and the
    /// TCP_USER_TIMEOUT of Redis sockets. The pub/sub connection is pinged every third of
    /// the presence TTL; one that does not answer within this is dropped and reopened (a
    /// silent partition, or a Redis that restarted behind one), and the node is not ready
    /// until it has resubscribed.
    #[arg(long, env = "CHAT_REDIS_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Longest `/api/ready` waits for the store and Redis to answer before it says 503:
    /// shorter than a load balancer's probe timeout (Kubernetes: 3 s in k8s/), so that an
    /// unreachable database reads as "not ready" rather than as a probe that hung.
    #[arg(long, env = "CHAT_READY_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,

    /// On SIGTERM or an operator's drain, sessions are told to reconnect elsewhere spread
    /// over this window, so that they do not all land on the other nodes at once (SIGINT
    /// drains at once).
    #[arg(long, env = "CHAT_DRAIN_WINDOW", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_window: Duration,

    /// How often the node makes the stats record the operators' page shows (`/admin`),
    /// and, with other nodes, writes it to Redis.
    #[arg(long, env = "CHAT_STATS_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub stats_interval: Duration,

    /// On SIGTERM, longest wait for in-flight messages to commit before exiting.
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Browser origins allowed to open a WebSocket, comma-separated
    /// (`https://chat.example.com,http://localhost:5173`), or `*` for any. The node's own
    /// origin is always allowed, and requests without `Origin` (programs, not browsers) are
    /// let in; others are refused with 403.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", default_value = "")]
    pub allowed_origins: AllowedOrigins,

    /// Reverse proxies whose `X-Forwarded-For` names the client for the per-address
    /// limits: comma-separated addresses and CIDR blocks (e.g. `10.0.0.0/8`). Empty: the
    /// connection's peer is the client, and the header is ignored (anyone can send it).
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// Delete rooms unused for this long (no member on any node, no message committed),
    /// with their messages (e.g. `30d`); their codes then answer not_found everywhere.
    /// `0` or `off`: keep every room forever.
    #[arg(long, env = "CHAT_ROOM_RETENTION", default_value = "off")]
    pub room_retention: RetentionArg,

    /// With --room-retention: how often each node marks its rooms with members used and
    /// sweeps unused rooms [default: a quarter of the retention, between 1s and 10min].
    #[arg(long, env = "CHAT_RETENTION_INTERVAL", value_parser = humantime::parse_duration)]
    pub retention_interval: Option<Duration>,

    /// With --room-retention: messages deleted per transaction (and rooms tombstoned per
    /// statement) by a sweep; small batches keep each transaction short.
    #[arg(long, env = "CHAT_RETENTION_BATCH", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_batch: u32,

    /// Log format: `text` for people, `json` for log collectors. Levels come from RUST_LOG.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `COUNT/WINDOW` rate such as `20/10s`, or `0` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRateArg(pub Option<SendRate>);

impl FromStr for SendRateArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(SendRateArg(None));
        }
        let (count, window) = text
            .split_once('/')
            .ok_or_else(|| format!("expected COUNT/WINDOW such as 20/10s, got {text:?}"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("bad count in {text:?}"))?;
        let window = humantime::parse_duration(window.trim())
            .map_err(|e| format!("bad window in {text:?}: {e}"))?;
        if count == 0 {
            return Ok(SendRateArg(None));
        }
        if window.is_zero() {
            return Err(format!("the window in {text:?} must be longer than zero"));
        }
        Ok(SendRateArg(Some(SendRate { count, window })))
    }
}

/// A retention such as `30d` (humantime), or `0` / `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionArg(pub Option<Duration>);

impl FromStr for RetentionArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(RetentionArg(None));
        }
        let retention = humantime::parse_duration(text)
            .map_err(|e| format!("expected a duration such as 30d, or off, got {text:?}: {e}"))?;
        Ok(RetentionArg((!retention.is_zero()).then_some(retention)))
    }
}

impl Config {
    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Config {
        Config::parse_from(["chat-node"])
    }

    /// The node id: configured, or the host name.
    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
    }

    /// The limits the actors enforce.
    pub fn limits(&self) -> Limits {
        Limits {
            content_max_chars: self.content_max,
            nickname_max_chars: self.nickname_max,
            frame_max_bytes: self.frame_max,
            frame_hard_cap_bytes: self.frame_hard_cap.max(self.frame_max),
            rooms_per_session: self.rooms_per_session,
            send_rate: self.send_rate.0,
            frame_rate: self.frame_rate.0,
            join_rate: self.join_rate.0,
            missed_max: self.missed_max,
            presence_list_max: self.presence_list_max,
            outbound_queue: self.outbound_queue.max(1),
            heartbeat_interval: self.heartbeat_interval,
            client_timeout: self.client_timeout,
            room_idle_timeout: self.room_idle_timeout,
            batch_max: self.batch_max.max(1),
            batch_delay: self.batch_delay,
        }
    }

    /// How room retention runs; `None` when it is off.
    pub fn retention(&self) -> Option<RetentionOptions> {
        self.room_retention.0.map(|retention| {
            RetentionOptions::new(retention, self.retention_interval, self.retention_batch)
        })
    }

    /// The abuse limits the actors enforce.
    pub fn guard_limits(&self) -> GuardLimits {
        GuardLimits {
            max_sessions: self.max_sessions,
            max_connections_per_address: self.max_connections_per_address,
            room_create_rate: self.room_create_rate.0,
            failed_lookup_rate: self.failed_lookup_rate.0,
            max_room_members: self.max_room_members,
            address_table_size: self.address_table_size as usize,
        }
    }

    /// Number of CPUs, the default for thread counts.
    fn cpus() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Busy threads of each kind by default: workers and room threads together match the
    /// CPUs. Fan-out hands every push from a room thread to a worker; with one of each per
    /// core the threads outnumber the cores twice and spend their time waking each other
    /// (on 2 cores: 239,000 pushes/s with one of each against 206,000–214,000 with two of
    /// each, BENCHMARKS.md).
    fn half_the_cpus() -> usize {
        Self::cpus().div_ceil(2)
    }

    /// HTTP workers to run.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(Self::half_the_cpus).max(1)
    }

    /// Room threads to run. The persistence thread counts as one of the rooms' half of the
    /// CPUs: on 2 cores, rooms beside persistence on one thread and sessions on the other
    /// ran the closed loop 1.05× and 100 × 100 fan-out 1.07× faster than with a room
    /// thread of their own, at 0.92–0.95× the CPU (a send crosses threads twice instead
    /// of four times; BENCHMARKS.md, "Room threads").
    pub fn room_threads(&self) -> usize {
        self.room_threads
            .unwrap_or_else(|| Self::half_the_cpus().saturating_sub(1))
    }

    /// The PostgreSQL URL, when one is set; a blank `DATABASE_URL` means the embedded store,
    /// as an unset one does.
    pub fn postgres_url(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
    }

    /// How long the PostgreSQL store waits, and how soon it notices a dead connection.
    pub fn postgres_timeouts(&self) -> PostgresTimeouts {
        PostgresTimeouts {
            call: self.db_timeout.max(MIN_TIMEOUT),
            tcp: self.db_tcp_timeout.max(MIN_TIMEOUT),
        }
    }

    /// How long `/api/ready` waits for its checks.
    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout.max(MIN_TIMEOUT)
    }

    /// How long the node waits on Redis.
    pub fn redis_timeout(&self) -> Duration {
        self.redis_timeout.max(MIN_TIMEOUT)
    }

    /// Persistence shards to run.
    pub fn persist_shards(&self) -> usize {
        // Fewer shards make larger batches, and PostgreSQL's cost is mostly per statement:
        // on 2 cores the closed loop ran 15,100/s with 1 or 2 shards against 8,800/s with 4
        // (BENCHMARKS.md). Two keep one slow commit from holding up every room.
        let default = if self.postgres_url().is_some() { 2 } else { 1 };
        self.persist_shards.unwrap_or(default).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_database_url_is_the_embedded_store() {
        let blank = Config::parse_from(["chat-node", "--database-url", "  "]);
        assert_eq!(blank.postgres_url(), None);
        assert_eq!(blank.persist_shards(), 1);
        let set = Config::parse_from(["chat-node", "--database-url", " postgres://db/chat "]);
        assert_eq!(set.postgres_url(), Some("postgres://db/chat"));
        assert_eq!(set.persist_shards(), 2);
    }

    #[test]
    fn send_rates_parse() {
        let rate = "20/10s".parse::<SendRateArg>().unwrap().0.unwrap();
        assert_eq!((rate.count, rate.window), (20, Duration::from_secs(10)));
        assert_eq!("0".parse::<SendRateArg>().unwrap(), SendRateArg(None));
        assert!("20".parse::<SendRateArg>().is_err());
        assert!("x/10s".parse::<SendRateArg>().is_err());
        assert!("5/0s".parse::<SendRateArg>().is_err());
    }

    #[test]
    fn retention_is_off_unless_set() {
        assert_eq!(Config::defaults().retention(), None);
        for off in ["0", "off", "OFF", "0s"] {
            let config = Config::parse_from(["chat-node", "--room-retention", off]);
            assert_eq!(config.retention(), None, "{off}");
        }
        let config = Config::parse_from(["chat-node", "--room-retention", "30d"]);
        let retention = config.retention().unwrap();
        assert_eq!(retention.retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(retention.interval, Duration::from_secs(600));
        assert_eq!(retention.batch, 500);
        let config = Config::parse_from([
            "chat-node",
            "--room-retention",
            "3s",
            "--retention-interval",
            "500ms",
            "--retention-batch",
            "5",
        ]);
        let retention = config.retention().unwrap();
        assert_eq!(retention.interval, Duration::from_millis(500));
        assert_eq!(retention.batch, 5);
        assert!("soon".parse::<RetentionArg>().is_err());
        assert!(Config::try_parse_from(["chat-node", "--retention-batch", "0"]).is_err());
    }

    #[test]
    fn defaults_match_the_protocol() {
        let limits = Config::defaults().limits();
        assert_eq!(limits.content_max_chars, 2000);
        assert_eq!(limits.nickname_max_chars, 32);
        assert_eq!(limits.frame_max_bytes, 16 * 1024);
        assert_eq!(limits.rooms_per_session, 16);
        assert_eq!(limits.missed_max, 500);
        assert_eq!(Config::defaults().bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn timeouts_default_to_seconds_and_are_never_zero() {
        let defaults = Config::defaults();
        assert_eq!(
            defaults.postgres_timeouts(),
            PostgresTimeouts {
                call: Duration::from_secs(5),
                tcp: Duration::from_secs(10),
            }
        );
        assert_eq!(defaults.redis_timeout(), Duration::from_secs(2));
        let zero = Config::parse_from([
            "chat-node",
            "--db-timeout",
            "0s",
            "--db-tcp-timeout",
            "0s",
            "--redis-timeout",
            "0s",
        ]);
        assert_eq!(zero.postgres_timeouts().call, MIN_TIMEOUT);
        assert_eq!(zero.postgres_timeouts().tcp, MIN_TIMEOUT);
        assert_eq!(zero.redis_timeout(), MIN_TIMEOUT);
    }
}
