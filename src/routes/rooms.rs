//! `POST /api/rooms`, `GET /api/rooms` and `GET /api/rooms/{code}`.

use actix_web::{web, HttpResponse};
use chat_actors::ids::RoomCode;
use serde_json::json;

use chat_actors::ChatError;

use crate::error::{ApiError, ApiResult};
use crate::routes::messages::room_record;
use crate::state::AppState;

/// `POST /api/rooms`: a new room with a fresh code.
pub async fn create(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let room = state.hub.create_room().await?;
    Ok(HttpResponse::Created().json(json!({"ok": true, "room": room})))
}

/// `GET /api/rooms`: rooms with at least one member now, on any node.
pub async fn list(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let mut rooms = match &state.hub.broker {
        Some(broker) => broker.occupied_rooms().await.map_err(broker_down)?,
        None => state.hub.occupied_rooms(),
    };
    rooms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let rooms: Vec<_> = rooms
        .into_iter()
        .map(|(code, members)| json!({"code": code, "members": members}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"ok": true, "rooms": rooms})))
}

fn broker_down(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "broker query failed");
    ApiError(ChatError::new(
        chat_actors::ErrorCode::Unavailable,
        "the cluster's presence is unavailable right now",
    ))
}

/// `GET /api/rooms/{code}`: the room and who is in it, on every node.
pub async fn show(state: web::Data<AppState>, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let code = RoomCode::parse(&code)?;
    let record = room_record(&state, code).await?;
    let members = match &state.hub.broker {
        Some(broker) => broker.members(code).await.map_err(broker_down)?,
        None => state.hub.local_members(code).await,
    };
    Ok(HttpResponse::Ok().json(json!({"ok": true, "room": record.room, "members": members})))
}
