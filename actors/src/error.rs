//! The protocol's error codes, and the one error type that crosses actor boundaries.
//!
//! Every failure a client can see is a [`ChatError`]: a code from PROTOCOL.md plus a
//! human-readable message. The HTTP edge maps the code to a status in one table
//! (`src/error.rs` of the node); the WebSocket session writes it into an ack or an
//! `error` push.

use serde::Serialize;

/// An error code of the wire contract. The set is closed: clients switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, unknown event, missing or ill-typed field.
    BadRequest,
    /// No such room.
    NotFound,
    /// The session has not joined that room.
    NotInRoom,
    /// Content, nickname, frame or a count (rooms per session) over its limit.
    TooLarge,
    /// The session sent too many messages recently.
    RateLimited,
    /// The store cannot take the write now; nothing was stored; retrying is safe.
    Unavailable,
    /// A bug or an unexpected failure on our side.
    Internal,
    /// The operation needs an API key and came without a valid one (HTTP 401).
    Unauthorized,
    /// The caller may not do this (HTTP 403): a browser origin that is not allowed, or a
    /// change to a message that is not the caller's.
    Forbidden,
}

impl ErrorCode {
    /// Every code, for metrics that pre-register a series per code.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::NotInRoom,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
    ];

    /// The code as it appears on the wire and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
        }
    }
}

/// An error as the client sees it: `{"code": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ChatError {
    /// What kind of failure, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ChatError {
    /// Builds an error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ChatError {
            code,
            message: message.into(),
        }
    }

    /// `bad_request` with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `not_found` for a room code.
    pub fn room_not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such room")
    }

    /// `not_in_room`: the session must join first.
    pub fn not_in_room() -> Self {
        Self::new(ErrorCode::NotInRoom, "join the room first")
    }

    /// `too_large` with a message.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }

    /// `unavailable`: the store did not take the write; nothing was stored.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "the message store is unavailable; nothing was stored, retry with the same clientId",
        )
    }

    /// `rate_limited` for a session over its send rate.
    pub fn send_rate_limited() -> Self {
        Self::new(
            ErrorCode::RateLimited,
            "too many messages; wait a moment before sending again",
        )
    }

    /// `bad_request` for a message whose text the store cannot hold.
    pub fn unstorable() -> Self {
        Self::bad_request("the message store cannot hold this text")
    }

    /// `internal` with a message; the details belong in the log, not here.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// Records this error in `chat_errors_total{code}`.
    pub fn count(&self) {
        metrics::counter!(crate::metric_names::ERRORS, "code" => self.code.as_str()).increment(1);
    }
}
