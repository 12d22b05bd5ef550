//! The browser client, served from the static directory at `/`.

use std::path::Path;

use actix_web::{web, HttpResponse};

/// Shown when the client has not been built, so `/` never answers a bare 404.
const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat node</title></head>
<body><h1>Chat node</h1>
<p>The node is running. The browser client has not been built: run
<code>npm ci &amp;&amp; npm run build</code> in <code>static/</code>, or start the node with
<code>scripts/run.sh</code>, which does it for you.</p></body></html>
"#;

/// Serves `dir` at `/` when it holds an `index.html`, else a placeholder page. The
/// operators' page is the same `index.html` at `/admin` (the client picks its page from the
/// path); it shows nothing without an API key, which every admin API call needs.
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    let index = dir.join("index.html");
    if index.is_file() {
        cfg.route(
            "/admin",
            web::get().to(move || {
                let index = index.clone();
                async move { actix_files::NamedFile::open_async(index).await }
            }),
        );
        cfg.service(actix_files::Files::new("/", dir).index_file("index.html"));
    } else {
        tracing::warn!(dir = %dir.display(), "no browser client found; serving a placeholder");
        cfg.route(
            "/",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(PLACEHOLDER)
            }),
        );
    }
}
