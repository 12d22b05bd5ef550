//! Browser safety: the headers every response carries, and the WebSocket `Origin` check
//! (`--allowed-origins`).

use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::{metric, Backend, NodeSpec};

/// The headers a page or an API answer must carry, with the values they must have.
const EXPECTED: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("permissions-policy", "camera=()"),
];

fn assert_safety_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no CSP on {}", response.url()));
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "CSP allows inline: {csp}");
    for (name, value) in EXPECTED {
        let got = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} on {}", response.url()));
        assert!(got.starts_with(value), "{name}: {got:?}, want {value:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_api_answers_carry_the_safety_headers() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let base = format!("http://{}", node.api().addr);
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/api/health",
        "/api/rooms",
        "/api/rooms/ZZZZZZ",
        "/api/docs",
        "/api/openapi.json",
        "/api/nope",
        "/metrics",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_safety_headers(&response);
    }
    let created = http.post(format!("{base}/api/rooms")).send().await.unwrap();
    assert_eq!(created.status(), 201);
    assert_safety_headers(&created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_describes_itself() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let (status, document) = node.api().get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/messages",
        "/api/rooms",
        "/api/rooms/{code}",
        "/api/health",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not described"
        );
    }
    let (status, page) = node.api().get_text("/api/docs").await;
    assert_eq!(status, 200);
    assert!(page.contains("POST /api/rooms") && !page.contains("<script"));
    // A known path with an undeclared method: 405 and what is allowed.
    let response = reqwest::Client::new()
        .delete(format!("http://{}/api/rooms", node.api().addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
}

/// Opens `/ws` with the given `Origin` (none when `None`); the HTTP status of a refusal, or
/// 101 for an upgrade.
async fn handshake(addr: std::net::SocketAddr, origin: Option<&str>) -> (u16, Value) {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), Value::Null),
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origins_default_to_the_nodes_own() {
    let node = NodeSpec::new(&Backend::Sqlite).start();
    let addr = node.api().addr;
    let own = format!("http://{addr}");
    assert_eq!(
        handshake(addr, None).await.0,
        101,
        "no Origin: not a browser"
    );
    assert_eq!(handshake(addr, Some(&own)).await.0, 101, "own origin");
    let before = metric(&node.api(), "chat_ws_origin_rejected_total").await;
    let (status, body) = handshake(addr, Some("https://evil.example")).await;
    assert_eq!(status, 403);
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "forbidden");
    let other_port = format!("http://127.0.0.1:{}", addr.port().wrapping_add(1));
    assert_eq!(
        handshake(addr, Some(&other_port)).await.0,
        403,
        "another port"
    );
    assert_eq!(handshake(addr, Some("null")).await.0, 403, "opaque origin");
    let after = metric(&node.api(), "chat_ws_origin_rejected_total").await;
    assert!(
        after >= before + 3.0,
        "rejections counted: {before} -> {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_are_let_in_and_star_lets_everyone_in() {
    let node = NodeSpec::new(&Backend::Sqlite)
        .flag(
            "allowed-origins",
            "https://app.example, http://localhost:5173",
        )
        .start();
    let addr = node.api().addr;
    assert_eq!(handshake(addr, Some("https://app.example")).await.0, 101);
    assert_eq!(handshake(addr, Some("http://localhost:5173")).await.0, 101);
    assert_eq!(
        handshake(addr, Some(&format!("http://{addr}"))).await.0,
        101
    );
    assert_eq!(handshake(addr, Some("https://evil.example")).await.0, 403);
    assert_eq!(handshake(addr, None).await.0, 101);

    let open = NodeSpec::new(&Backend::Sqlite)
        .flag("allowed-origins", "*")
        .start();
    assert_eq!(
        handshake(open.api().addr, Some("https://evil.example"))
            .await
            .0,
        101
    );
}
