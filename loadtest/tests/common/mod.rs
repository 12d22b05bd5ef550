//! What the load test's own tests share: a server process that dies with the test, and
//! the tiny plain scenarios they run against it.

// A failed unwrap in a helper is a failed test, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_loadtest::http;
use chat_loadtest::scenario::burst::BurstConfig;
use chat_loadtest::scenario::fanout::FanoutConfig;
use chat_loadtest::scenario::Env;
use chat_loadtest::target::Targets;

/// A server process (the node or the plain peer), killed when the test ends, however it
/// ends, with whatever it must outlive (its data directory).
pub struct Server {
    pub child: Child,
    pub url: String,
    _keep: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` (already told to listen on `port`) and waits until it answers
/// `GET /api/health`.
pub async fn start(mut command: Command, port: u16, keep: Option<tempfile::TempDir>) -> Server {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _keep: keep,
    };
    let targets = Targets::new(std::slice::from_ref(&server.url), vec![])
        .await
        .unwrap();
    let client = http::client().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http::healthy(&client, &targets.nodes[0]).await {
        assert!(
            Instant::now() < deadline,
            "the server did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// The scenarios' environment for one server, with its pid for CPU and memory figures.
pub async fn env(server: &Server) -> Env {
    Env {
        targets: Targets::new(std::slice::from_ref(&server.url), vec![])
            .await
            .unwrap(),
        server_pid: Some(server.child.id()),
        progress: false,
    }
}

/// Open loop, 3 rooms × 4 members, 2 senders at 20/s for 2 s, plain sends.
pub fn tiny_fanout() -> FanoutConfig {
    FanoutConfig {
        rooms: 3,
        members: 4,
        senders: 2,
        rate: 20.0,
        duration: 2.0,
        grace: 5.0,
        content_bytes: 16,
        sample_every: 0.5,
        mix: None,
        seed: 1,
    }
}

/// Closed loop, 2 rooms × 2 members, both sending for 2 s, plain sends.
pub fn tiny_burst() -> BurstConfig {
    BurstConfig {
        rooms: 2,
        members: 2,
        senders: 2,
        window: 1,
        duration: 2.0,
        grace: 5.0,
        content_bytes: 16,
        sample_every: 0.5,
        mix: None,
        seed: 1,
    }
}
