//! `GET /ws`: upgrades to a chat session.

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::{session, ChatError};

use crate::error::ApiError;
use crate::state::AppState;

/// Starts a session actor for the connection; refused while the node drains, so clients
/// go to another node.
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if state.hub.is_draining() {
        return Err(ApiError(ChatError::new(
            chat_actors::ErrorCode::Unavailable,
            "this node is shutting down; connect to another",
        ))
        .into());
    }
    session::start(state.hub.clone(), &req, payload)
}
