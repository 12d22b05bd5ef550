//! `GET /ws`: upgrades to a chat session.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::{session, ChatError};
use serde_json::json;

use crate::error::ApiError;
use crate::security::ORIGIN_REJECTED_METRIC;
use crate::state::AppState;

/// Starts a session actor for the connection. Refused with 403 before upgrading when a
/// browser page of a foreign origin asks (`--allowed-origins`), and with 503 while the node
/// drains, so clients go to another node; and by the abuse limits: 503 when the node has
/// its most sessions, 429 when the address has its most connections.
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if !state.config.allowed_origins.permits(&req) {
        metrics::counter!(ORIGIN_REJECTED_METRIC).increment(1);
        tracing::debug!(origin = ?req.headers().get(header::ORIGIN), "WebSocket origin refused");
        return Ok(HttpResponse::Forbidden().json(json!({
            "ok": false,
            "error": {
                "code": "forbidden",
                "message": "this origin may not open a WebSocket here (see --allowed-origins)",
            },
        })));
    }
    if state.hub.is_draining() {
        return Err(ApiError(ChatError::new(
            chat_actors::ErrorCode::Unavailable,
            "this node is draining; connect to another",
        ))
        .into());
    }
    let address = state.config.trusted_proxies.client_of(&req);
    state
        .hub
        .guards
        .admit(address, state.hub.sessions.len())
        .map_err(ApiError)?;
    session::start(state.hub.clone(), address, &req, payload)
}
