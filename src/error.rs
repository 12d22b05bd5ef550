//! Errors at the HTTP edge: every failure becomes `{"ok": false, "error": {code, message}}`
//! with the status that one table below assigns to its code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chat_actors::{ChatError, ErrorCode};
use serde::Serialize;

/// The HTTP status of each protocol error code (PROTOCOL.md, "HTTP API").
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::TooLarge => StatusCode::BAD_REQUEST,
        // `not_in_room` cannot happen over REST; it is a client error if it ever does.
        ErrorCode::NotInRoom => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
    }
}

/// A protocol error on its way out of a REST handler.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub ChatError);

#[derive(Serialize)]
struct ErrorBody<'a> {
    ok: bool,
    error: &'a ChatError,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.code)
    }

    fn error_response(&self) -> HttpResponse {
        self.0.count();
        let mut response = HttpResponse::build(self.status_code());
        if self.0.code == ErrorCode::Unauthorized {
            // RFC 6750: a 401 names the scheme the client should use.
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.json(ErrorBody {
            ok: false,
            error: &self.0,
        });
        // For the node's own count of refusals (`count_rejections`), which needs the hub.
        response.extensions_mut().insert(self.0.code);
        response
    }
}

/// Counts every REST refusal in the node's stats (`stats/counters.rs`), by the code the
/// error response carries; the process-wide metric is counted where the response is made.
pub async fn count_rejections<B: actix_web::body::MessageBody>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    let response = next.call(req).await?;
    if let (Some(state), Some(code)) = (state, response.response().extensions().get::<ErrorCode>())
    {
        state.hub.counters.rejected(*code);
    }
    Ok(response)
}

/// Result of a REST handler.
pub type ApiResult<T> = Result<T, ApiError>;
