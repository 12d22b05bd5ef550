//! Helpers shared by the persistence tests.

use chat_actors::ids::{ClientId, RoomCode};
use chat_actors::store::NewMessage;

/// Message `i` of a room, with client id `c{i}`.
pub fn message(room_id: i64, code: RoomCode, i: usize) -> NewMessage {
    NewMessage {
        room_id,
        room_code: code,
        sender: "ada".into(),
        content: format!("m{i}"),
        client_id: Some(ClientId::parse(&format!("c{i}")).unwrap()),
    }
}
