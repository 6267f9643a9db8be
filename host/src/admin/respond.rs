//! What every route answers with: JSON bodies, refusals with their status,
//! a 405 naming the allowed methods, a trailing slash ignored, and blocking
//! admin calls run on tokio's blocking pool.

use axum::Json;
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde::Serialize;

use super::{refusal, status_of};
use crate::deploy::AdminError;

/// `/v1/status/` is `/v1/status`, as it always was (axum matches paths exactly).
pub(super) fn trim_trailing_slash<B>(request: &mut Request<B>) {
    let path = request.uri().path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len() || trimmed.is_empty() {
        return;
    }
    let target = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(target) = target.parse() {
        parts.path_and_query = Some(target);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

/// `routes` answer any other method with a 405 naming the `allowed` ones.
pub(super) fn allow<S: Clone + Send + Sync + 'static>(
    routes: MethodRouter<S>,
    allowed: &'static str,
) -> MethodRouter<S> {
    routes.fallback(move |method: Method, uri: Uri| async move {
        let path = uri.path();
        let why = format!("{method} is not allowed on {path} (allowed: {allowed})");
        let mut answer = refusal(AdminError::BadRequest(why), StatusCode::METHOD_NOT_ALLOWED);
        answer
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allowed));
        answer
    })
}

/// Run a [`PluginAdmin`] call on the blocking pool, off the thread that
/// serves the connections; a panic in it is a 500.
pub(super) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(call).await.map_err(|e| {
        tracing::error!(error = %e, "admin API: the plugin admin call failed");
        let why = "the plugin admin call failed (see the host's log)";
        (StatusCode::INTERNAL_SERVER_ERROR, why).into_response()
    })
}

pub(super) fn json(value: &impl Serialize) -> Response {
    Json(value).into_response()
}

/// An [`AdminError`] of the API, with the status of [`status_of`].
pub(super) fn refused(error: AdminError) -> Response {
    let status =
        StatusCode::from_u16(status_of(&error)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refusal(error, status)
}
