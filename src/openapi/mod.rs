//! The OpenAPI 3 description of the REST API, generated from the handlers' `#[utoipa::path]`
//! annotations and the bodies they send, so that the document is only as true as the code
//! that serves it. `routes::docs` serves it as JSON and as a page.

pub mod page;
pub mod schemas;

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, bodies, health, messages, metrics, moderation, rooms};

/// The document; the derive collects each operation from its handler.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat-node REST API",
        description = "The HTTP half of the chat node's protocol (docs/protocol.md). Live \
            messages, presence and typing travel over the WebSocket at `GET /ws`, which this \
            document does not describe. Every JSON error is `{\"ok\": false, \"error\": \
            {\"code\", \"message\"}}`."
    ),
    paths(
        health::health,
        health::ready,
        messages::list,
        messages::post,
        rooms::create,
        rooms::list,
        rooms::show,
        moderation::delete,
        metrics::render,
        admin::overview,
        admin::drain,
        admin::resume,
        admin::close_room,
    ),
    components(schemas(
        schemas::RoomSchema,
        schemas::MessageSchema,
        schemas::ReactionSchema,
        schemas::MemberSchema,
        schemas::ErrorSchema,
        schemas::ErrorCodeSchema,
        schemas::ErrorBody,
        bodies::PostMessage,
    )),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "rooms", description = "Create rooms and look them up."),
        (name = "messages", description = "History pages and sends by integrations."),
        (name = "probes", description = "Liveness, readiness and metrics for operators."),
        (name = "operators", description = "The operators' page (`/admin`) and what it does: every node's figures, drain and resume a node, close a room. Every call needs an API key and is written to the audit log with the key's label."),
    )
)]
pub struct ApiDoc;

/// The name of the integration-key scheme the keyed operations refer to.
pub const API_KEY_SCHEME: &str = "apiKey";

/// Declares the integration key: `Authorization: Bearer <key>`, needed by the operations
/// that list it when the node has keys configured (`--api-keys`).
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An integration key (`--api-keys`). Needed only when the node has \
                         keys configured; otherwise the operation is open.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON, built once: it depends on nothing that changes at run time.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        fix_link_keys(&mut document);
        serde_json::to_string_pretty(&document)
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    })
}

/// utoipa 5 writes the fields of a Link Object in snake case (`operation_id`); OpenAPI
/// spells them in camel case, and tools that follow links (schemathesis's stateful phase)
/// ignore the snake-case keys. Renames them in every response's `links`.
fn fix_link_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut() {
                    if let Value::Object(link) = link {
                        for (snake, camel) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(field) = link.remove(snake) {
                                link.insert(camel.to_string(), field);
                            }
                        }
                    }
                }
            }
            map.values_mut().for_each(fix_link_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(fix_link_keys),
        _ => {}
    }
}

/// The document rendered as a self-contained HTML page, built once.
pub fn html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        let document = serde_json::from_str(json()).unwrap_or_default();
        page::render(&document)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn links_use_the_openapi_key_names_and_name_real_operations() {
        let document: Value = serde_json::from_str(json()).unwrap();
        let link = &document["paths"]["/api/rooms"]["post"]["responses"]["201"]["links"]["GetRoom"];
        assert_eq!(link["operationId"], "getRoom");
        assert!(link.get("operation_id").is_none());
        assert_eq!(
            document["paths"]["/api/rooms/{code}"]["get"]["operationId"],
            "getRoom"
        );
    }
}
