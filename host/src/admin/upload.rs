//! The body of a write: a deploy's content type must say it is a component
//! (`application/wasm` or `application/octet-stream`; a browser form or
//! `text/plain` is a 415 before anything is read), and every body's size is
//! bounded ([`MAX_PLUGIN_BYTES`] for a component, [`MAX_CLAIMS_BYTES`] for
//! claims) and its arrival by `BODY_READ_TIMEOUT` (408).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{MAX_CLAIMS_BYTES, MAX_PLUGIN_BYTES, refusal};
use crate::deploy::{AdminError, printable};

/// How long the whole component may take to arrive (64 MiB at ~1 MB/s).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The content types a component may be sent as.
pub const COMPONENT_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

/// Why the request is a 415, unless it says its body is a component.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let essence = declared
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if essence.is_some_and(|t| COMPONENT_TYPES.contains(&t.as_str())) {
        return Ok(());
    }
    let sent = declared.map_or("none".to_owned(), printable);
    Err(format!(
        "a component is sent as Content-Type {} (this request: {sent})",
        COMPONENT_TYPES.join(" or ")
    ))
}

/// The component, or the refusal: 413 above [`MAX_PLUGIN_BYTES`] (by its
/// `Content-Length` before reading any of it, or while a chunked body
/// streams), 400 when empty or cut off.
pub(super) async fn read_component(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    read_body(headers, body, MAX_PLUGIN_BYTES, "the component").await
}

/// The claims of `POST /v1/claims` (a CSV or JSON-lines file), bounded by
/// [`MAX_CLAIMS_BYTES`] as a component is by its limit.
pub(super) async fn read_claims_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    read_body(headers, body, MAX_CLAIMS_BYTES, "the claims file").await
}

/// The whole body, or the refusal: 413 above `limit` (by its `Content-Length`
/// before reading any of it, or while a chunked body streams), 408 when it
/// does not arrive in time, 400 when empty or cut off. `what` names it.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &str,
) -> Result<Bytes, Response> {
    let refuse = |status, why: String| refusal(AdminError::BadRequest(why), status);
    let too_large = StatusCode::PAYLOAD_TOO_LARGE;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        let why = format!("{what} is {n} bytes, the limit is {limit}");
        return Err(refuse(too_large, why));
    }
    let collect = Limited::new(body, limit).collect();
    let Ok(collected) = tokio::time::timeout(BODY_READ_TIMEOUT, collect).await else {
        let why = format!("{what} did not arrive within {BODY_READ_TIMEOUT:?}");
        return Err(refuse(StatusCode::REQUEST_TIMEOUT, why));
    };
    let bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            let why = format!("{what} is over the limit of {limit} bytes");
            return Err(refuse(too_large, why));
        }
        Err(e) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("reading the body: {e}"),
            ));
        }
    };
    if bytes.is_empty() {
        let why = format!("the request body ({what}) is empty");
        return Err(refuse(StatusCode::BAD_REQUEST, why));
    }
    Ok(bytes)
}
