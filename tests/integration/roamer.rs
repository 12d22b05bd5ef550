//! A client that behaves as the wire contract asks a real one to when things fail.
//!
//! It sends with client ids and keeps resending a message (same clientId) until it is
//! acked; when its node closes the connection or stops answering, it moves to the next
//! node and resumes with `sinceId` = the highest id it has seen. It keeps every message it
//! receives, pushed or recovered, once each and in order, so that a test can compare what
//! a member saw with what the store holds.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::{Api, Client, Frame};

/// How long it waits for an ack before it takes its node for gone. Longer than the slowest
/// error answer of a node whose store is unreachable (pool checkout, then the call, each
/// bounded by `--db-timeout`), so that a node that answers is never left.
pub const ACK_PATIENCE: Duration = Duration::from_secs(5);
/// How long opening a WebSocket may take.
const CONNECT_PATIENCE: Duration = Duration::from_secs(2);
/// A member that has heard nothing for this long checks that its node still answers.
const SILENCE: Duration = Duration::from_secs(3);
/// Longest it may go without any node taking it in.
const HOMELESS_MAX: Duration = Duration::from_secs(45);

/// What went wrong on the way, for the figures and the assertions.
#[derive(Debug, Default, Clone)]
pub struct Trouble {
    /// `chat:send` frames written (first tries and resends).
    pub sends: usize,
    /// Error acks of sends, by code.
    pub refused: BTreeMap<String, usize>,
    /// Sends whose ack never came: the node was given up.
    pub unanswered: usize,
    /// Moves to another connection (same node or another).
    pub moves: usize,
    /// Messages received again at or below the highest id seen (ignored).
    pub redelivered: usize,
}

impl Trouble {
    /// Adds another client's trouble to this one.
    pub fn add(&mut self, other: &Trouble) {
        self.sends += other.sends;
        for (code, count) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += count;
        }
        self.unanswered += other.unanswered;
        self.moves += other.moves;
        self.redelivered += other.redelivered;
    }

    /// Error acks of every code.
    pub fn refusals(&self) -> usize {
        self.refused.values().sum()
    }
}

/// One member of one room, moving between nodes as they fail.
pub struct Roamer {
    nodes: Vec<Api>,
    at: usize,
    code: String,
    nickname: String,
    client: Option<Client>,
    highest: i64,
    /// Every message of the room it received, pushed or recovered, in order, once each.
    pub received: Vec<Value>,
    /// When each message arrived by push (not by recovery).
    pub pushed_at: HashMap<i64, Instant>,
    /// Its acked messages, by clientId, with when the ack came.
    pub acked: HashMap<String, (Value, Instant)>,
    /// What went wrong.
    pub trouble: Trouble,
    /// The first events of its life (joins and receptions), to explain a failure.
    pub log: Vec<String>,
}

impl Roamer {
    /// A member of `code` called `nickname`, on `nodes[at]` first; it joins with
    /// `sinceId = 0`, so it receives the room's whole history.
    pub async fn join(nodes: Vec<Api>, at: usize, code: &str, nickname: &str) -> Roamer {
        let mut roamer = Roamer {
            nodes,
            at,
            code: code.to_owned(),
            nickname: nickname.to_owned(),
            client: None,
            highest: 0,
            received: Vec::new(),
            pushed_at: HashMap::new(),
            acked: HashMap::new(),
            trouble: Trouble::default(),
            log: Vec::new(),
        };
        roamer.settle(false).await;
        roamer
    }

    /// Its nickname.
    pub fn nickname(&self) -> &str {
        &self.nickname
    }

    /// The node it is on now.
    pub fn node(&self) -> usize {
        self.at % self.nodes.len()
    }

    /// Ids of what it received, in order.
    pub fn received_ids(&self) -> Vec<i64> {
        self.received
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    }

    /// Keeps a message if it is new to this member.
    fn receive(&mut self, message: &Value, pushed: bool) {
        let id = message["id"].as_i64().unwrap();
        self.note(format!("{} {id}", if pushed { "push" } else { "missed" }));
        if id <= self.highest {
            self.trouble.redelivered += 1;
            return;
        }
        self.highest = id;
        self.received.push(message.clone());
        if pushed {
            self.pushed_at.insert(id, Instant::now());
        }
    }

    /// Records an event while the log is short.
    fn note(&mut self, event: String) {
        if self.log.len() < 40 {
            self.log.push(event);
        }
    }

    fn on_frame(&mut self, frame: &Value) {
        if frame["event"] == "chat:message" {
            self.receive(&frame["data"], true);
        }
    }

    /// Finds a node that takes it in, from the current one (or, moving on, the next), and
    /// joins there with `sinceId`.
    async fn settle(&mut self, next: bool) {
        self.client = None;
        if next {
            self.trouble.moves += 1;
            self.at += 1;
        }
        let deadline = Instant::now() + HOMELESS_MAX;
        loop {
            let api = self.nodes[self.node()].clone();
            if let Some(mut client) = api.try_connect(CONNECT_PATIENCE).await {
                if self.join_on(&mut client).await {
                    self.client = Some(client);
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: no node took the client in for {HOMELESS_MAX:?}",
                self.nickname
            );
            self.at += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Joins (or joins again) on `client` with `sinceId` = the highest id seen; whether
    /// the node acked it in time. Pushes that come before the ack are taken after the
    /// missed messages, which they can only repeat or follow.
    async fn join_on(&mut self, client: &mut Client) -> bool {
        let data = json!({"code": self.code, "nickname": self.nickname, "sinceId": self.highest});
        let Some(reference) = client.try_emit("room:join", data).await else {
            return false;
        };
        let deadline = Instant::now() + ACK_PATIENCE;
        let mut early = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match client.poll_next(left).await {
                Some(Frame::Json(frame))
                    if frame["event"] == "ack" && frame["ref"] == reference =>
                {
                    if frame["ok"] != true {
                        return false;
                    }
                    assert_eq!(frame["data"]["hasMore"], false, "missed fits in one join");
                    let node = self.node();
                    self.note(format!("joined node {node} since {}", self.highest));
                    for message in frame["data"]["missed"].as_array().unwrap() {
                        self.receive(message, false);
                    }
                    for frame in early {
                        self.on_frame(&frame);
                    }
                    return true;
                }
                Some(Frame::Json(frame)) => early.push(frame),
                Some(Frame::Closed(_)) | None => return false,
            }
        }
    }

    /// Sends a message with `client_id` until it is acked, moving between nodes as
    /// needed; returns the acked message.
    pub async fn send(&mut self, client_id: &str, content: &str) -> Value {
        let data = json!({"roomCode": self.code, "content": content, "clientId": client_id});
        loop {
            let Some(client) = self.client.as_mut() else {
                self.settle(true).await;
                continue;
            };
            let Some(reference) = client.try_emit("chat:send", data.clone()).await else {
                self.settle(true).await;
                continue;
            };
            self.trouble.sends += 1;
            let deadline = Instant::now() + ACK_PATIENCE;
            loop {
                let client = self.client.as_mut().expect("connected");
                let left = deadline.saturating_duration_since(Instant::now());
                match client.poll_next(left).await {
                    Some(Frame::Json(frame))
                        if frame["event"] == "ack" && frame["ref"] == reference =>
                    {
                        if frame["ok"] == true {
                            let message = frame["data"]["message"].clone();
                            self.acked
                                .insert(client_id.to_owned(), (message.clone(), Instant::now()));
                            return message;
                        }
                        let code = frame["error"]["code"].as_str().unwrap_or("?").to_owned();
                        *self.trouble.refused.entry(code).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                    Some(Frame::Json(frame)) => self.on_frame(&frame),
                    Some(Frame::Closed(_)) => {
                        self.settle(true).await;
                        break;
                    }
                    None => {
                        self.trouble.unanswered += 1;
                        self.settle(true).await;
                        break;
                    }
                }
            }
        }
    }

    /// Reads pushes for `wait`; after [`SILENCE`] with nothing, joins again with `sinceId`
    /// to check that the node still answers (and to recover what it missed), and moves
    /// to another node if it does not.
    pub async fn listen(&mut self, wait: Duration) {
        let end = Instant::now() + wait;
        let mut heard = Instant::now();
        while Instant::now() < end {
            let Some(client) = self.client.as_mut() else {
                self.settle(true).await;
                continue;
            };
            let left = end
                .min(heard + SILENCE)
                .saturating_duration_since(Instant::now());
            match client.poll_next(left).await {
                Some(Frame::Json(frame)) => {
                    heard = Instant::now();
                    self.on_frame(&frame);
                }
                Some(Frame::Closed(_)) => self.settle(true).await,
                None if heard.elapsed() >= SILENCE => {
                    heard = Instant::now();
                    let mut client = self.client.take().expect("connected");
                    if self.join_on(&mut client).await {
                        self.client = Some(client);
                    } else {
                        self.settle(true).await;
                    }
                }
                None => {}
            }
        }
    }

    /// Listens until it has received message `id`, or panics after `within`.
    pub async fn catch_up_to(&mut self, id: i64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.highest < id {
            assert!(
                Instant::now() < deadline,
                "{}: stuck at id {} of {id}",
                self.nickname,
                self.highest
            );
            self.listen(Duration::from_millis(200)).await;
        }
    }
}
