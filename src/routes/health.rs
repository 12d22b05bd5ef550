//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// `GET /api/health`: the process answers; checks no dependency (a liveness probe must
/// not restart a node because its database is down).
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "ok": true,
        "uptime": state.started.elapsed().as_secs(),
        "node": state.hub.node_id,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /api/ready`: the store answers and the node is not draining; a load balancer
/// sends new connections only to ready nodes.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let unavailable = |message: String| {
        HttpResponse::ServiceUnavailable().json(json!({
            "ok": false,
            "error": {"code": "unavailable", "message": message},
        }))
    };
    if state.hub.is_draining() {
        return unavailable("the node is shutting down".into());
    }
    match state.hub.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"ok": true, "store": "ok"})),
        Err(error) => unavailable(error.to_string()),
    }
}
