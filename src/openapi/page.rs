//! `GET /api/docs`: the OpenAPI document as a plain, self-contained HTML page, rendered on
//! the server. No script, no inline style and nothing from a CDN, so it works offline and
//! under the node's strict Content-Security-Policy.

use std::fmt::Write;

use serde_json::Value;

/// HTTP methods in the order a reader expects them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Renders the document: one section per operation (parameters, request body, responses
/// and links), then the schemas as JSON.
pub fn render(document: &Value) -> String {
    let mut out = String::new();
    let title = text(&document["info"]["title"]);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body>\n<h1>{title} {version}</h1>\n<p>{description}</p>\n\
         <p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a> (OpenAPI {openapi}).</p>\n",
        version = text(&document["info"]["version"]),
        description = text(&document["info"]["description"]),
        openapi = text(&document["openapi"]),
    );
    out.push_str("<h2>Operations</h2>\n");
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    operation_section(&mut out, method, path, operation);
                }
            }
        }
    }
    let _ = write!(
        out,
        "<h2>Schemas</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&serde_json::to_string_pretty(&document["components"]).unwrap_or_default())
    );
    out
}

fn operation_section(out: &mut String, method: &str, path: &str, operation: &Value) {
    let _ = write!(
        out,
        "<section id=\"{id}\"><h3><code>{method} {path}</code></h3>\n<p>{summary}</p>\n",
        id = text(&operation["operationId"]),
        method = method.to_uppercase(),
        path = escape(path),
        summary = text(&operation["summary"]),
    );
    if let Some(parameters) = operation["parameters"].as_array() {
        out.push_str("<h4>Parameters</h4>\n<ul>\n");
        for parameter in parameters {
            let _ = writeln!(
                out,
                "<li><code>{name}</code> ({place}{required}, {kind}): {description}</li>",
                name = text(&parameter["name"]),
                place = text(&parameter["in"]),
                required = if parameter["required"] == true {
                    ", required"
                } else {
                    ""
                },
                kind = schema_name(&parameter["schema"]),
                description = text(&parameter["description"]),
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(content) = operation["requestBody"]["content"].as_object() {
        out.push_str("<h4>Request body</h4>\n<ul>\n");
        for (media, body) in content {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {}</li>",
                escape(media),
                schema_name(&body["schema"])
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(responses) = operation["responses"].as_object() {
        out.push_str("<h4>Responses</h4>\n<ul>\n");
        for (status, response) in responses {
            let bodies: Vec<String> = response["content"]
                .as_object()
                .map(|content| {
                    content
                        .iter()
                        .map(|(media, body)| {
                            format!(
                                "<code>{}</code> {}",
                                escape(media),
                                schema_name(&body["schema"])
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<li><strong>{}</strong> {} {}",
                escape(status),
                text(&response["description"]),
                bodies.join(", ")
            );
            if let Some(links) = response["links"].as_object() {
                let names: Vec<String> = links
                    .iter()
                    .map(|(name, link)| {
                        format!(
                            "<a href=\"#{}\">{}</a>",
                            text(&link["operationId"]),
                            escape(name)
                        )
                    })
                    .collect();
                let _ = write!(out, "; links: {}", names.join(", "));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// A short name for a schema: the referenced component, or the JSON type.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return format!(
            "<code>{}</code>",
            escape(reference.rsplit('/').next().unwrap_or(reference))
        );
    }
    match &schema["type"] {
        Value::Null => "<code>object</code>".into(),
        kind => format!(
            "<code>{}</code>",
            escape(&kind.to_string().replace('"', ""))
        ),
    }
}

/// A JSON string as escaped HTML; anything else as nothing.
fn text(value: &Value) -> String {
    value.as_str().map(escape).unwrap_or_default()
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_gets_a_section_and_text_is_escaped() {
        let document = serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t<script>", "version": "1"},
            "paths": {"/api/rooms": {"post": {"operationId": "createRoom",
                "responses": {"201": {"description": "made"}}}}},
        });
        let page = render(&document);
        assert!(page.contains("<code>POST /api/rooms</code>"));
        assert!(page.contains("t&lt;script&gt;"));
        assert!(!page.contains("<script>"));
    }
}
