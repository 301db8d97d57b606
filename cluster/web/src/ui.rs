//! The web UI: a page and its script and style, embedded in the binary (nothing to build or
//! install). They hold no data: the page asks for a token and then reads everything through
//! the API, as the token's holder. So they are served to anyone, like the health check.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");

/// `/` (the page), `/ui/app.js` and `/ui/app.css`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }))
        .route("/ui/app.js", get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }))
        .route("/ui/app.css", get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
}
