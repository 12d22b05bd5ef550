//! The HTTP routes of PROTOCOL.md, one file per resource.

mod health;
mod messages;
mod metrics;
pub use metrics::install as install_metrics;
mod rooms;
mod static_files;
mod ws;

use actix_web::{error::JsonPayloadError, error::QueryPayloadError, web, HttpRequest};
use chat_actors::ChatError;

use crate::error::ApiError;

/// Largest REST JSON body accepted, in bytes.
const JSON_BODY_MAX: usize = 64 * 1024;

/// Registers every route; `static_dir` is served at `/` after the API.
pub fn configure(cfg: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_BODY_MAX)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .service(
        web::scope("/api")
            .route("/health", web::get().to(health::health))
            .route("/ready", web::get().to(health::ready))
            .route("/messages", web::get().to(messages::list))
            .route("/messages", web::post().to(messages::post))
            .route("/rooms", web::post().to(rooms::create))
            .route("/rooms", web::get().to(rooms::list))
            .route("/rooms/{code}", web::get().to(rooms::show))
            .default_service(web::to(not_found)),
    )
    .route("/metrics", web::get().to(metrics::render))
    .route("/ws", web::get().to(ws::upgrade));
    static_files::configure(cfg, static_dir);
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let chat = match &error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ChatError::too_large(format!("request body is larger than {JSON_BODY_MAX} bytes"))
        }
        JsonPayloadError::ContentType => {
            ChatError::bad_request("send the body as application/json")
        }
        other => ChatError::bad_request(format!("invalid JSON body: {other}")),
    };
    ApiError(chat).into()
}

fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError(ChatError::bad_request(format!("invalid query: {error}"))).into()
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError(ChatError::new(
        chat_actors::ErrorCode::NotFound,
        "no such API route",
    )))
}
