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

/// `GET /api/ready`: the store (and the broker, if configured) answer and the node is not
/// draining; a load balancer
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
    if let Err(error) = state.hub.store.ping().await {
        return unavailable(format!("store: {error}"));
    }
    match &state.hub.broker {
        None => HttpResponse::Ok().json(json!({"ok": true, "store": "ok"})),
        Some(broker) => match broker.ping().await {
            Ok(()) if broker.is_up() => {
                HttpResponse::Ok().json(json!({"ok": true, "store": "ok", "broker": "ok"}))
            }
            Ok(()) => unavailable("broker: not subscribed yet".into()),
            Err(error) => unavailable(format!("broker: {error}")),
        },
    }
}
