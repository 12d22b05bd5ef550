//! `GET /api/messages` (history pages) and `POST /api/messages` (sends by integrations).

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::ids::{ClientId, Content, MessageId, Nickname, RoomCode};
use chat_actors::room::{SendMessage, Sender};
use chat_actors::{ChatError, ErrorCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Query of `GET /api/messages`; numbers arrive as text so that a bad one is answered
/// with our `bad_request`, not a generic parse error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryQuery {
    room_code: Option<String>,
    limit: Option<String>,
    before_id: Option<String>,
}

fn parse_integer(name: &str, value: &str) -> Result<i64, ChatError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ChatError::bad_request(format!("{name} must be an integer")))
}

/// Finds a room's store id, or `not_found`.
pub async fn room_record(
    state: &AppState,
    code: RoomCode,
) -> Result<chat_actors::model::RoomRecord, ChatError> {
    match state.hub.store.find_room(code).await {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(ChatError::room_not_found()),
        Err(error) => {
            tracing::warn!(%error, "room lookup failed");
            Err(ChatError::unavailable())
        }
    }
}

/// `GET /api/messages?roomCode=&limit=&beforeId=`: newest first; `nextBeforeId` is the
/// cursor of the next older page, null exactly when no older message exists.
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let code = query
        .room_code
        .as_deref()
        .ok_or_else(|| ChatError::bad_request("roomCode is required"))?;
    let limit = match query.limit.as_deref() {
        Some(limit) => parse_integer("limit", limit)?,
        None => i64::from(state.config.history_default),
    };
    let limit = limit.clamp(1, i64::from(state.config.history_max.max(1))) as u32;
    let before_id: Option<MessageId> = query
        .before_id
        .as_deref()
        .map(|value| parse_integer("beforeId", value))
        .transpose()?;
    let code = RoomCode::parse(code)?;
    let record = room_record(&state, code).await?;
    let page = state
        .hub
        .store
        .history(record.room.id, before_id, limit)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "history read failed");
            ChatError::unavailable()
        })?;
    let next_before_id = if page.has_more {
        page.messages.last().map(|m| m.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({
        "ok": true,
        "messages": page.messages,
        "nextBeforeId": next_before_id,
    })))
}

/// Body of `POST /api/messages`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostBody {
    room_code: String,
    sender: String,
    content: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// `POST /api/messages`: stores a message through the room's actor, exactly like a
/// WebSocket send, so it is pushed to the room's members. 201 for a new message, 200 with
/// the original for a repeated `clientId`.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PostBody>,
) -> ApiResult<HttpResponse> {
    let limits = &state.hub.limits;
    let code = RoomCode::parse(&body.room_code)?;
    let sender = Nickname::parse(&body.sender, limits.nickname_max_chars)?;
    let content = Content::parse(&body.content, limits.content_max_chars)?;
    let client_id = body.client_id.as_deref().map(ClientId::parse).transpose()?;
    let client = req.peer_addr().map(|addr| addr.ip());
    let acquired = match client {
        Some(ip) => state.rest_limiter.try_acquire(ip),
        None => true,
    };
    if !acquired && client_id.is_none() {
        return Err(ApiError(ChatError::new(
            ErrorCode::RateLimited,
            "too many messages from this address; slow down",
        )));
    }
    let outcome = state
        .hub
        .ask_room(code, {
            let client_id = client_id.clone();
            move || SendMessage {
                from: Sender::Integration(sender.clone()),
                content: content.clone(),
                client_id: client_id.clone(),
                dedupe_only: !acquired,
            }
        })
        .await;
    if let (Some(ip), true) = (client, acquired && state.rest_limiter.is_enabled()) {
        state
            .rest_limiter
            .release(ip, outcome.as_ref().is_ok_and(|o| o.created));
    }
    let outcome = outcome?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(json!({"ok": true, "message": outcome.message})))
}
