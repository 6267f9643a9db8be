//! `GET /`: the live status page, and the two files it loads. They are
//! compiled into the binary (`include_str!`), so the page works with no
//! network beyond this host: the script polls `/metrics`, `/v1/plugins` and
//! `/v1/status` and draws its charts on canvases.
//!
//! Every file is served with `X-Content-Type-Options: nosniff` and a strict
//! `Content-Security-Policy` (`CSP`): scripts, styles and requests from this
//! host only, nothing inline, no frames, no forms, so an injected string
//! (a plugin name, a failure reason) can never run as script.

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/status.js");
const STYLE: &str = include_str!("page/status.css");

/// What the page may load and do: its own script, style and API calls.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `/`, `/assets/status.js` and `/assets/status.css`.
pub(super) fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/assets/status.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/status.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
}
