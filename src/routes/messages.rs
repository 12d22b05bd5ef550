//! `GET /api/messages` (history pages) and `POST /api/messages` (sends by integrations).

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::ids::RoomCode;
use chat_actors::protocol::rest::{HistoryRequest, PageSize};
use chat_actors::protocol::SendChat;
use chat_actors::room::{SendMessage, Sender};
use chat_actors::{ChatError, ErrorCode};

use crate::auth::Authorized;
use crate::error::{ApiError, ApiResult};
use crate::openapi::schemas::ErrorBody;
use crate::routes::bodies::{HistoryPage, HistoryQuery, JsonObject, MessageStored, PostMessage};
use crate::state::AppState;

/// Finds a room's store id, or `not_found`: a lookup under the failed-lookup limit of the
/// client `req` comes from.
pub async fn room_record(
    state: &AppState,
    req: &HttpRequest,
    code: RoomCode,
) -> Result<chat_actors::model::RoomRecord, ChatError> {
    let client = state.config.trusted_proxies.client_of(req);
    state.hub.guards.may_look_up(client)?;
    let found = match state.hub.store.find_room(code).await {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(ChatError::room_not_found()),
        Err(error) => {
            tracing::warn!(%error, "room lookup failed");
            Err(ChatError::unavailable())
        }
    };
    state.hub.counted(client, code, found)
}

/// `GET /api/messages?roomCode=&limit=&beforeId=`: newest first; `nextBeforeId` is the
/// cursor of the next older page, null exactly when no older message exists.
#[utoipa::path(
    get,
    path = "/api/messages",
    operation_id = "listMessages",
    tag = "messages",
    params(HistoryQuery),
    responses(
        (status = 200, description = "One page of history, newest first.", body = HistoryPage),
        (status = 400, description = "`bad_request`: `roomCode` missing, or `limit` or `beforeId` not an integer.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such room.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this address looked up too many unknown rooms recently (`--failed-lookup-rate`).", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot answer now.", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let size = PageSize {
        default: state.config.history_default,
        max: state.config.history_max,
    };
    let HistoryRequest {
        code,
        limit,
        before_id,
    } = query.validate(size)?;
    let record = room_record(&state, &req, code).await?;
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
    Ok(HttpResponse::Ok().json(HistoryPage {
        ok: true,
        messages: page.messages,
        next_before_id,
    }))
}

/// `POST /api/messages`: stores a message through the room's actor, exactly like a
/// WebSocket send, so it is pushed to the room's members. 201 for a new message, 200 with
/// the original for a repeated `clientId`.
#[utoipa::path(
    post,
    path = "/api/messages",
    operation_id = "postMessage",
    tag = "messages",
    security((), ("apiKey" = [])),
    request_body(content = PostMessage, content_type = "application/json",
        description = "At most 64 KiB of JSON."),
    responses(
        (status = 201, description = "Stored and pushed to the room's members on every node.", body = MessageStored,
            links(
                ("RoomHistory" = (
                    operation_id = "listMessages",
                    parameters(("roomCode" = "$response.body#/message/roomCode")),
                    description = "The room's history, which now holds the message."
                )),
                ("GetRoom" = (
                    operation_id = "getRoom",
                    parameters(("code" = "$response.body#/message/roomCode")),
                    description = "The room the message went to."
                ))
            )
        ),
        (status = 200, description = "A repeated `clientId`: the original message, nothing new stored.", body = MessageStored),
        (status = 400, description = "`bad_request` (malformed JSON, not `application/json`, missing or ill-typed field, blank content or sender) or `too_large` (content, sender, `clientId` or body over its limit).", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the node has API keys and the request carries none of them.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such room, or `replyTo` is not a message of the room.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this address sent too many (only with `--rest-send-rate`), or looked up too many unknown rooms recently (`--failed-lookup-rate`).", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot take the write now; nothing was stored; retry with the same `clientId`.", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn post(
    _: Authorized,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<JsonObject<PostMessage>>,
) -> ApiResult<HttpResponse> {
    let JsonObject(body) = body.into_inner();
    let (
        sender,
        SendChat {
            code,
            content,
            client_id,
            reply_to,
        },
    ) = body.validate(&state.hub.limits)?;
    let client = state.config.trusted_proxies.client_of(&req);
    state.hub.guards.may_look_up(client)?;
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
    let received_at = Instant::now();
    let outcome = state
        .hub
        .ask_room(code, {
            let client_id = client_id.clone();
            move || SendMessage {
                from: Sender::Integration(sender.clone()),
                content: content.clone(),
                client_id: client_id.clone(),
                reply_to,
                dedupe_only: !acquired,
                received_at,
            }
        })
        .await;
    if let (Some(ip), true) = (client, acquired && state.rest_limiter.is_enabled()) {
        state
            .rest_limiter
            .release(ip, outcome.as_ref().is_ok_and(|o| o.created));
    }
    let outcome = state.hub.counted(client, code, outcome)?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(MessageStored {
        ok: true,
        message: outcome.message,
    }))
}
