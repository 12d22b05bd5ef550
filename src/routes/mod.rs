//! The HTTP routes of PROTOCOL.md, one file per resource.

pub(crate) mod admin;
pub(crate) mod bodies;
mod docs;
pub(crate) mod health;
pub(crate) mod messages;
pub(crate) mod metrics;
pub(crate) mod moderation;
pub use metrics::install as install_metrics;
pub(crate) mod rooms;
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
            .service(resource("/health", "GET").route(web::get().to(health::health)))
            .service(resource("/ready", "GET").route(web::get().to(health::ready)))
            .service(
                resource("/messages", "GET, POST")
                    .route(web::get().to(messages::list))
                    .route(web::post().to(messages::post)),
            )
            .service(
                resource("/rooms", "GET, POST")
                    .route(web::post().to(rooms::create))
                    .route(web::get().to(rooms::list)),
            )
            .service(resource("/rooms/{code}", "GET").route(web::get().to(rooms::show)))
            .service(
                resource("/rooms/{code}/messages/{id}", "DELETE")
                    .route(web::delete().to(moderation::delete)),
            )
            .service(resource("/admin/overview", "GET").route(web::get().to(admin::overview)))
            .service(
                resource("/admin/nodes/{node}/drain", "POST").route(web::post().to(admin::drain)),
            )
            .service(
                resource("/admin/nodes/{node}/resume", "POST").route(web::post().to(admin::resume)),
            )
            .service(
                resource("/admin/rooms/{code}", "DELETE")
                    .route(web::delete().to(admin::close_room)),
            )
            .service(resource("/openapi.json", "GET").route(web::get().to(docs::spec)))
            .service(resource("/docs", "GET").route(web::get().to(docs::page)))
            .default_service(web::to(not_found)),
    )
    .service(resource("/metrics", "GET").route(web::get().to(metrics::render)))
    .route("/ws", web::get().to(ws::upgrade));
    static_files::configure(cfg, static_dir);
}

/// A resource that answers its other methods with 405 and the `Allow` header (RFC 9110),
/// so that a client learns what it may do instead of being told the path does not exist.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || method_not_allowed(allow)))
}

async fn method_not_allowed(allow: &'static str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allow))
        .json(serde_json::json!({
            "ok": false,
            "error": {"code": "bad_request", "message": format!("method not allowed; use {allow}")},
        }))
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
