//! `GET /api/openapi.json` and `GET /api/docs`: the REST API described for machines
//! (schemathesis, client generators) and for people.

use actix_web::HttpResponse;

use crate::openapi;

/// `GET /api/openapi.json`: the OpenAPI 3 document.
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::json())
}

/// `GET /api/docs`: the document as a readable page.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(openapi::html())
}
