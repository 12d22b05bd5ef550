//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::openapi::schemas::ErrorBody;
use crate::routes::bodies::{Health, Ready};
use crate::state::AppState;

/// `GET /api/health`: the process answers; checks no dependency (a liveness probe must
/// not restart a node because its database is down).
#[utoipa::path(
    get,
    path = "/api/health",
    operation_id = "health",
    tag = "probes",
    responses((status = 200, description = "The process answers.", body = Health))
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        ok: true,
        uptime: state.started.elapsed().as_secs(),
        node: state.hub.node_id.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// `GET /api/ready`: the store (and the broker, if configured) answer and the node is not
/// draining; a load balancer sends new connections only to ready nodes.
#[utoipa::path(
    get,
    path = "/api/ready",
    operation_id = "ready",
    tag = "probes",
    responses(
        (status = 200, description = "Send traffic here.", body = Ready),
        (status = 503, description = "`unavailable`, with the cause: draining, store or broker.", body = ErrorBody),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    // Not an `ApiError`: a probe answering "not ready" is no error worth counting.
    let unavailable = |message: String| {
        HttpResponse::ServiceUnavailable().json(json!({
            "ok": false,
            "error": {"code": "unavailable", "message": message},
        }))
    };
    if state.hub.is_draining() {
        return unavailable("the node is shutting down".into());
    }
    let limit = state.config.ready_timeout();
    let deadline = tokio::time::Instant::now() + limit;
    match tokio::time::timeout_at(deadline, state.hub.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return unavailable(format!("store: {error}")),
        Err(_) => return unavailable(format!("store: no answer within {limit:?}")),
    }
    let broker = match state.hub.cluster.broker() {
        None => None,
        Some(broker) => match tokio::time::timeout_at(deadline, broker.ping()).await {
            Ok(Ok(())) if broker.is_up() => Some("ok".to_string()),
            Ok(Ok(())) => return unavailable("broker: not subscribed yet".into()),
            Ok(Err(error)) => return unavailable(format!("broker: {error}")),
            Err(_) => return unavailable(format!("broker: no answer within {limit:?}")),
        },
    };
    HttpResponse::Ok().json(Ready {
        ok: true,
        store: "ok".into(),
        broker,
    })
}
