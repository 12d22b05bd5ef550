//! Integration keys (PROTOCOL.md, "Version 2: who may do what"): with keys configured,
//! REST posts, the active-room list and the metrics need one of them; everything else
//! stays open; without keys those routes are open and the node warns; keys never appear
//! in the node's output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const FIRST: &str = "first-integration-key-0001";
const SECOND: &str = "second-integration-key-0002";

/// The routes that need a key, with a body for the one that takes one.
fn keyed_routes(code: &str) -> [(Method, &'static str, Option<Value>); 3] {
    [
        (
            Method::POST,
            "/api/messages",
            Some(json!({"roomCode": code, "sender": "hook", "content": "hi"})),
        ),
        (Method::GET, "/api/rooms", None),
        (Method::GET, "/metrics", None),
    ]
}

async fn status_of(
    api: &Api,
    method: &Method,
    path: &str,
    body: &Option<Value>,
) -> (u16, reqwest::Response) {
    let mut request = api.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_routes_take_either_key_and_refuse_anything_else() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag("api-keys", &format!("{FIRST},{SECOND}"))
        .start();
    let api = node.api();
    let code = api.create_room().await;
    let near_miss = &FIRST[..FIRST.len() - 1];
    for (who, handle) in [
        ("no key", api.clone()),
        ("a wrong key", api.with_key("not-a-key-of-this-node")),
        ("a key one character short", api.with_key(near_miss)),
    ] {
        for (method, path, body) in keyed_routes(&code) {
            let (status, response) = status_of(&handle, &method, path, &body).await;
            assert_eq!(status, 401, "{method} {path} with {who}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
    }
    // The right key in another scheme is not a bearer token.
    let basic = api
        .request(Method::GET, "/api/rooms")
        .header("authorization", format!("Basic {FIRST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    for key in [FIRST, SECOND] {
        let keyed = api.with_key(key);
        for (method, path, body) in keyed_routes(&code) {
            let (status, _) = status_of(&keyed, &method, path, &body).await;
            assert!(status == 200 || status == 201, "{method} {path}: {status}");
        }
    }
    // Nothing refused was stored: the two keyed posts are the room's only messages.
    let history = api.history(&code, "").await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2,
        "{history}"
    );
    // Everything else is open: room creation, history, room info, probes, the WebSocket.
    assert_eq!(api.post("/api/rooms", json!({})).await.0, 201);
    assert_eq!(api.get(&format!("/api/rooms/{code}")).await.0, 200);
    assert_eq!(api.get("/api/health").await.0, 200);
    assert_eq!(api.get("/api/ready").await.0, 200);
    let mut member = api.joined(&code, "ada").await;
    assert_eq!(member.say(&code, "members need no key").await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_the_routes_are_open() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let api = node.api();
    let code = api.create_room().await;
    for (method, path, body) in keyed_routes(&code) {
        let (status, _) = status_of(&api, &method, path, &body).await;
        assert!(status == 200 || status == 201, "{method} {path}: {status}");
    }
}

/// Runs the node binary with `args` and `env`, collecting what it writes (logs go to
/// stdout, start-up errors to stderr) until `until` appears in a line (or it exits, or 20 s
/// pass); then stops it.
fn node_output(args: &[&str], env: &[(&str, &str)], until: &str) -> (String, bool) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-node"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--static-dir", "/nonexistent"])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [stdout, stderr] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut output = String::new();
    let mut found = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                if line.contains(until) {
                    found = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (output, found)
}

#[test]
fn a_node_without_keys_warns_and_a_node_with_keys_never_shows_them() {
    let (output, warned) = node_output(&[], &[], "no API key configured");
    assert!(warned, "no warning about open routes in:\n{output}");

    let (output, listening) = node_output(
        &[],
        &[("CHAT_API_KEYS", &format!("{FIRST},{SECOND}"))],
        "chat node listening",
    );
    assert!(listening, "{output}");
    assert!(output.contains("API keys configured"), "{output}");
    assert!(!output.contains("no API key configured"), "{output}");
    assert!(
        !output.contains(FIRST) && !output.contains(SECOND),
        "{output}"
    );

    let (help, _) = node_output(
        &["--help"],
        &[("CHAT_API_KEYS", &format!("{FIRST},{SECOND}"))],
        "\u{0}",
    );
    assert!(help.contains("--api-keys"), "{help}");
    assert!(!help.contains(FIRST), "--help shows the key:\n{help}");

    // A weak key stops the node at start, naming its position, not the key.
    let (output, _) = node_output(&[], &[("CHAT_API_KEYS", &format!("{FIRST},weak"))], "\u{0}");
    assert!(output.contains("API key 2"), "{output}");
    assert!(
        !output.contains("weak,") && !output.contains(FIRST),
        "{output}"
    );
}
