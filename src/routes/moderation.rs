//! `DELETE /api/rooms/{code}/messages/{id}`: moderation bots delete a message as the room's
//! owner (PROTOCOL.md v2: "REST calls with an API key act as owner of every room").

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::changes::ChangeKind;
use chat_actors::ids::RoomCode;
use chat_actors::protocol;
use chat_actors::room::{ChangeMessage, Changer};
use chat_actors::ChatError;

use crate::auth::Moderator;
use crate::error::ApiResult;
use crate::openapi::schemas::ErrorBody;
use crate::routes::bodies::MessageStored;
use crate::routes::messages::room_record;
use crate::state::AppState;

/// `DELETE /api/rooms/{code}/messages/{id}`: deletes a message through the room's actor,
/// exactly like an owner's `chat:delete`, so it is pushed to the members as `chat:update`.
/// Always needs an API key: a node without keys has nobody who could act as every room's
/// owner, and refuses.
#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/messages/{id}",
    operation_id = "deleteMessage",
    tag = "messages",
    security(("apiKey" = [])),
    params(
        ("code" = String, Path, description = "The room's code, any case.", example = "K7QX2M"),
        ("id" = i64, Path, description = "The message's id.", minimum = 1, example = 1041),
    ),
    responses(
        (status = 200, description = "Deleted (or it already was): the message as it is now, with empty content.", body = MessageStored),
        (status = 400, description = "`bad_request`: the id is not a positive integer (up to 2^63 - 1).", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid API key (a node without keys refuses every request).", body = ErrorBody),
        (status = 404, description = "`not_found`: no such room, or no such message in it.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this address looked up too many unknown rooms.", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot take the write now; nothing was changed.", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn delete(
    moderator: Moderator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (code, id) = path.into_inner();
    let code = RoomCode::parse(&code)?;
    let id = id
        .parse::<u64>()
        .map_err(|_| ChatError::bad_request("the message id must be a positive integer"))
        .and_then(|id| protocol::message_id(id, "id"))?;
    room_record(&state, &req, code).await?;
    tracing::info!(target: "audit", key = %moderator.label, action = "delete_message", room = %code, message = id);
    let outcome = state
        .hub
        .ask_room(code, move || ChangeMessage {
            from: Changer::Moderator,
            message_id: id,
            kind: ChangeKind::Delete,
        })
        .await?;
    Ok(HttpResponse::Ok().json(MessageStored {
        ok: true,
        message: outcome.message,
    }))
}
