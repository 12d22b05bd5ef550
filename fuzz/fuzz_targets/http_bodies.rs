//! Fuzzes what the REST API parses from a client before it touches any state
//! (src/routes/messages.rs):
//!
//! - the body of `POST /api/messages`: actix's `web::Json` (a 64 KiB limit, then
//!   `serde_json::from_slice` into `PostBody`), the JSON error handler of src/routes/mod.rs,
//!   then `RoomCode`, `Nickname`, `Content` and `ClientId` of `ids.rs`, in the handler's order;
//! - the query of `GET /api/messages`: actix's `web::Query` (`serde_urlencoded::from_str` into
//!   `HistoryQuery`), then `parse_integer` for `limit` and `beforeId`, the clamp, `RoomCode`.
//!
//! Every input is tried as both a body and a query string. Each error is encoded as the HTTP
//! error body `{"ok": false, "error": {..}}` (src/error.rs) and read back. Beyond "no panic" it
//! checks that a parsed body or query agrees with a plain reading of the same bytes
//! (`serde_json::Value`, urlencoded pairs) and that the heap stays within a linear bound.
//!
//! `PostBody`, `HistoryQuery` and `parse_integer` are private to the node's `routes::messages`
//! module (itself private), so they are copied below verbatim; `scripts/fuzz-short.sh` fails
//! if the copies and the originals drift apart.
#![no_main]

mod common;

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use chat_actors::ids::{ClientId, Content, Nickname, RoomCode};
use chat_actors::{ChatError, Limits};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use common::{assert_error_value, parse_object, within_allocation_bound, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `JSON_BODY_MAX` of src/routes/mod.rs.
const JSON_BODY_MAX: usize = 64 * 1024;
/// The defaults of `--history-default` and `--history-max` (src/config.rs).
const HISTORY_DEFAULT: u32 = 50;
const HISTORY_MAX: u32 = 200;

// ---- copied verbatim from src/routes/messages.rs (checked by scripts/fuzz-short.sh) -------

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

// ---- end of the copies -----------------------------------------------------------------------

/// `ErrorBody` of src/error.rs.
#[derive(Serialize)]
struct ErrorBody<'a> {
    ok: bool,
    error: &'a ChatError,
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    within_allocation_bound(data.len(), "POST body", || post_body(data, &limits));
    // A query string is text; actix hands the handler `Uri::query()`, a `&str`.
    if let Ok(query) = std::str::from_utf8(data) {
        within_allocation_bound(data.len(), "query", || history_query(query));
    }
});

/// `POST /api/messages` up to the room actor.
fn post_body(data: &[u8], limits: &Limits) {
    let result = json_extractor(data).and_then(|body| {
        check_body_against_value(data, &body);
        RoomCode::parse(&body.room_code)?;
        Nickname::parse(&body.sender, limits.nickname_max_chars)?;
        Content::parse(&body.content, limits.content_max_chars)?;
        body.client_id.as_deref().map(ClientId::parse).transpose()?;
        Ok(())
    });
    if let Err(error) = result {
        error_body(&error);
    }
}

/// actix-web's `JsonBody` (types/json.rs) with the node's `JsonConfig` and `json_error`.
fn json_extractor(data: &[u8]) -> Result<PostBody, ChatError> {
    if data.len() > JSON_BODY_MAX {
        return Err(ChatError::too_large(format!(
            "request body is larger than {JSON_BODY_MAX} bytes"
        )));
    }
    serde_json::from_slice::<PostBody>(data).map_err(|e| {
        ChatError::bad_request(format!(
            "invalid JSON body: {}",
            JsonPayloadError::Deserialize(e)
        ))
    })
}

/// A parsed body must say what a plain `Value` reading of the same bytes says, where that
/// reading succeeds (`Value` resolves duplicate keys to the last one, which `PostBody`
/// refuses). serde also reads a struct from a JSON array, by position, and nothing in the
/// node refuses that: `["K7QX2M","bot","hi"]` is a valid body.
fn check_body_against_value(data: &[u8], body: &PostBody) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let field = |key: &str, position: usize| {
        match &value {
            Value::Object(map) => map.get(key),
            Value::Array(items) => items.get(position),
            other => panic!("a body that is neither an object nor an array parsed: {other}"),
        }
        .filter(|v| !v.is_null())
    };
    assert_eq!(field("roomCode", 0), Some(&Value::from(body.room_code.as_str())));
    assert_eq!(field("sender", 1), Some(&Value::from(body.sender.as_str())));
    assert_eq!(field("content", 2), Some(&Value::from(body.content.as_str())));
    assert_eq!(field("clientId", 3), body.client_id.as_deref().map(Value::from).as_ref());
}

/// `GET /api/messages` up to the store.
fn history_query(query: &str) {
    let result = serde_urlencoded::from_str::<HistoryQuery>(query)
        .map_err(|e| {
            ChatError::bad_request(format!(
                "invalid query: {}",
                QueryPayloadError::Deserialize(e)
            ))
        })
        .and_then(|query_struct| {
            check_query_against_pairs(query, &query_struct);
            list(&query_struct)
        });
    if let Err(error) = result {
        error_body(&error);
    }
}

/// `messages::list` before its first await.
fn list(query: &HistoryQuery) -> Result<(), ChatError> {
    let code = query
        .room_code
        .as_deref()
        .ok_or_else(|| ChatError::bad_request("roomCode is required"))?;
    let limit = match query.limit.as_deref() {
        Some(limit) => parse_integer("limit", limit)?,
        None => i64::from(HISTORY_DEFAULT),
    };
    let limit = limit.clamp(1, i64::from(HISTORY_MAX.max(1))) as u32;
    assert!((1..=HISTORY_MAX).contains(&limit), "limit {limit} escaped the clamp");
    let _before_id: Option<i64> = query
        .before_id
        .as_deref()
        .map(|value| parse_integer("beforeId", value))
        .transpose()?;
    RoomCode::parse(code)?;
    Ok(())
}

/// A parsed query must hold what the urlencoded pairs hold (the struct refuses duplicates).
fn check_query_against_pairs(query: &str, parsed: &HistoryQuery) {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        panic!("the struct parsed a query that the pairs did not: {query:?}");
    };
    let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("roomCode"), parsed.room_code.as_deref(), "roomCode");
    assert_eq!(get("limit"), parsed.limit.as_deref(), "limit");
    assert_eq!(get("beforeId"), parsed.before_id.as_deref(), "beforeId");
}

/// `ApiError::error_response`'s body, read back.
fn error_body(error: &ChatError) {
    let body = match serde_json::to_vec(&ErrorBody { ok: false, error }) {
        Ok(body) => body,
        Err(e) => panic!("error body did not encode: {e}"),
    };
    let map = parse_object(&body, "error body");
    assert_eq!(map.get("ok"), Some(&Value::Bool(false)));
    assert_error_value(map.get("error"), error, "error body");
}
