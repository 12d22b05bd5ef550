//! Fuzzes what the REST API parses from a client before it touches any state
//! (src/routes/messages.rs, src/routes/bodies.rs):
//!
//! - the body of `POST /api/messages`: actix's `web::Json` (a 64 KiB limit, then
//!   `serde_json::from_slice` into `JsonObject<PostMessage>`), the JSON error handler of
//!   src/routes/mod.rs, then `PostMessage::validate` (actors/src/protocol/rest.rs), the
//!   handler's own validator;
//! - the query of `GET /api/messages`: actix's `web::Query` (`serde_urlencoded::from_str` into
//!   `HistoryQuery`), then `HistoryQuery::validate` (integers, the clamp, the room code).
//!
//! Every input is tried as both a body and a query string. Each error is encoded as the HTTP
//! error body `{"ok": false, "error": {..}}` (src/error.rs) and read back. Beyond "no panic" it
//! checks that a parsed body or query agrees with a plain reading of the same bytes
//! (`serde_json::Value`, urlencoded pairs) and that, while the node's steps run, the heap
//! stays within a linear bound of the input's length.
//!
//! `PostMessage`, `HistoryQuery`, `JsonObject` and their validation live in
//! `chat_actors::protocol::rest`, which the node's handlers call: what is fuzzed here is the
//! code the node runs, not a copy of it.
#![no_main]

mod common;

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use chat_actors::protocol::rest::{HistoryQuery, JsonObject, PageSize, PostMessage};
use chat_actors::{ChatError, Limits};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde_json::Value;

use common::{assert_error_value, parse_object, within_allocation_bound, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `JSON_BODY_MAX` of src/routes/mod.rs.
const JSON_BODY_MAX: usize = 64 * 1024;
/// The defaults of `--history-default` and `--history-max` (src/config.rs).
const HISTORY_DEFAULT: u32 = 50;
const HISTORY_MAX: u32 = 200;

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
    if let Err(error) = body.validate(limits) {
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
    serde_json::from_slice::<JsonObject<PostMessage>>(data)
        .map(|JsonObject(body)| body)
        .map_err(|e| {
            ChatError::bad_request(format!(
                "invalid JSON body: {}",
                JsonPayloadError::Deserialize(e)
            ))
        })
}

/// A parsed body must say what a plain `Value` reading of the same bytes says, where that
/// reading succeeds (`Value` resolves duplicate keys to the last one, which `PostMessage`
/// refuses). Only an object may parse: serde would read a struct from a JSON array by
/// position, and `JsonObject` refuses that.
fn check_body_against_value(data: &[u8], body: &PostMessage) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Value::Object(map) = &value else {
        panic!("a body that is not a JSON object parsed: {value}");
    };
    let field = |key: &str| map.get(key).filter(|v| !v.is_null());
    assert_eq!(
        field("roomCode"),
        Some(&Value::from(body.room_code.as_str()))
    );
    assert_eq!(field("sender"), Some(&Value::from(body.sender.as_str())));
    assert_eq!(field("content"), Some(&Value::from(body.content.as_str())));
    assert_eq!(
        field("clientId"),
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

/// `messages::list` before its first await: the node's validator, and a check of its clamp.
fn list(query: &HistoryQuery) -> Result<(), ChatError> {
    let size = PageSize {
        default: HISTORY_DEFAULT,
        max: HISTORY_MAX,
    };
    let request = query.validate(size)?;
    assert!(
        (1..=HISTORY_MAX).contains(&request.limit),
        "limit {} escaped the clamp",
        request.limit
    );
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
