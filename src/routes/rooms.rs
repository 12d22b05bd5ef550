//! `POST /api/rooms`, `GET /api/rooms` and `GET /api/rooms/{code}`.

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::ids::RoomCode;
use chat_actors::ChatError;

use crate::auth::Authorized;
use crate::error::{ApiError, ApiResult};
use crate::openapi::schemas::ErrorBody;
use crate::routes::bodies::{RoomCreated, RoomDetail, RoomList, RoomOccupancy};
use crate::routes::messages::room_record;
use crate::state::AppState;

/// `POST /api/rooms`: a new room with a fresh code.
#[utoipa::path(
    post,
    path = "/api/rooms",
    operation_id = "createRoom",
    tag = "rooms",
    responses(
        (status = 201, description = "The new room; share its code.", body = RoomCreated,
            links(
                ("GetRoom" = (
                    operation_id = "getRoom",
                    parameters(("code" = "$response.body#/room/code")),
                    description = "The room just created and its members."
                )),
                ("ListMessages" = (
                    operation_id = "listMessages",
                    parameters(("roomCode" = "$response.body#/room/code")),
                    description = "The history of the room just created."
                )),
                ("PostMessage" = (
                    operation_id = "postMessage",
                    request_body = json!({"roomCode": "$response.body#/room/code"}),
                    description = "Send a message to the room just created."
                ))
            )
        ),
        (status = 429, description = "`rate_limited`: this address created too many rooms recently.", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot take the write now.", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn create(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let address = state.config.trusted_proxies.client_of(&req);
    state.hub.guards.create_room(address)?;
    let (room, owner_key) = state.hub.create_room().await?;
    Ok(HttpResponse::Created().json(RoomCreated {
        ok: true,
        room,
        owner_key,
    }))
}

/// `GET /api/rooms`: rooms with at least one member now, on any node.
#[utoipa::path(
    get,
    path = "/api/rooms",
    operation_id = "listRooms",
    tag = "rooms",
    security((), ("apiKey" = [])),
    responses(
        (status = 200, description = "Occupied rooms, most members first.", body = RoomList),
        (status = 401, description = "`unauthorized`: the node has API keys and the request carries none of them.", body = ErrorBody),
        (status = 503, description = "`unavailable`: Redis does not answer (several nodes).", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn list(_: Authorized, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let mut rooms = state.hub.occupied_rooms().await.map_err(broker_down)?;
    rooms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let rooms = rooms
        .into_iter()
        .map(|(code, members)| RoomOccupancy { code, members })
        .collect();
    Ok(HttpResponse::Ok().json(RoomList { ok: true, rooms }))
}

fn broker_down(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "broker query failed");
    ApiError(ChatError::new(
        chat_actors::ErrorCode::Unavailable,
        "the cluster's presence is unavailable right now",
    ))
}

/// `GET /api/rooms/{code}`: the room and who is in it, on every node.
#[utoipa::path(
    get,
    path = "/api/rooms/{code}",
    operation_id = "getRoom",
    tag = "rooms",
    params(("code" = String, Path, description = "The room's code, any case.", example = "K7QX2M")),
    responses(
        (status = 200, description = "The room and its members.", body = RoomDetail),
        (status = 404, description = "`not_found`: no such room (or not a room code).", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this address looked up too many unknown rooms recently (`--failed-lookup-rate`).", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store or Redis does not answer.", body = ErrorBody),
        (status = 500, description = "`internal`.", body = ErrorBody),
    )
)]
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let code = RoomCode::parse(&code)?;
    let record = room_record(&state, &req, code).await?;
    let members = state.hub.room_members(code).await.map_err(broker_down)?;
    Ok(HttpResponse::Ok().json(RoomDetail {
        ok: true,
        room: record.room,
        members,
    }))
}
