//! The admin API's routes as an axum [`Router`] over a [`PluginAdmin`]: the
//! handlers, their JSON answers and refusals (404, 405 with `Allow`, 413 for a
//! component above [`MAX_PLUGIN_BYTES`], checked before any of it is read),
//! and the `name` query parameter. The [`PluginAdmin`] calls block (a deploy
//! compiles wasm), so they run on tokio's blocking pool.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use super::{ErrorBody, MAX_PLUGIN_BYTES, status_of};
use crate::deploy::{AdminError, PluginAdmin};

type Api = Arc<dyn PluginAdmin>;

/// Every route of the API (see the table in [`super`]).
pub(super) fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/plugins", allow(get(list).post(deploy), "GET, POST"))
        .route("/v1/plugins/rollback", allow(post(rollback), "POST"))
        .route("/v1/status", allow(get(status), "GET"))
        .fallback(|uri: Uri| async move {
            let why = format!("no such route: {}", uri.path());
            refusal(AdminError::BadRequest(why), StatusCode::NOT_FOUND)
        })
        .with_state(api)
}

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
fn allow(routes: MethodRouter<Api>, allowed: &'static str) -> MethodRouter<Api> {
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

/// `POST /v1/plugins`: the body is the component, `name` an optional query
/// parameter.
async fn deploy(
    State(api): State<Api>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bad = |why: String| refusal(AdminError::BadRequest(why), StatusCode::BAD_REQUEST);
    let name = match query_param(query.as_deref().unwrap_or_default(), "name") {
        Ok(name) => name,
        Err(why) => return bad(why),
    };
    let wasm = match read_component(&headers, body).await {
        Ok(wasm) => wasm,
        Err(refused) => return refused,
    };
    let bytes = wasm.len();
    match blocking(move || api.deploy(&wasm, name.as_deref())).await {
        Ok(Ok(report)) => {
            let (key, sha256) = (&report.deployed.key, &report.deployed.sha256);
            let (fleet, check_ms) = (report.fleet, report.check_ms);
            tracing::info!(%key, %sha256, fleet, check_ms, "plugin deployed");
            json(&report)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, bytes, "plugin deploy refused");
            refused(e)
        }
        Err(failed) => failed,
    }
}

/// The component, or the refusal: 413 above [`MAX_PLUGIN_BYTES`] (by its
/// `Content-Length` before reading any of it, or while a chunked body
/// streams), 400 when empty or cut off.
async fn read_component(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let refuse = |status, why: String| refusal(AdminError::BadRequest(why), status);
    let too_large = StatusCode::PAYLOAD_TOO_LARGE;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > MAX_PLUGIN_BYTES as u64) {
        let why = format!("the component is {n} bytes, the limit is {MAX_PLUGIN_BYTES}");
        return Err(refuse(too_large, why));
    }
    let wasm = match Limited::new(body, MAX_PLUGIN_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            let why = format!("the component is over the limit of {MAX_PLUGIN_BYTES} bytes");
            return Err(refuse(too_large, why));
        }
        Err(e) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("reading the body: {e}"),
            ));
        }
    };
    if wasm.is_empty() {
        let why = "the request body (the component) is empty".to_owned();
        return Err(refuse(StatusCode::BAD_REQUEST, why));
    }
    Ok(wasm)
}

async fn list(State(api): State<Api>) -> Response {
    match blocking(move || api.list()).await {
        Ok(versions) => json(&versions),
        Err(failed) => failed,
    }
}

async fn rollback(State(api): State<Api>) -> Response {
    match blocking(move || api.rollback()).await {
        Ok(Ok(report)) => {
            let (from, to) = (&report.from, &report.to);
            tracing::info!(%from, %to, fleet = report.fleet, "plugin rolled back");
            json(&report)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "plugin rollback refused");
            refused(e)
        }
        Err(failed) => failed,
    }
}

async fn status(State(api): State<Api>) -> Response {
    match blocking(move || api.status()).await {
        Ok(status) => json(&status),
        Err(failed) => failed,
    }
}

/// Run a [`PluginAdmin`] call on the blocking pool, off the thread that
/// serves the connections; a panic in it is a 500.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(call).await.map_err(|e| {
        tracing::error!(error = %e, "admin API: the plugin admin call failed");
        let why = "the plugin admin call failed (see the host's log)";
        (StatusCode::INTERNAL_SERVER_ERROR, why).into_response()
    })
}

fn json(value: &impl Serialize) -> Response {
    Json(value).into_response()
}

/// An [`AdminError`] of the API, with the status of [`status_of`].
fn refused(error: AdminError) -> Response {
    let status =
        StatusCode::from_u16(status_of(&error)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refusal(error, status)
}

fn refusal(error: AdminError, status: StatusCode) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

/// The URL-decoded value of `key` in a query string (`+` is a space).
fn query_param(query: &str, key: &str) -> Result<Option<String>, String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if url_decode(k)? == key {
            return url_decode(v).map(Some);
        }
    }
    Ok(None)
}

fn url_decode(s: &str) -> Result<String, String> {
    // `percent-encoding` passes a malformed escape through; refuse it instead.
    let well_formed = s.split('%').skip(1).all(|after| {
        let digits = after.as_bytes().get(..2);
        digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(format!("bad percent-encoding in the query: {s}"));
    }
    match percent_decode_str(&s.replace('+', " ")).decode_utf8() {
        Ok(decoded) => Ok(decoded.into_owned()),
        Err(_) => Err(format!("the query is not UTF-8: {s}")),
    }
}
