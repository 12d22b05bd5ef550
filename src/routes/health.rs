//! Liveness and readiness probes.

use crate::openapi::schemas::{ErrorCodeSchema, ErrorSchema};
use crate::routes::bodies::{Health, NotReady, Ready};
use crate::state::AppState;
use actix_web::{web, HttpResponse};

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
/// draining; a load balancer sends new connections only to ready nodes. A 503 names what
/// is not ready (`"failed": "node" | "store" | "broker"`) and says how, in words that give
/// nothing away (no host, user or driver error: those go to the node's log).
#[utoipa::path(
    get,
    path = "/api/ready",
    operation_id = "ready",
    tag = "probes",
    responses(
        (status = 200, description = "Send traffic here.", body = Ready),
        (status = 503, description = "`unavailable`, with `failed`: `node` (draining), `store` or `broker`.", body = NotReady),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match readiness(&state).await {
        Ok(ready) => HttpResponse::Ok().json(ready),
        // Not an `ApiError`: a probe answering "not ready" is no error worth counting.
        Err((failed, message)) => HttpResponse::ServiceUnavailable().json(NotReady {
            ok: false,
            failed,
            error: ErrorSchema {
                code: ErrorCodeSchema::Unavailable,
                message: message.into(),
            },
        }),
    }
}

/// What is not ready, and how, for the probe's answer.
type NotReadyBecause = (&'static str, &'static str);

async fn readiness(state: &AppState) -> Result<Ready, NotReadyBecause> {
    if state.hub.is_draining() {
        let why = if state.hub.is_stopping() {
            "the node is shutting down"
        } else {
            "an operator drained the node"
        };
        return Err(("node", why));
    }
    let limit = state.config.ready_timeout();
    let deadline = tokio::time::Instant::now() + limit;
    match tokio::time::timeout_at(deadline, state.hub.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the store failed");
            return Err(("store", "the store refused or failed the check"));
        }
        Err(_) => return Err(("store", "the store did not answer in time")),
    }
    let broker = match state.hub.cluster.broker() {
        None => None,
        Some(broker) => match tokio::time::timeout_at(deadline, broker.ping()).await {
            Ok(Ok(())) if broker.is_up() => Some("ok".to_string()),
            Ok(Ok(())) => return Err(("broker", "not subscribed to Redis yet")),
            Ok(Err(error)) => {
                tracing::warn!(%error, "not ready: Redis failed");
                return Err(("broker", "Redis refused or failed the check"));
            }
            Err(_) => return Err(("broker", "Redis did not answer in time")),
        },
    };
    Ok(Ready {
        ok: true,
        store: "ok".into(),
        broker,
    })
}
