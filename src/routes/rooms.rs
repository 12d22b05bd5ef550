//! `POST /api/rooms`, `GET /api/rooms` and `GET /api/rooms/{code}`.

use actix_web::{web, HttpResponse};
use chat_actors::ids::RoomCode;
use serde_json::json;

use crate::error::ApiResult;
use crate::routes::messages::room_record;
use crate::state::AppState;

/// `POST /api/rooms`: a new room with a fresh code.
pub async fn create(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let room = state.hub.create_room().await?;
    Ok(HttpResponse::Created().json(json!({"ok": true, "room": room})))
}

/// `GET /api/rooms`: rooms with at least one member now.
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let mut rooms = state.hub.occupied_rooms();
    rooms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let rooms: Vec<_> = rooms
        .into_iter()
        .map(|(code, members)| json!({"code": code, "members": members}))
        .collect();
    HttpResponse::Ok().json(json!({"ok": true, "rooms": rooms}))
}

/// `GET /api/rooms/{code}`: the room and who is in it.
pub async fn show(state: web::Data<AppState>, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let code = RoomCode::parse(&code)?;
    let record = room_record(&state, code).await?;
    let members = state.hub.local_members(code).await;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "room": record.room, "members": members})))
}
