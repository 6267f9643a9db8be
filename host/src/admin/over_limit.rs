//! A connection past the admin API's connection cap: the probes still get
//! their answer, everything else a 503 at once.
//!
//! Idle or slow clients can hold every slot of the cap (each for up to the
//! head timeout); a kubelet whose `/healthz` then gets 503 would restart a
//! healthy pod. So a connection over the cap has its request head read here
//! for a moment (`PROBE_HEAD_TIMEOUT`, a probe sends its request as soon as
//! it connects): `GET /healthz` and `GET /readyz` are answered by the probe
//! routes, anything else (or nothing in time) gets `503` with `Retry-After`.
//! As many connections as the cap may wait here at once; one more is closed.
//! Over TLS the head cannot be read without a handshake: such a connection
//! is closed (serve probes over plain HTTP, or raise the cap).

use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;

use super::ErrorBody;
use crate::deploy::AdminError;

/// How long a connection over the cap has to send its request head.
const PROBE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// How long it has to read its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest head read here (a probe's is a few hundred bytes).
const MAX_HEAD: usize = 4096;

/// Answer a plain-HTTP connection over the cap: a probe through `probes`,
/// anything else 503. `_slot` bounds how many wait here.
pub(super) async fn answer_over_limit(
    mut stream: TcpStream,
    probes: Router,
    limit: usize,
    _slot: OwnedSemaphorePermit,
) {
    let head = tokio::time::timeout(PROBE_HEAD_TIMEOUT, read_head(&mut stream)).await;
    let probe = match head {
        Ok(Ok(head)) => probe_path(&head),
        _ => None,
    };
    let answer = match probe {
        Some(path) => probe_answer(probes, path).await,
        None => busy_answer(limit),
    };
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the connection
        // before it has read the answer.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// The request head, up to its blank line (or `MAX_HEAD` bytes).
async fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// `/healthz` or `/readyz` when the head is a GET of one of them.
fn probe_path(head: &[u8]) -> Option<&'static str> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    let path = target.split('?').next()?.trim_end_matches('/');
    match (method, path) {
        ("GET", "/healthz") => Some("/healthz"),
        ("GET", "/readyz") => Some("/readyz"),
        _ => None,
    }
}

/// The probe route's answer, as HTTP/1.1 bytes.
async fn probe_answer(probes: Router, path: &str) -> Vec<u8> {
    let Ok(request) = Request::get(path).body(Body::empty()) else {
        return Vec::new();
    };
    let Ok(response) = probes.oneshot(request).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_owned();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// `503` with `Retry-After`: come back later.
fn busy_answer(limit: usize) -> Vec<u8> {
    let why = format!("the admin API serves {limit} connections at once; try again");
    let body = serde_json::to_string(&ErrorBody {
        error: AdminError::Unavailable(why),
    })
    .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::probe_path;

    #[test]
    fn only_probe_gets_are_probes() {
        let path = |head: &str| probe_path(head.as_bytes());
        assert_eq!(
            path("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/healthz")
        );
        assert_eq!(
            path("GET /readyz/?verbose HTTP/1.1\r\n\r\n"),
            Some("/readyz")
        );
        for other in [
            "POST /healthz HTTP/1.1",
            "GET /metrics HTTP/1.1",
            "GET /healthzz HTTP/1.1",
            "",
        ] {
            assert_eq!(path(other), None, "{other:?}");
        }
    }
}
