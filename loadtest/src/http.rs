//! The REST calls the scenarios need: creating rooms and checking that a node is up.

use serde::Deserialize;

use crate::error::LoadError;
use crate::target::{NodeUrl, Targets};

/// How many room creations run at once; rooms are set-up, not the measured load.
const CREATE_CONCURRENCY: usize = 16;

#[derive(Deserialize)]
struct RoomResponse {
    room: RoomBody,
}

#[derive(Deserialize)]
struct RoomBody {
    code: String,
}

/// A plain HTTP client (no TLS, no proxy lookups) with a bounded timeout so a stuck node
/// fails the run instead of hanging it.
pub fn client() -> Result<reqwest::Client, LoadError> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()?)
}

/// `POST /api/rooms` on `node`; returns the new room's code.
pub async fn create_room(http: &reqwest::Client, node: &NodeUrl) -> Result<String, LoadError> {
    let resp = http.post(format!("{}/api/rooms", node.http)).send().await?;
    let status = resp.status();
    if status.as_u16() != 201 {
        return Err(LoadError::Http(format!(
            "POST {}/api/rooms answered {status}",
            node.http
        )));
    }
    Ok(resp.json::<RoomResponse>().await?.room.code)
}

/// Creates `count` rooms, spread round-robin over the nodes (they share one store).
pub async fn create_rooms(
    http: &reqwest::Client,
    targets: &Targets,
    count: usize,
) -> Result<Vec<String>, LoadError> {
    let mut codes = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let end = (start + CREATE_CONCURRENCY).min(count);
        let batch = (start..end).map(|i| create_room(http, targets.node_for(i, 0)));
        for code in futures_util::future::join_all(batch).await {
            codes.push(code?);
        }
        start = end;
    }
    Ok(codes)
}

/// `GET /api/health`: true when the node answers 200.
pub async fn healthy(http: &reqwest::Client, node: &NodeUrl) -> bool {
    match http.get(format!("{}/api/health", node.http)).send().await {
        Ok(resp) => resp.status().as_u16() == 200,
        Err(_) => false,
    }
}
