//! The protocol client: opens a WebSocket to a node (optionally from a chosen source
//! address), joins rooms, builds `chat:send` frames (and, for the mixed workload, replies,
//! `chat:edit` and `reaction:add`/`reaction:remove`) and classifies what the node pushes.
//! It speaks only the parts of PROTOCOL.md the scenarios need, and parses frames with
//! borrowed fields because at fan-out rates the load generator's own parsing competes with
//! the node for the same two cores.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::error::LoadError;
use crate::target::NodeUrl;

/// One client session's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long a connect or join may take before it counts as failed; bounded so that a
/// stuck node cannot hang the setup phase.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The `ref` of the join frame; sends use refs above it.
pub const JOIN_REF: u64 = 1;

/// Opens a WebSocket to `node`, binding the client socket to `source` first when given
/// (each loopback source address has its own ephemeral port range). Buffers are kept small
/// because a connections run holds tens of thousands of sockets in this one process.
pub async fn connect(node: &NodeUrl, source: Option<IpAddr>) -> Result<Ws, LoadError> {
    let socket = match node.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(node.addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(node.ws.as_str(), stream, Some(config)).await?;
    Ok(ws)
}

/// Joins `code` as `nickname` and waits for the join's ack, skipping pushes that arrive
/// first (presence of earlier joiners). With `author_key` the session's messages carry an
/// `authorId`, which is what makes them editable by it.
pub async fn join(
    ws: &mut Ws,
    code: &str,
    nickname: &str,
    author_key: Option<&str>,
) -> Result<(), LoadError> {
    ws.send(WsMessage::text(join_frame(code, nickname, author_key)))
        .await?;
    loop {
        let Some(msg) = ws.next().await else {
            return Err(LoadError::Ws("closed before the join ack".into()));
        };
        let WsMessage::Text(text) = msg? else {
            continue;
        };
        if let ServerEvent::Ack { reference, result } = parse_event(&text)? {
            if reference == Some(JOIN_REF) {
                return result
                    .map(|_| ())
                    .map_err(|err| LoadError::Protocol(format!("join {code}: {err}")));
            }
        }
    }
}

/// The `room:join` frame; without `author_key` it is the frame the load test always sent.
pub fn join_frame(code: &str, nickname: &str, author_key: Option<&str>) -> String {
    let mut data = serde_json::json!({"code": code, "nickname": nickname});
    if let Some(key) = author_key {
        data["authorKey"] = key.into();
    }
    serde_json::json!({"event": "room:join", "ref": JOIN_REF, "data": data}).to_string()
}

/// Connects and joins within [`SETUP_TIMEOUT`].
pub async fn connect_and_join(
    node: &NodeUrl,
    source: Option<IpAddr>,
    code: &str,
    nickname: &str,
    author_key: Option<&str>,
) -> Result<Ws, LoadError> {
    let setup = async {
        let mut ws = connect(node, source).await?;
        join(&mut ws, code, nickname, author_key).await?;
        Ok(ws)
    };
    tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .map_err(|_| LoadError::Ws(format!("connect+join to {} timed out", node.ws)))?
}

/// Wall-clock nanoseconds since the Unix epoch: the send timestamp embedded in content, so
/// every receiving member (on any connection, via any node) can compute send→receive
/// latency without a shared map. Sender and receivers share this machine's clock.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Builds a `chat:send` frame whose content starts with `t=<unix_nanos>;` followed by the
/// client id and `pad` filler characters (to model message size).
pub fn send_frame(reference: u64, room_code: &str, client_id: &str, pad: usize) -> String {
    let content = format!("t={};{};{}", unix_nanos(), client_id, "x".repeat(pad));
    serde_json::json!({
        "event": "chat:send",
        "ref": reference,
        "data": {"roomCode": room_code, "content": content, "clientId": client_id},
    })
    .to_string()
}

/// Builds a `chat:send` frame like [`send_frame`] that replies to message `reply_to`.
pub fn reply_frame(
    reference: u64,
    room_code: &str,
    client_id: &str,
    pad: usize,
    reply_to: i64,
) -> String {
    let content = format!("t={};{};{}", unix_nanos(), client_id, "x".repeat(pad));
    serde_json::json!({
        "event": "chat:send",
        "ref": reference,
        "data": {"roomCode": room_code, "content": content, "clientId": client_id, "replyTo": reply_to},
    })
    .to_string()
}

/// Builds a `chat:edit` frame of message `id`; returns the frame and the new content
/// (`t=<unix_nanos>;<tag>;` and `pad` filler characters), which the history check compares
/// with what the store ends up holding. The timestamp makes every edit differ from the
/// content before it, so no edit is a no-op.
pub fn edit_frame(
    reference: u64,
    room_code: &str,
    id: i64,
    tag: &str,
    pad: usize,
) -> (String, String) {
    let content = format!("t={};{};{}", unix_nanos(), tag, "y".repeat(pad));
    let frame = serde_json::json!({
        "event": "chat:edit",
        "ref": reference,
        "data": {"roomCode": room_code, "id": id, "content": content},
    })
    .to_string();
    (frame, content)
}

/// Builds a `reaction:add` (`add`) or `reaction:remove` frame for `emoji` on message `id`.
pub fn reaction_frame(reference: u64, room_code: &str, id: i64, emoji: &str, add: bool) -> String {
    let event = if add {
        "reaction:add"
    } else {
        "reaction:remove"
    };
    serde_json::json!({
        "event": event,
        "ref": reference,
        "data": {"roomCode": room_code, "id": id, "emoji": emoji},
    })
    .to_string()
}

/// Reads the send timestamp back out of a message content built by [`send_frame`].
pub fn sent_at(content: &str) -> Option<u64> {
    content.strip_prefix("t=")?.split(';').next()?.parse().ok()
}

/// What the scenarios need to know about a committed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// The deployment-wide message id (loss accounting compares these).
    pub id: i64,
    /// The send timestamp from the content, when it was sent by this load test.
    pub sent_at_nanos: Option<u64>,
    /// The position of this state of the message in its room's change stream (`seq`,
    /// Version 2); `None` from a node that does not send it.
    pub seq: Option<u64>,
    /// The message it replies to (`replyTo`), if any.
    pub reply_to: Option<i64>,
}

/// A server frame, reduced to what the load test acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The answer to a frame with a `ref`: the committed message for a send, or the error code.
    Ack {
        /// The echoed ref (the load test only sends integer refs).
        reference: Option<u64>,
        /// `Ok(Some(..))` for an acked send, `Ok(None)` for other acks, `Err(code)` for refusals.
        result: Result<Option<MessageInfo>, String>,
    },
    /// A `chat:message` push.
    Message(MessageInfo),
    /// A `chat:update` push: the whole current state of a changed message.
    Update(MessageInfo),
    /// An `error` push (a frame without ref failed); carries the error code.
    Error(String),
    /// Presence, typing, reconnect and anything newer: ignored by the scenarios.
    Other,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(rename = "ref", default)]
    reference: Option<u64>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

#[derive(Deserialize)]
struct Msg<'a> {
    id: i64,
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(rename = "replyTo", default)]
    reply_to: Option<i64>,
}

#[derive(Deserialize)]
struct AckData<'a> {
    #[serde(borrow, default)]
    message: Option<Msg<'a>>,
}

impl Msg<'_> {
    fn info(&self) -> MessageInfo {
        MessageInfo {
            id: self.id,
            sent_at_nanos: sent_at(&self.content),
            seq: self.seq,
            reply_to: self.reply_to,
        }
    }
}

/// Classifies one text frame from the node.
pub fn parse_event(text: &str) -> Result<ServerEvent, LoadError> {
    let bad = |e: serde_json::Error| LoadError::Protocol(format!("unparsable frame: {e}"));
    let frame: Frame<'_> = serde_json::from_str(text).map_err(bad)?;
    match frame.event.as_ref() {
        "ack" => {
            let result = if frame.ok == Some(true) {
                match frame.data {
                    Some(raw) => {
                        let data: AckData<'_> = serde_json::from_str(raw.get()).map_err(bad)?;
                        Ok(data.message.map(|m| m.info()))
                    }
                    None => Ok(None),
                }
            } else {
                Err(frame
                    .error
                    .map(|e| e.code)
                    .unwrap_or_else(|| "unknown".into()))
            };
            Ok(ServerEvent::Ack {
                reference: frame.reference,
                result,
            })
        }
        "chat:message" | "chat:update" => {
            let raw = frame
                .data
                .ok_or_else(|| LoadError::Protocol(format!("{} without data", frame.event)))?;
            let info = serde_json::from_str::<Msg<'_>>(raw.get())
                .map_err(bad)?
                .info();
            Ok(if frame.event == "chat:message" {
                ServerEvent::Message(info)
            } else {
                ServerEvent::Update(info)
            })
        }
        "error" => {
            let code = frame
                .data
                .and_then(|raw| serde_json::from_str::<ErrorBody>(raw.get()).ok())
                .map(|e| e.code)
                .unwrap_or_else(|| "unknown".into());
            Ok(ServerEvent::Error(code))
        }
        _ => Ok(ServerEvent::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_through_content() {
        let frame = send_frame(5, "ABCDEF", "0-1-2", 3);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        let content = v["data"]["content"].as_str().unwrap();
        let t = sent_at(content).unwrap();
        assert!(t > 1_600_000_000_000_000_000);
        assert!(content.ends_with(";0-1-2;xxx"));
        assert_eq!(v["ref"], 5);
        assert_eq!(sent_at("hello"), None);
    }

    #[test]
    fn builds_the_mixed_workload_frames() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let join = v(&join_frame("ABCDEF", "m0-1", Some("loadtest-author-key-0")));
        assert_eq!(join["data"]["authorKey"], "loadtest-author-key-0");
        let plain = v(&join_frame("ABCDEF", "m0-1", None));
        assert!(plain["data"].get("authorKey").is_none());
        assert_eq!(plain["event"], "room:join");

        let reply = v(&reply_frame(6, "ABCDEF", "0-1-6", 2, 41));
        assert_eq!(reply["event"], "chat:send");
        assert_eq!(reply["data"]["replyTo"], 41);
        assert!(sent_at(reply["data"]["content"].as_str().unwrap()).is_some());

        let (frame, content) = edit_frame(7, "ABCDEF", 41, "e0-1-7", 3);
        let edit = v(&frame);
        assert_eq!(edit["event"], "chat:edit");
        assert_eq!(edit["data"]["id"], 41);
        assert_eq!(edit["data"]["content"], content.as_str());
        assert!(content.ends_with(";e0-1-7;yyy") && sent_at(&content).is_some());

        let add = v(&reaction_frame(8, "ABCDEF", 41, "👍", true));
        assert_eq!(add["event"], "reaction:add");
        assert_eq!(add["data"]["emoji"], "👍");
        assert_eq!(add["data"]["id"], 41);
        let remove = v(&reaction_frame(9, "ABCDEF", 41, "👍", false));
        assert_eq!(remove["event"], "reaction:remove");
        assert_eq!(remove["ref"], 9);
    }

    #[test]
    fn classifies_frames() {
        let ack = r#"{"event":"ack","ref":3,"ok":true,"data":{"message":{"id":42,"roomId":1,"roomCode":"ABCDEF","sender":"a","content":"t=123;x;","createdAt":"2026-01-01T00:00:00.000Z","clientId":"x"}}}"#;
        assert_eq!(
            parse_event(ack).unwrap(),
            ServerEvent::Ack {
                reference: Some(3),
                result: Ok(Some(MessageInfo {
                    id: 42,
                    sent_at_nanos: Some(123),
                    seq: None,
                    reply_to: None,
                })),
            }
        );
        let refused = r#"{"event":"ack","ref":4,"ok":false,"error":{"code":"rate_limited","message":"slow down"}}"#;
        assert_eq!(
            parse_event(refused).unwrap(),
            ServerEvent::Ack {
                reference: Some(4),
                result: Err("rate_limited".into())
            }
        );
        let push = r#"{"event":"chat:message","data":{"id":7,"roomId":1,"roomCode":"ABCDEF","sender":"a","content":"plain \"quoted\"","createdAt":"x","clientId":null}}"#;
        assert_eq!(
            parse_event(push).unwrap(),
            ServerEvent::Message(MessageInfo {
                id: 7,
                sent_at_nanos: None,
                seq: None,
                reply_to: None,
            })
        );
        // Version 2 fields: seq and replyTo on messages, chat:update pushes.
        let reply = r#"{"event":"chat:message","data":{"id":8,"content":"t=9;a;","replyTo":7,"seq":3,"reactions":[],"editedAt":null,"deleted":false}}"#;
        assert_eq!(
            parse_event(reply).unwrap(),
            ServerEvent::Message(MessageInfo {
                id: 8,
                sent_at_nanos: Some(9),
                seq: Some(3),
                reply_to: Some(7),
            })
        );
        let update = r#"{"event":"chat:update","data":{"id":8,"content":"t=9;a;","replyTo":null,"seq":4,"reactions":[{"emoji":"👍","count":1}],"editedAt":null,"deleted":false}}"#;
        assert_eq!(
            parse_event(update).unwrap(),
            ServerEvent::Update(MessageInfo {
                id: 8,
                sent_at_nanos: Some(9),
                seq: Some(4),
                reply_to: None,
            })
        );
        assert!(parse_event(r#"{"event":"chat:update"}"#).is_err());
        let presence = r#"{"event":"presence","data":{"roomCode":"ABCDEF","count":2}}"#;
        assert_eq!(parse_event(presence).unwrap(), ServerEvent::Other);
        assert!(parse_event("not json").is_err());
    }
}
