//! The body of a deploy: its content type must say it is a component
//! (`application/wasm` or `application/octet-stream`; a browser form or
//! `text/plain` is a 415 before anything is read), and its size is bounded
//! by [`MAX_PLUGIN_BYTES`] and its arrival by `BODY_READ_TIMEOUT` (408).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{MAX_PLUGIN_BYTES, refusal};
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
    let refuse = |status, why: String| refusal(AdminError::BadRequest(why), status);
    let too_large = StatusCode::PAYLOAD_TOO_LARGE;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > MAX_PLUGIN_BYTES as u64) {
        let why = format!("the component is {n} bytes, the limit is {MAX_PLUGIN_BYTES}");
        return Err(refuse(too_large, why));
    }
    let collect = Limited::new(body, MAX_PLUGIN_BYTES).collect();
    let Ok(collected) = tokio::time::timeout(BODY_READ_TIMEOUT, collect).await else {
        let why = format!("the component did not arrive within {BODY_READ_TIMEOUT:?}");
        return Err(refuse(StatusCode::REQUEST_TIMEOUT, why));
    };
    let wasm = match collected {
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
