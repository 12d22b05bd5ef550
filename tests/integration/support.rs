//! Test helpers: start a real node (in this process, on a free port, or as a child
//! process), and speak the protocol to it over real WebSocket and HTTP connections.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chat_actors::Hub;
use std::time::Duration;

use chat_node::config::Config;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Which store a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The embedded store, in a fresh temp dir.
    Sqlite,
    /// The PostgreSQL server of `TEST_DATABASE_URL`.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend, or `None` (skip) when no server is configured. Fails when
    /// `CHAT_REQUIRE_POSTGRES=1`, so CI cannot pass without really testing PostgreSQL.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                assert!(
                    std::env::var("CHAT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "CHAT_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
                );
                eprintln!("TEST_DATABASE_URL not set: skipping the PostgreSQL variant");
                None
            }
        }
    }
}

impl Backend {
    /// This backend with a database of the test's own: for PostgreSQL a new database on the
    /// same server (an SQLite store is per [`NodeSpec`] already). For tests whose work
    /// reaches the whole store: a retention sweep deletes every unused room of its
    /// database, which must not be the one the other tests share.
    pub async fn own_database(&self) -> Backend {
        let Backend::Postgres(url) = self else {
            return self.clone();
        };
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(connection);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let name = format!("chat_test_{}_{}_{nanos}", std::process::id(), free_port());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a database");
        let (server, _) = url.rsplit_once('/').expect("a database in the URL");
        Backend::Postgres(format!("{server}/{name}"))
    }
}

/// Node settings for one test: the store plus any extra flags.
pub struct NodeSpec {
    /// Store to use.
    pub backend: Backend,
    /// The embedded store's directory (kept across restarts of the same spec).
    pub data_dir: PathBuf,
    /// Extra command-line flags.
    pub flags: Vec<String>,
    /// The network namespace the node runs in, and its address there.
    netns: Option<(String, Ipv4Addr)>,
    tmp: Arc<tempfile::TempDir>,
}

impl NodeSpec {
    /// A spec with a fresh data directory and the rate limit off unless a test sets it.
    pub fn new(backend: &Backend) -> NodeSpec {
        let tmp = tempfile::tempdir().expect("temp dir");
        NodeSpec {
            backend: backend.clone(),
            data_dir: tmp.path().join("data"),
            flags: Vec::new(),
            netns: None,
            tmp: Arc::new(tmp),
        }
    }

    /// Adds `--name value`.
    pub fn flag(mut self, name: &str, value: &str) -> NodeSpec {
        self.flags.push(format!("--{name}"));
        self.flags.push(value.to_owned());
        self
    }

    /// Runs the node (as a child process) inside network namespace `netns`, listening on
    /// `ip` there.
    pub fn in_netns(mut self, netns: &str, ip: Ipv4Addr) -> NodeSpec {
        self.netns = Some((netns.to_owned(), ip));
        self
    }

    fn args(&self, bind: &str) -> Vec<String> {
        let mut args = vec![
            "chat-node".to_owned(),
            "--bind".into(),
            bind.into(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--static-dir".into(),
            "/nonexistent".into(),
            "--workers".into(),
            "2".into(),
            "--room-threads".into(),
            "2".into(),
        ];
        if let Backend::Postgres(url) = &self.backend {
            args.push("--database-url".into());
            args.push(url.clone());
            args.push("--db-pool-size".into());
            args.push("4".into());
        }
        args.extend(self.flags.iter().cloned());
        args
    }

    /// Starts a node in this process.
    pub fn start(&self) -> TestNode {
        let mut node = TestNode::start(Config::parse_from(self.args("127.0.0.1:0")));
        node._tmp = Some(Arc::clone(&self.tmp));
        node
    }

    /// Starts the real binary as a child process on `port` (0 picks a free one; in a
    /// namespace of its own, 8080). A picked port can be taken by another test between the
    /// pick and the node's bind: the node then exits at once, and another port is tried.
    pub async fn spawn(&self, port: u16) -> ChildNode {
        let attempts = if port == 0 && self.netns.is_none() {
            3
        } else {
            1
        };
        for _ in 1..attempts {
            if let Some(node) = self.try_spawn(port).await {
                return node;
            }
        }
        match self.try_spawn(port).await {
            Some(node) => node,
            None => panic!("chat-node exited at start (see its output above)"),
        }
    }

    async fn try_spawn(&self, port: u16) -> Option<ChildNode> {
        let ip = self
            .netns
            .as_ref()
            .map_or(Ipv4Addr::LOCALHOST, |(_, ip)| *ip);
        let port = match (port, &self.netns) {
            (0, None) => free_port(),
            (0, Some(_)) => 8080,
            (port, _) => port,
        };
        let args = self.args(&format!("{ip}:{port}"));
        let binary = env!("CARGO_BIN_EXE_chat-node");
        // `ip netns exec` execs the node (no fork), so the child is the node itself.
        let mut command = match &self.netns {
            Some((netns, _)) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns, binary]);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .args(&args[1..])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn chat-node");
        let mut node = ChildNode {
            _tmp: Arc::clone(&self.tmp),
            child,
            addr: SocketAddr::new(IpAddr::V4(ip), port),
        };
        wait_healthy(node.addr, &mut node.child)
            .await
            .then_some(node)
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `n` distinct free loopback ports: each listener is held until all are picked, so the
/// kernel cannot hand the same port out twice (as `free_port` called twice in a row can).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Waits until the node at `addr` answers its health check; false if `child`, the node's
/// process, exited first.
async fn wait_healthy(addr: SocketAddr, child: &mut Child) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let url = format!("http://{addr}/api/health");
    while tokio::time::Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if let Ok(response) = reqwest::get(&url).await {
            if response.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node at {addr} did not become healthy");
}

/// A node running on its own actix system thread inside the test process.
pub struct TestNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The node's actors, to look inside.
    pub hub: Arc<Hub>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    _tmp: Option<Arc<tempfile::TempDir>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestNode {
    fn start(config: Config) -> TestNode {
        chat_node::telemetry::init_logging(chat_node::config::LogFormat::Text);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let node = match chat_node::start(config).await {
                    Ok(node) => node,
                    Err(error) => {
                        let _ = addr_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                let _ = addr_tx.send(Ok((node.addr(), Arc::clone(node.hub()))));
                let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let _ = stop_rx.recv();
                    let _ = done_tx.send(());
                });
                let _ = done_rx.await;
                node.shutdown().await;
            });
        });
        let (addr, hub) = addr_rx
            .recv()
            .expect("node thread answered")
            .unwrap_or_else(|e| panic!("node failed to start: {e}"));
        TestNode {
            addr,
            hub,
            stop: Some(stop_tx),
            _tmp: None,
            thread: Some(thread),
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// An HTTP/WS handle on the node.
    pub fn api(&self) -> Api {
        Api::new(self.addr)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The real binary, run as a child process.
pub struct ChildNode {
    child: Child,
    _tmp: Arc<tempfile::TempDir>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ChildNode {
    /// An HTTP/WS handle on the node.
    pub fn api(&self) -> Api {
        Api::new(self.addr)
    }

    /// Resident memory of the node process, in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the node process ever had, in KiB (VmHWM): a buffer that
    /// was freed again still shows here.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// SIGKILL: the crash that durability must survive.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for chat-node")
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HTTP and WebSocket access to one node.
#[derive(Clone)]
pub struct Api {
    /// The node's address.
    pub addr: SocketAddr,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer` on every request, when set.
    key: Option<String>,
}

impl Api {
    /// Access to whatever listens at `addr` (a node, or a load balancer).
    pub fn at(addr: SocketAddr) -> Api {
        Api::new(addr)
    }

    fn new(addr: SocketAddr) -> Api {
        Api {
            addr,
            http: reqwest::Client::new(),
            key: None,
        }
    }

    /// The same node, with `key` on every request.
    pub fn with_key(&self, key: &str) -> Api {
        Api {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// A request to `path`, with the key if this handle has one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("http://{}{path}", self.addr));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// `GET path`, returning status and JSON body (or the text as a JSON string).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET");
        read(response).await
    }

    /// `GET path` as text.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    /// `POST path` with a JSON body, as relayed by a proxy for `forwarded_for`.
    pub async fn post_forwarded(
        &self,
        path: &str,
        body: Value,
        forwarded_for: &str,
    ) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::POST, path)
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    /// `POST path` with a raw body.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    /// Creates a room over REST and returns its code.
    pub async fn create_room(&self) -> String {
        let (status, body) = self.post("/api/rooms", json!({})).await;
        assert_eq!(status, 201, "{body}");
        body["room"]["code"].as_str().expect("code").to_owned()
    }

    /// Sends a message over REST; returns status and body.
    pub async fn post_message(&self, code: &str, sender: &str, content: &str) -> (u16, Value) {
        self.post(
            "/api/messages",
            json!({"roomCode": code, "sender": sender, "content": content}),
        )
        .await
    }

    /// Opens a WebSocket session.
    pub async fn connect(&self) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr))
            .await
            .expect("websocket connect");
        Client::over(ws)
    }

    /// Opens a WebSocket session as relayed by a proxy for `forwarded_for`.
    pub async fn connect_forwarded(&self, forwarded_for: &str) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "x-forwarded-for",
            forwarded_for.parse().expect("a header value"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connect");
        Client::over(ws)
    }

    /// `GET path`, as relayed by a proxy for `forwarded_for`.
    pub async fn get_forwarded(&self, path: &str, forwarded_for: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .expect("GET");
        read(response).await
    }

    /// Opens a WebSocket session, or `None` if that fails or takes longer than `wait` (the
    /// node is down or cut off).
    pub async fn try_connect(&self, wait: Duration) -> Option<Client> {
        let url = format!("ws://{}/ws", self.addr);
        match tokio::time::timeout(wait, tokio_tungstenite::connect_async(url)).await {
            Ok(Ok((ws, _))) => Some(Client::over(ws)),
            _ => None,
        }
    }

    /// Opens a session and joins `code` as `nickname`.
    pub async fn joined(&self, code: &str, nickname: &str) -> Client {
        let mut client = self.connect().await;
        let ack = client.join(code, nickname, None).await;
        assert_eq!(ack["ok"], true, "join failed: {ack}");
        client
    }

    /// One page of history.
    pub async fn history(&self, code: &str, query: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/messages?roomCode={code}{query}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Every message of a room, oldest first, by paging back through history.
    pub async fn all_messages(&self, code: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before = String::new();
        loop {
            let page = self.history(code, &format!("&limit=200{before}")).await;
            all.extend(
                page["messages"]
                    .as_array()
                    .expect("messages")
                    .iter()
                    .cloned(),
            );
            match page["nextBeforeId"].as_i64() {
                Some(id) => before = format!("&beforeId={id}"),
                None => break,
            }
        }
        all.reverse();
        all
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A WebSocket client that speaks the protocol.
///
/// Frames read while looking for something else are kept, in order, for later calls: a
/// push that arrives before an ack is not lost to the test.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: i64,
    kept: VecDeque<Value>,
}

/// What the next frame turned out to be.
#[derive(Debug)]
pub enum Frame {
    /// A JSON text frame.
    Json(Value),
    /// The server closed the connection with this code.
    Closed(Option<CloseCode>),
}

impl Client {
    /// A client over an open WebSocket.
    fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            next_ref: 1,
            kept: VecDeque::new(),
        }
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(WsMessage::text(text.to_owned()))
            .await
            .expect("send frame");
    }

    /// Sends an event with a fresh ref; `None` when the connection is gone.
    pub async fn try_emit(&mut self, event: &str, data: Value) -> Option<i64> {
        let reference = self.next_ref;
        self.next_ref += 1;
        let frame = json!({"event": event, "ref": reference, "data": data});
        self.ws
            .send(WsMessage::text(frame.to_string()))
            .await
            .ok()
            .map(|_| reference)
    }

    /// Sends a raw frame of any kind.
    pub async fn send_frame(&mut self, frame: WsMessage) {
        self.ws.send(frame).await.expect("send frame");
    }

    /// Sends an event with a fresh integer ref and returns the ref.
    pub async fn emit(&mut self, event: &str, data: Value) -> i64 {
        let reference = self.next_ref;
        self.next_ref += 1;
        let frame = json!({"event": event, "ref": reference, "data": data});
        self.send_text(&frame.to_string()).await;
        reference
    }

    /// Sends an event and waits for its ack, keeping the pushes that arrive meanwhile.
    pub async fn request(&mut self, event: &str, data: Value) -> Value {
        let reference = self.emit(event, data).await;
        self.ack(reference).await
    }

    /// Waits for the ack of `reference`, keeping other frames for later.
    pub async fn ack(&mut self, reference: i64) -> Value {
        self.take(|frame| frame["event"] == "ack" && frame["ref"] == reference)
            .await
    }

    /// The first frame (kept or new) that `matches`; the others stay kept, in order.
    async fn take(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.kept.iter().position(&matches) {
            return self.kept.remove(index).expect("index in range");
        }
        loop {
            let frame = self.read_json().await;
            if matches(&frame) {
                return frame;
            }
            self.kept.push_back(frame);
        }
    }

    async fn read_json(&mut self) -> Value {
        match self.next_within(PATIENCE).await {
            Some(Frame::Json(value)) => value,
            Some(Frame::Closed(code)) => panic!("connection closed ({code:?}) while waiting"),
            None => panic!("no frame within {PATIENCE:?}; kept: {:?}", self.kept),
        }
    }

    /// Joins a room.
    pub async fn join(&mut self, code: &str, nickname: &str, since: Option<i64>) -> Value {
        let mut data = json!({"code": code, "nickname": nickname});
        if let Some(since) = since {
            data["sinceId"] = json!(since);
        }
        self.request("room:join", data).await
    }

    /// Sends a chat message and returns its ack.
    pub async fn say(&mut self, code: &str, content: &str) -> Value {
        self.request("chat:send", json!({"roomCode": code, "content": content}))
            .await
    }

    /// The next frame (kept ones first), or a panic after [`PATIENCE`].
    pub async fn next(&mut self) -> Frame {
        if let Some(frame) = self.kept.pop_front() {
            return Frame::Json(frame);
        }
        self.next_within(PATIENCE)
            .await
            .expect("a frame within the patience")
    }

    /// The next frame (kept ones first) within `wait`, or `None`.
    pub async fn poll_next(&mut self, wait: Duration) -> Option<Frame> {
        match self.kept.pop_front() {
            Some(frame) => Some(Frame::Json(frame)),
            None => self.next_within(wait).await,
        }
    }

    /// The next frame within `wait`, or `None`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let item = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match item {
                Some(Ok(WsMessage::Text(text))) => {
                    return Some(Frame::Json(
                        serde_json::from_str(text.as_str()).expect("server frames are JSON"),
                    ))
                }
                Some(Ok(WsMessage::Close(close))) => {
                    return Some(Frame::Closed(close.map(|c| c.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Frame::Closed(None)),
            }
        }
    }

    /// The next JSON frame; panics on close.
    pub async fn next_json(&mut self) -> Value {
        match self.next().await {
            Frame::Json(value) => value,
            Frame::Closed(code) => panic!("connection closed ({code:?}) while waiting"),
        }
    }

    /// The next frame of `event`, keeping others for later.
    pub async fn next_event(&mut self, event: &str) -> Value {
        self.take(|frame| frame["event"] == event).await
    }

    /// Reads for `wait` (answering pings), keeping every frame for later calls.
    pub async fn pump(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(Frame::Json(frame)) => self.kept.push_back(frame),
                Some(Frame::Closed(code)) => panic!("closed ({code:?})"),
                None => return,
            }
        }
    }

    /// Asserts that no push of `event` arrives within `wait`.
    pub async fn expect_no_event(&mut self, event: &str, wait: Duration) {
        if let Some(frame) = self.kept.iter().find(|f| f["event"] == event) {
            panic!("unexpected {event}: {frame}");
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                None => return,
                Some(Frame::Json(frame)) => {
                    assert_ne!(frame["event"], event, "unexpected {event}: {frame}");
                    self.kept.push_back(frame);
                }
                Some(Frame::Closed(code)) => panic!("closed ({code:?})"),
            }
        }
    }

    /// Waits for the connection to close, skipping frames; returns the close code.
    pub async fn closed(&mut self) -> Option<CloseCode> {
        loop {
            match self.next().await {
                Frame::Closed(code) => return code,
                Frame::Json(_) => continue,
            }
        }
    }
}

/// A throwaway Redis server on a free loopback port (or in a network namespace of its
/// own), for cluster tests.
pub struct RedisServer {
    /// Its port.
    pub port: u16,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The network namespace it runs in, if not the test's.
    netns: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or `None` (skip) when `redis-server` is not installed; fails when
    /// `CHAT_REQUIRE_REDIS=1`, so CI cannot pass without the cluster tests.
    pub async fn start() -> Option<RedisServer> {
        Self::start_at(None, Ipv4Addr::LOCALHOST).await
    }

    /// Starts one inside network namespace `netns`, on `ip` port 6379 there; `None` as
    /// [`RedisServer::start`].
    pub async fn start_in(netns: &str, ip: Ipv4Addr) -> Option<RedisServer> {
        Self::start_at(Some(netns.to_owned()), ip).await
    }

    async fn start_at(netns: Option<String>, ip: Ipv4Addr) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("CHAT_REQUIRE_REDIS").as_deref() != Ok("1"),
                "CHAT_REQUIRE_REDIS=1 but redis-server is not installed"
            );
            eprintln!("redis-server not installed: skipping a cluster test");
            return None;
        }
        let port = if netns.is_some() { 6379 } else { free_port() };
        let mut server = RedisServer {
            port,
            ip,
            netns,
            child: None,
        };
        server.run().await;
        Some(server)
    }

    /// `redis-server ARGS`, or `ip netns exec NETNS redis-server ARGS`.
    fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns, program]);
                command
            }
            None => Command::new(program),
        }
    }

    async fn run(&mut self) {
        let (port, ip) = (self.port.to_string(), self.ip.to_string());
        let mut command = self.command("redis-server");
        command
            .args(["--port", &port, "--bind", &ip])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null());
        if self.netns.is_some() {
            // Its clients are other hosts (of the test's own network).
            command.args(["--protected-mode", "no"]);
        }
        let child = command.spawn().expect("start redis-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.answers().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether it accepts connections; in a namespace, asked from inside it, so that this
    /// works while its link is cut.
    async fn answers(&self) -> bool {
        if self.netns.is_none() {
            return TcpStream::connect((self.ip, self.port)).await.is_ok();
        }
        let mut ping = tokio::process::Command::from(self.command("redis-cli"));
        ping.args([
            "-h",
            &self.ip.to_string(),
            "-p",
            &self.port.to_string(),
            "ping",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        ping.status().await.is_ok_and(|s| s.success())
    }

    /// `redis://IP:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.ip, self.port)
    }

    /// Kills the server (SIGKILL: it loses everything, as `--save ""` keeps nothing).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.run().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one sample of a metric (the first line that starts with `name`).
pub async fn metric(api: &Api, name: &str) -> f64 {
    let (_, text) = api.get_text("/metrics").await;
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until `check` holds, polling; panics with `what` after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
