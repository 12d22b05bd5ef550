//! Fuzzes what the REST API parses from a client before it touches any state
//! (src/routes/messages.rs, src/routes/bodies.rs):
//!
//! - the body of `POST /api/messages`: actix's `web::Json` (a 64 KiB limit, then
//!   `serde_json::from_slice` into `PostMessage`), the JSON error handler of
//!   src/routes/mod.rs, then `RoomCode`, `Nickname`, `Content` and `ClientId` of `ids.rs`, in
//!   the handler's order;
//! - the query of `GET /api/messages`: actix's `web::Query` (`serde_urlencoded::from_str` into
//!   `HistoryQuery`), then `parse_integer` for `limit` and `beforeId`, the clamp, `RoomCode`.
//!
//! Every input is tried as both a body and a query string. Each error is encoded as the HTTP
//! error body `{"ok": false, "error": {..}}` (src/error.rs) and read back. Beyond "no panic" it
//! checks that a parsed body or query agrees with a plain reading of the same bytes
//! (`serde_json::Value`, urlencoded pairs) and that, while the node's steps run, the heap
//! stays within a linear bound of the input's length.
//!
//! `PostMessage` and `HistoryQuery` live in the node's `pub(crate)` module `routes::bodies`
//! and `parse_integer` is private to `routes::messages`, so they cannot be named from here:
//! they are copied below (the structs without their OpenAPI attributes, which do not change
//! how serde reads them). `scripts/fuzz-short.sh` fails if a copy and its original drift
//! apart: the structs' serde attributes, field names and types, and `parse_integer` verbatim.
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

// ---- copied from src/routes/ (checked by scripts/fuzz-short.sh) ------------------------------

/// Query of `GET /api/messages` (src/routes/bodies.rs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryQuery {
    pub room_code: Option<String>,
    pub limit: Option<String>,
    pub before_id: Option<String>,
}

/// Body of `POST /api/messages` (src/routes/bodies.rs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostMessage {
    pub room_code: String,
    pub sender: String,
    pub content: String,
    #[serde(default)]
    pub client_id: Option<String>,
}

// From src/routes/messages.rs, verbatim.
fn parse_integer(name: &str, value: &str) -> Result<i64, ChatError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ChatError::bad_request(format!("{name} must be an integer")))
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
    let body = within_allocation_bound(data.len(), "POST body", || post_body(data, &limits));
    // Outside the allocation bound: the reference reading builds a whole `Value`.
    if let Some(body) = body {
        check_body_against_value(data, &body);
    }
    // A query string is text; actix hands the handler `Uri::query()`, a `&str`.
    if let Ok(query) = std::str::from_utf8(data) {
        let parsed = within_allocation_bound(data.len(), "query", || history_query(query));
        if let Some(parsed) = parsed {
            check_query_against_pairs(query, &parsed);
        }
    }
});

/// `POST /api/messages` up to the room actor; the body, if it parsed.
fn post_body(data: &[u8], limits: &Limits) -> Option<PostMessage> {
    let body = match json_extractor(data) {
        Ok(body) => body,
        Err(error) => {
            error_body(&error);
            return None;
        }
    };
    let valid = RoomCode::parse(&body.room_code).and_then(|_| {
        Nickname::parse(&body.sender, limits.nickname_max_chars)?;
        Content::parse(&body.content, limits.content_max_chars)?;
        body.client_id.as_deref().map(ClientId::parse).transpose()?;
        Ok(())
    });
    if let Err(error) = valid {
        error_body(&error);
    }
    Some(body)
}

/// actix-web's `JsonBody` (types/json.rs) with the node's `JsonConfig` and `json_error`.
fn json_extractor(data: &[u8]) -> Result<PostMessage, ChatError> {
    if data.len() > JSON_BODY_MAX {
        return Err(ChatError::too_large(format!(
            "request body is larger than {JSON_BODY_MAX} bytes"
        )));
    }
    serde_json::from_slice::<PostMessage>(data).map_err(|e| {
        ChatError::bad_request(format!(
            "invalid JSON body: {}",
            JsonPayloadError::Deserialize(e)
        ))
    })
}

/// A parsed body must say what a plain `Value` reading of the same bytes says, where that
/// reading succeeds (`Value` resolves duplicate keys to the last one, which `PostMessage`
/// refuses). serde also reads a struct from a JSON array, by position, and nothing in the
/// node refuses that: `["K7QX2M","bot","hi"]` is a valid body.
fn check_body_against_value(data: &[u8], body: &PostMessage) {
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
    assert_eq!(
        field("roomCode", 0),
        Some(&Value::from(body.room_code.as_str()))
    );
    assert_eq!(field("sender", 1), Some(&Value::from(body.sender.as_str())));
    assert_eq!(
        field("content", 2),
        Some(&Value::from(body.content.as_str()))
    );
    assert_eq!(
        field("clientId", 3),
        body.client_id.as_deref().map(Value::from).as_ref()
    );
}

/// `GET /api/messages` up to the store; the query, if it parsed.
fn history_query(query: &str) -> Option<HistoryQuery> {
    let parsed = match serde_urlencoded::from_str::<HistoryQuery>(query) {
        Ok(parsed) => parsed,
        Err(e) => {
            let message = format!("invalid query: {}", QueryPayloadError::Deserialize(e));
            error_body(&ChatError::bad_request(message));
            return None;
        }
    };
    if let Err(error) = list(&parsed) {
        error_body(&error);
    }
    Some(parsed)
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
    assert!(
        (1..=HISTORY_MAX).contains(&limit),
        "limit {limit} escaped the clamp"
    );
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
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
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
