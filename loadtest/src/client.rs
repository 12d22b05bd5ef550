//! The protocol client: opens a WebSocket to a node (optionally from a chosen source
//! address), joins rooms, builds `chat:send` frames and classifies what the node pushes.
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
/// first (presence of earlier joiners).
pub async fn join(ws: &mut Ws, code: &str, nickname: &str) -> Result<(), LoadError> {
    let frame = serde_json::json!({
        "event": "room:join",
        "ref": JOIN_REF,
        "data": {"code": code, "nickname": nickname},
    });
    ws.send(WsMessage::text(frame.to_string())).await?;
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

/// Connects and joins within [`SETUP_TIMEOUT`].
pub async fn connect_and_join(
    node: &NodeUrl,
    source: Option<IpAddr>,
    code: &str,
    nickname: &str,
) -> Result<Ws, LoadError> {
    let setup = async {
        let mut ws = connect(node, source).await?;
        join(&mut ws, code, nickname).await?;
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
        "chat:message" => {
            let raw = frame
                .data
                .ok_or_else(|| LoadError::Protocol("chat:message without data".into()))?;
            let msg: Msg<'_> = serde_json::from_str(raw.get()).map_err(bad)?;
            Ok(ServerEvent::Message(msg.info()))
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
    fn classifies_frames() {
        let ack = r#"{"event":"ack","ref":3,"ok":true,"data":{"message":{"id":42,"roomId":1,"roomCode":"ABCDEF","sender":"a","content":"t=123;x;","createdAt":"2026-01-01T00:00:00.000Z","clientId":"x"}}}"#;
        assert_eq!(
            parse_event(ack).unwrap(),
            ServerEvent::Ack {
                reference: Some(3),
                result: Ok(Some(MessageInfo {
                    id: 42,
                    sent_at_nanos: Some(123)
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
                sent_at_nanos: None
            })
        );
        let presence = r#"{"event":"presence","data":{"roomCode":"ABCDEF","count":2}}"#;
        assert_eq!(parse_event(presence).unwrap(), ServerEvent::Other);
        assert!(parse_event("not json").is_err());
    }
}
