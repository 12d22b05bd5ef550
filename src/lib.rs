//! The chat node: an actix-web server that speaks the chat protocol over WebSocket and
//! REST, backed by SQLite or PostgreSQL.
//!
//! # Layout
//!
//! - [`config`]: every setting, from flags and `CHAT_*` variables.
//! - [`store`]: the two stores (SQLite, PostgreSQL) behind the actors' `Store` trait.
//! - [`routes`]: the HTTP edge; [`error`] maps protocol errors to HTTP statuses.
//! - [`security`]: the headers that confine pages in browsers, and the WebSocket `Origin`
//!   policy; [`openapi`]: the REST API's OpenAPI document, generated from the handlers.
//! - The actors themselves (sessions, rooms, registry, persistence) live in `chat-actors`.
//!
//! [`start`] runs a node inside the current actix system and hands back a [`Node`], so
//! that `main.rs` and the integration tests start the server the same way.

pub mod auth;
pub mod client_address;
pub mod config;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod state;
pub mod store;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use chat_actors::cluster::BrokerOptions;
use chat_actors::{Hub, NodeActors, NodeOptions};

use crate::auth::ApiKeys;
use crate::config::Config;
use crate::state::AppState;
use crate::store::StoreError;
use chat_actors::address_limit::AddressLimiter;

/// A dead peer or one that stopped reading is dropped by the kernel after this long with
/// unacknowledged data, which bounds how long a stuck client can hold its connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is contradictory.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running node.
pub struct Node {
    addr: SocketAddr,
    actors: NodeActors,
    server: ServerHandle,
    shutdown_timeout: Duration,
    drain_window: Duration,
    running: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

/// Starts a node: opens and migrates the store, starts the actors, binds and serves.
/// Must run inside an actix system (`#[actix_web::main]`, or `System::new().block_on`).
pub async fn start(config: Config) -> Result<Node, StartError> {
    if config.redis_url.is_some() && config.postgres_url().is_none() {
        return Err(StartError::Config(
            "REDIS_URL joins several nodes, which must share one PostgreSQL store: set \
             DATABASE_URL too (the embedded SQLite store belongs to a single node)"
                .into(),
        ));
    }
    let keys = ApiKeys::load(config.api_keys.as_deref(), config.api_keys_file.as_deref())
        .map_err(|error| StartError::Config(error.to_string()))?;
    if keys.is_empty() {
        tracing::warn!(
            "no API key configured: POST /api/messages, GET /api/rooms and GET /metrics are \
             open to anyone who can reach this node (set CHAT_API_KEYS or CHAT_API_KEYS_FILE)"
        );
    } else {
        tracing::info!(keys = keys.len(), "API keys configured");
    }
    telemetry::init_metrics();
    let database_url = config.postgres_url().map(|url| match &config.db_ca_file {
        Some(ca_file) => store::tls::with_ca_file(url, ca_file),
        None => url.to_owned(),
    });
    let store = store::connect(
        database_url.as_deref(),
        &config.data_dir,
        config.db_pool_size,
        config.postgres_timeouts(),
    )
    .await?;
    let author_secret = store
        .secret("author_id")
        .await?
        .ok_or_else(|| StartError::Config("the store has no author_id secret".into()))?;
    let actors = NodeActors::start(NodeOptions {
        store,
        limits: config.limits(),
        node_id: config.node_id(),
        persistence_shards: config.persist_shards(),
        room_threads: config.room_threads(),
        broker: config.redis_url.as_ref().map(|url| BrokerOptions {
            url: url.clone(),
            cluster: config.redis_cluster,
            presence_ttl: config.presence_ttl,
            timeout: config.redis_timeout(),
            ca_file: config.redis_ca_file.clone(),
        }),
        guards: config.guard_limits(),
        author_secret,
        retention: config.retention(),
        drain_window: config.drain_window,
        stats_interval: config.stats_interval,
    })
    .map_err(|error| StartError::Config(format!("REDIS_URL: {error}")))?;
    if let Some(broker) = actors.hub().cluster.broker() {
        check_redis_access(broker).await?;
    }
    let state = web::Data::new(AppState {
        hub: Arc::clone(actors.hub()),
        rest_limiter: AddressLimiter::new(
            "rest_send",
            config.rest_send_rate.0,
            config.address_table_size as usize,
        ),
        keys,
        config: config.clone(),
        started: Instant::now(),
    });
    let static_dir = config.static_dir.clone();
    let send_buffer = config.socket_send_buffer;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(error::count_rejections))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(security::headers())
            .configure(|cfg| routes::configure(cfg, &static_dir))
    })
    .workers(config.workers())
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout.as_secs().max(1))
    .on_connect(move |connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            // Pushes are small writes that follow each other closely (an ack, then the
            // message itself); with Nagle's algorithm the second waits for the client's
            // delayed ACK, about 40 ms. Chat wants every frame on the wire at once.
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set");
            }
            let socket = socket2::SockRef::from(tcp);
            if let Err(error) = socket.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT)) {
                tracing::debug!(%error, "TCP_USER_TIMEOUT not set");
            }
            // A fixed send buffer bounds the kernel memory a client that stops reading can
            // hold; past it the session's own queue fills and it is closed as too slow.
            if send_buffer > 0 {
                if let Err(error) = socket.set_send_buffer_size(send_buffer) {
                    tracing::debug!(%error, "SO_SNDBUF not set");
                }
            }
        }
    })
    .bind(config.bind)
    .map_err(|source| StartError::Bind {
        addr: config.bind,
        source,
    })?;
    let addr = server.addrs().first().copied().unwrap_or(config.bind);
    let server = server.run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    tracing::info!(%addr, node = %actors.hub().node_id, store = if config.postgres_url().is_some() { "postgresql" } else { "sqlite" }, "chat node listening");
    Ok(Node {
        addr,
        actors,
        server: handle,
        shutdown_timeout: config.shutdown_timeout,
        drain_window: config.drain_window,
        running,
    })
}

impl Node {
    /// The address the node listens on (the real port when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The actors' shared state.
    pub fn hub(&self) -> &Arc<Hub> {
        self.actors.hub()
    }

    /// Runs until SIGTERM (an orchestrator: drain over the drain window) or SIGINT (a
    /// person at a terminal: drain at once), then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let window = match wait_for_signal().await {
            Signal::Terminate => self.drain_window,
            Signal::Interrupt => Duration::ZERO,
        };
        tracing::info!(?window, "signal received; draining");
        self.shutdown_over(window).await;
        Ok(())
    }

    /// Graceful stop, all sessions told at once; see [`Node::shutdown_over`].
    pub async fn shutdown(self) {
        self.shutdown_over(Duration::ZERO).await;
    }

    /// Graceful stop: readiness turns 503 and new sessions are refused; sessions are told
    /// to reconnect elsewhere (a `reconnect` push, then close 1012), spread evenly over
    /// `window` so that they do not all land on the other nodes at once; the server stops
    /// accepting; every message already handed to persistence is committed (and acked where
    /// the sender is still connected); queued broker events are written and this node's
    /// heartbeat removed.
    pub async fn shutdown_over(self, window: Duration) {
        self.actors.hub().start_draining();
        self.actors.drain_sessions(window).await;
        self.server.stop(true).await;
        self.actors.flush(self.shutdown_timeout).await;
        self.actors.leave_cluster(self.shutdown_timeout).await;
        let _ = self.running.await;
        self.actors.stop_threads();
        tracing::info!("chat node stopped");
    }
}

/// Which signal asked the node to stop.
enum Signal {
    Terminate,
    Interrupt,
}

async fn wait_for_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => Signal::Terminate,
                    _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                Signal::Interrupt
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

/// A Redis that answers but will not have this node (a wrong password or ACL user, a
/// certificate that cannot be verified) is a configuration error, and the node stops at
/// start saying so. A Redis that does not answer is an outage: the node starts anyway and
/// keeps trying, as it does whenever Redis goes away.
async fn check_redis_access(broker: &chat_actors::cluster::Broker) -> Result<(), StartError> {
    let error = match tokio::time::timeout(broker.timeout, broker.check_access()).await {
        Ok(Err(error)) => error,
        Ok(Ok(())) | Err(_) => return Ok(()),
    };
    let text = error.to_string();
    let refused = if error.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        "Redis refused the credentials in REDIS_URL (password or ACL user)"
    } else if text.contains("certificate") || text.contains("InvalidCertificate") {
        "Redis's TLS certificate could not be verified (set --redis-ca-file to the CA that signed it)"
    } else {
        tracing::warn!(%error, "Redis does not answer yet; starting anyway and retrying");
        return Ok(());
    };
    Err(StartError::Config(format!("REDIS_URL: {refused}: {text}")))
}
