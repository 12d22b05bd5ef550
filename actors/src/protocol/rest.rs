//! What REST clients send: the body of `POST /api/messages` and the query of
//! `GET /api/messages`, with their validation.
//!
//! They live here, beside the WebSocket events, so that the handlers of the node and the
//! fuzz targets read and check a request with the very same code. With the `openapi`
//! feature the types also describe themselves to the node's OpenAPI document.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::ChatError;
use crate::ids::{MessageId, Nickname, RoomCode};
use crate::limits::Limits;

use super::{message_fields, message_id, nickname, SendChat};

/// A request body that must be a JSON object. Serde's derived structs also accept their
/// fields as an array, by position; the API documents objects, so anything else is a
/// `bad_request` instead of a guess.
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a map and hands it to `T`; refuses every other JSON type.
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(JsonObject)
    }
}

/// Body of `POST /api/messages`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PostMessage {
    /// The room's code, any case.
    #[cfg_attr(feature = "openapi", schema(example = "K7QX2M"))]
    pub room_code: String,
    /// Who the message is from; follows the nickname rules (1..32 characters after
    /// trimming, no control, separator or format characters; the server also keeps the
    /// joiners and tags inside emoji sequences, which the pattern leaves out). The patterns
    /// spell out the characters Rust's `str::trim` removes, because the `\s` of other
    /// regex dialects differs from it.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "deploy-bot",
            min_length = 1,
            max_length = 32,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]*[^\u0000-\u001F\u007F-\u009F \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB]*$"
        )
    )]
    pub sender: String,
    /// The message, 1..2000 characters after trimming; newlines and tabs are its only
    /// control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "build 118 is green",
            min_length = 1,
            max_length = 2000,
            pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
        )
    )]
    pub content: String,
    /// Idempotency key (1..64 characters): a repeat answers 200 with the original. Null
    /// means absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
        )
    )]
    pub client_id: Option<String>,
    /// The id of a message of the same room this one replies to (Version 2). Null means
    /// absent.
    #[serde(default, deserialize_with = "whole_number")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 1, example = json!(null)))]
    pub reply_to: Option<u64>,
}

/// An optional non-negative whole number, as JSON Schema's `integer` has it: `12` and
/// `12.0` alike (a generator that follows the schema may write either), but not `12.5`.
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        // 2^64 itself is not below the bound, every float below it converts exactly.
        Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => {
            Ok(Some(f as u64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a non-negative whole number, got {number}"
        ))),
    }
}

impl PostMessage {
    /// The room code, the sender, the content, the idempotency key, then the message
    /// replied to.
    pub fn validate(&self, limits: &Limits) -> Result<(Nickname, SendChat), ChatError> {
        let code = RoomCode::parse(&self.room_code)?;
        let sender = nickname(&self.sender, limits)?;
        let (content, client_id) =
            message_fields(&self.content, self.client_id.as_deref(), limits)?;
        let reply_to = self
            .reply_to
            .map(|id| message_id(id, "replyTo"))
            .transpose()?;
        let send = SendChat {
            code,
            content,
            client_id,
            reply_to,
        };
        Ok((sender, send))
    }
}

/// Query of `GET /api/messages`. Numbers arrive as text so that a bad one is answered with
/// the protocol's `bad_request` rather than a generic parse error.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// The room's code, any case.
    #[cfg_attr(feature = "openapi", param(required = true, value_type = String))]
    pub room_code: Option<String>,
    /// Page size; clamped to 1..200 (default 50).
    #[cfg_attr(feature = "openapi", param(value_type = Option<i64>))]
    pub limit: Option<String>,
    /// Only messages with a smaller id: the previous page's `nextBeforeId`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<i64>))]
    pub before_id: Option<String>,
}

/// A valid history request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The room.
    pub code: RoomCode,
    /// Page size, within `1..=max`.
    pub limit: u32,
    /// Only messages with a smaller id.
    pub before_id: Option<MessageId>,
}

/// How large history pages are, from the node's configuration.
#[derive(Debug, Clone, Copy)]
pub struct PageSize {
    /// Without `limit`.
    pub default: u32,
    /// The most `limit` may ask for; larger asks are clamped.
    pub max: u32,
}

impl HistoryQuery {
    /// `roomCode` present, `limit` and `beforeId` integers (`limit` clamped), then the
    /// room code's shape.
    pub fn validate(&self, size: PageSize) -> Result<HistoryRequest, ChatError> {
        let code = self
            .room_code
            .as_deref()
            .ok_or_else(|| ChatError::bad_request("roomCode is required"))?;
        let limit = match self.limit.as_deref() {
            Some(limit) => parse_integer("limit", limit)?,
            None => i64::from(size.default),
        };
        let limit = limit.clamp(1, i64::from(size.max.max(1))) as u32;
        let before_id: Option<MessageId> = self
            .before_id
            .as_deref()
            .map(|value| parse_integer("beforeId", value))
            .transpose()?;
        let code = RoomCode::parse(code)?;
        Ok(HistoryRequest {
            code,
            limit,
            before_id,
        })
    }
}

fn parse_integer(name: &str, value: &str) -> Result<i64, ChatError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ChatError::bad_request(format!("{name} must be an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const SIZE: PageSize = PageSize {
        default: 50,
        max: 200,
    };

    fn query(
        room_code: Option<&str>,
        limit: Option<&str>,
        before_id: Option<&str>,
    ) -> HistoryQuery {
        HistoryQuery {
            room_code: room_code.map(Into::into),
            limit: limit.map(Into::into),
            before_id: before_id.map(Into::into),
        }
    }

    #[test]
    fn history_queries_clamp_and_check_in_order() {
        let ok = query(Some("k7qx2m"), Some(" 500 "), Some("9"))
            .validate(SIZE)
            .unwrap();
        assert_eq!(
            (ok.code.as_str(), ok.limit, ok.before_id),
            ("K7QX2M", 200, Some(9))
        );
        assert_eq!(
            query(Some("K7QX2M"), Some("0"), None)
                .validate(SIZE)
                .unwrap()
                .limit,
            1
        );
        assert_eq!(
            query(Some("K7QX2M"), None, None)
                .validate(SIZE)
                .unwrap()
                .limit,
            50
        );
        let missing = query(None, Some("x"), None).validate(SIZE).unwrap_err();
        assert_eq!(missing.message, "roomCode is required");
        // A bad number is reported before a code that cannot exist.
        let bad = query(Some("nope"), Some("x"), None)
            .validate(SIZE)
            .unwrap_err();
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (ErrorCode::BadRequest, "limit must be an integer")
        );
        let unknown = query(Some("nope"), None, None).validate(SIZE).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::NotFound);
    }

    #[test]
    fn post_bodies_are_objects_checked_field_by_field() {
        let array = serde_json::from_str::<JsonObject<PostMessage>>(r#"["K7QX2M","bot","hi"]"#);
        assert!(array.is_err());
        let JsonObject(body) = serde_json::from_str::<JsonObject<PostMessage>>(
            r#"{"roomCode":"k7qx2m","sender":" bot ","content":" hi ","clientId":"c1"}"#,
        )
        .unwrap();
        let (sender, send) = body.validate(&Limits::default()).unwrap();
        assert_eq!((sender.as_str(), send.content.as_str()), ("bot", "hi"));
        assert_eq!(
            send.client_id.map(|c| c.as_str().to_owned()).as_deref(),
            Some("c1")
        );
        for (body, reply_to) in [
            (r#""replyTo":12"#, Some(12)),
            (r#""replyTo":12.0"#, Some(12)),
            (r#""replyTo":null"#, None),
        ] {
            let json = format!(r#"{{"roomCode":"K7QX2M","sender":"b","content":"c",{body}}}"#);
            let JsonObject(body) = serde_json::from_str::<JsonObject<PostMessage>>(&json).unwrap();
            assert_eq!(body.reply_to, reply_to, "{json}");
        }
        for bad in [r#""replyTo":12.5"#, r#""replyTo":-1"#, r#""replyTo":"12""#] {
            let json = format!(r#"{{"roomCode":"K7QX2M","sender":"b","content":"c",{bad}}}"#);
            assert!(
                serde_json::from_str::<JsonObject<PostMessage>>(&json).is_err(),
                "{json}"
            );
        }
        let blank_sender = PostMessage {
            room_code: "K7QX2M".into(),
            sender: " ".into(),
            content: String::new(),
            client_id: None,
            reply_to: None,
        };
        // The sender is checked before the content.
        let error = blank_sender.validate(&Limits::default()).unwrap_err();
        assert_eq!(error.message, "nickname is empty");
    }
}
