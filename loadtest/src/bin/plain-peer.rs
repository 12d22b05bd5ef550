//! `plain-peer`: the chat's events written the plain way, as a reference to measure the node
//! against.
//!
//! Issue 15 asks that the node's figures be quoted beside a plain implementation of the same
//! events measured in the same sitting. This is that implementation: what a Rust team would
//! likely write without actors or group commit. One tokio task per WebSocket (plus its
//! writer), rooms in a `DashMap` of member channels, and the proof of concept's semantics
//! for a send: **one `INSERT` per message** through a bb8 pool of tokio-postgres
//! connections, then the push to every member of the room (the sender included), then the
//! ack. It speaks the subset of the node's protocol that `chat-loadtest`'s `burst`, `fanout`
//! and `connections` scenarios use (`POST /api/rooms`, `GET /api/health`, `/ws` with
//! `room:join` and `chat:send`; acks and pushes in the node's shapes, without the fields the
//! load test does not read), so `chat-loadtest compare --a <peer> --b <node>` runs
//! unchanged against both.
//!
//! It deliberately lacks what the node adds: history, `clientId` deduplication, ordering
//! across senders (two concurrent sends of one room may be pushed out of id order, which the
//! load test counts as "out of order"), backpressure on slow members, limits. It is a
//! yardstick, not a product.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bb8_postgres::PostgresConnectionManager;
use clap::Parser;
use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;

/// The characters of a room code, as the node draws them (no 0/O, 1/I/L).
const CODE_ALPHABET: [char; 31] = [
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V',
    'W', 'X', 'Y', 'Z', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// How often each WebSocket is pinged, as PROTOCOL.md has the node do.
const PING_INTERVAL: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS peer_rooms (
        code text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS peer_messages (
        id bigserial PRIMARY KEY,
        room_code text NOT NULL REFERENCES peer_rooms (code),
        sender text NOT NULL,
        content text NOT NULL,
        client_id text,
        created_at timestamptz NOT NULL DEFAULT now()
    );";

const INSERT_MESSAGE: &str = "
    INSERT INTO peer_messages (room_code, sender, content, client_id) VALUES ($1, $2, $3, $4)
    RETURNING id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// Flags of the peer.
#[derive(Parser)]
#[command(
    about = "A plain tokio + axum chat server with the proof of concept's semantics \
                   (insert, push, ack), to measure the node against"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18890")]
    bind: SocketAddr,
    /// PostgreSQL URL (the peer creates its two tables if missing).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// PostgreSQL connections in the pool.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
}

type Pool = bb8::Pool<PostgresConnectionManager<NoTls>>;

/// Where a member's frames go: its connection's writer task.
type Outbox = mpsc::UnboundedSender<Utf8Bytes>;

/// What every connection shares.
struct Peer {
    pool: Pool,
    /// Room code → (member id → outbox).
    rooms: DashMap<String, DashMap<u64, Outbox>>,
    next_member: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let manager = PostgresConnectionManager::new_from_stringlike(&args.database_url, NoTls)?;
    let pool = bb8::Pool::builder()
        .max_size(args.pool_size.max(1))
        .test_on_check_out(false)
        .build(manager)
        .await?;
    pool.get().await?.batch_execute(SCHEMA).await?;
    let peer = Arc::new(Peer {
        pool,
        rooms: DashMap::new(),
        next_member: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/api/health", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "" }))
        .route("/api/rooms", post(create_room))
        .route("/ws", get(upgrade))
        .with_state(peer);
    // Without TCP_NODELAY an ack written right after a push waits out the client's delayed
    // ACK (40 ms): every chat server sets it.
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    eprintln!("plain-peer listening on {}", args.bind);
    axum::serve(listener, app).await?;
    Ok(())
}

/// `POST /api/rooms`: a fresh code, stored, answered as the node answers (201, `{"room"}`).
async fn create_room(State(peer): State<Arc<Peer>>) -> impl IntoResponse {
    let code = nanoid::nanoid!(6, &CODE_ALPHABET);
    let stored = match peer.pool.get().await {
        Ok(conn) => conn
            .execute("INSERT INTO peer_rooms (code) VALUES ($1)", &[&code])
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(_) => {
            peer.rooms.insert(code.clone(), DashMap::new());
            (StatusCode::CREATED, Json(json!({"room": {"code": code}})))
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"code": "unavailable", "message": e}})),
        ),
    }
}

async fn upgrade(State(peer): State<Arc<Peer>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    // tungstenite's 128 KiB default read buffer is zero-filled on the first read, which
    // would make the peer's memory per session (≈ 140 KiB) a measure of that default alone.
    ws.read_buffer_size(4096)
        .on_upgrade(move |socket| session(socket, peer))
}

/// One WebSocket: a reader loop here, a writer task fed by the member's outbox.
async fn session(socket: WebSocket, peer: Arc<Peer>) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::unbounded_channel::<Utf8Bytes>();
    let writer = tokio::spawn(async move {
        let mut pings = tokio::time::interval(PING_INTERVAL);
        pings.tick().await;
        loop {
            let frame = tokio::select! {
                next = queued.recv() => match next {
                    Some(text) => Message::Text(text),
                    None => break,
                },
                _ = pings.tick() => Message::Ping(Default::default()),
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    let member = peer.next_member.fetch_add(1, Ordering::Relaxed);
    let mut conn = Connection {
        peer: &peer,
        member,
        outbox: &outbox,
        nickname: String::new(),
        joined: Vec::new(),
    };
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => conn.handle(text.as_str()).await,
            Message::Close(_) => break,
            _ => {}
        }
    }
    for code in &conn.joined {
        if let Some(members) = peer.rooms.get(code) {
            members.remove(&member);
        }
    }
    drop(outbox);
    writer.abort();
}

/// A connection's state while its frames are handled one after the other.
struct Connection<'a> {
    peer: &'a Peer,
    member: u64,
    outbox: &'a Outbox,
    nickname: String,
    joined: Vec<String>,
}

impl Connection<'_> {
    async fn handle(&mut self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return self.refuse(Value::Null, "bad_request", "not JSON");
        };
        let reference = frame.get("ref").cloned().unwrap_or(Value::Null);
        let data = frame.get("data");
        let text_of = |key: &str| {
            data.and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match frame.get("event").and_then(Value::as_str) {
            Some("room:join") => {
                let (Some(code), Some(nickname)) = (text_of("code"), text_of("nickname")) else {
                    return self.refuse(reference, "bad_request", "code and nickname");
                };
                let code = code.to_uppercase();
                let Some(members) = self.peer.rooms.get(&code) else {
                    return self.refuse(reference, "not_found", "no such room");
                };
                members.insert(self.member, self.outbox.clone());
                drop(members);
                self.nickname = nickname;
                self.joined.push(code.clone());
                self.ack(
                    reference,
                    json!({"room": {"code": code}, "members": [], "missed": [], "hasMore": false}),
                );
            }
            Some("chat:send") => {
                let (Some(code), Some(content)) = (text_of("roomCode"), text_of("content")) else {
                    return self.refuse(reference, "bad_request", "roomCode and content");
                };
                let code = code.to_uppercase();
                if !self.joined.contains(&code) {
                    return self.refuse(reference, "forbidden", "join the room first");
                }
                let client_id = text_of("clientId");
                match self.insert(&code, &content, client_id.as_deref()).await {
                    Ok((id, created_at)) => {
                        // Serialized once, for the push and the ack alike.
                        let message = json!({
                            "id": id, "roomCode": code, "sender": self.nickname,
                            "content": content, "createdAt": created_at, "clientId": client_id,
                        })
                        .to_string();
                        let push: Utf8Bytes =
                            format!(r#"{{"event":"chat:message","data":{message}}}"#).into();
                        if let Some(members) = self.peer.rooms.get(&code) {
                            for member in members.iter() {
                                let _ = member.value().send(push.clone());
                            }
                        }
                        let ack = format!(
                            r#"{{"event":"ack","ref":{reference},"ok":true,"data":{{"message":{message}}}}}"#
                        );
                        let _ = self.outbox.send(ack.into());
                    }
                    Err(e) => self.refuse(reference, "unavailable", &e),
                }
            }
            _ => self.refuse(reference, "bad_request", "unknown event"),
        }
    }

    /// One `INSERT` per message, its own transaction (autocommit), one round trip.
    async fn insert(
        &self,
        code: &str,
        content: &str,
        client_id: Option<&str>,
    ) -> Result<(i64, String), String> {
        let conn = self.peer.pool.get().await.map_err(|e| e.to_string())?;
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
            (&code, Type::TEXT),
            (&self.nickname, Type::TEXT),
            (&content, Type::TEXT),
            (&client_id, Type::TEXT),
        ];
        let rows = conn
            .query_typed(INSERT_MESSAGE, &params)
            .await
            .map_err(|e| e.to_string())?;
        let row = rows.first().ok_or("insert returned no row")?;
        Ok((row.get(0), row.get(1)))
    }

    fn ack(&self, reference: Value, data: Value) {
        let frame = json!({"event": "ack", "ref": reference, "ok": true, "data": data});
        let _ = self.outbox.send(frame.to_string().into());
    }

    fn refuse(&self, reference: Value, code: &str, message: &str) {
        let frame = json!({"event": "ack", "ref": reference, "ok": false,
                           "error": {"code": code, "message": message}});
        let _ = self.outbox.send(frame.to_string().into());
    }
}
