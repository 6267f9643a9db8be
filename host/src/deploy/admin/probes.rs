//! The probes, for Kubernetes and load balancers, read from the [`Health`]
//! the stream publishes (never waiting on the stream):
//!
//! - `GET /healthz`: 200 `ok` while the process answers and its stream thread
//!   beats its heartbeat; 503 `{"live": false, "reason"}` when it is stuck;
//! - `GET /readyz`: 200 `{"ready": true, "partitions"}` when partitions are
//!   assigned (or the input is open), the claims store answers, a plugin is
//!   loaded, the broker is reachable and no client is fatal; otherwise 503
//!   `{"ready": false, "reasons": [...], "partitions"}`.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::health::Health;

/// How long `/readyz` waits for the claims store's answer.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The two probe routes over `health`.
pub(super) fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn healthz(State(health): State<Health>) -> Response {
    match health.liveness() {
        Ok(()) => "ok".into_response(),
        Err(reason) => {
            tracing::warn!("/healthz: {reason}");
            let body = json!({"live": false, "reason": reason});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn readyz(State(health): State<Health>) -> Response {
    let mut reasons = health.readiness();
    if let Some(probe) = health.store_probe() {
        let asked = tokio::task::spawn_blocking(move || probe());
        match tokio::time::timeout(STORE_PROBE_TIMEOUT, asked).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(why))) => reasons.push(format!("the claims store does not answer: {why}")),
            Ok(Err(e)) => reasons.push(format!("the claims store probe failed: {e}")),
            Err(_) => reasons.push(format!(
                "the claims store does not answer within {STORE_PROBE_TIMEOUT:?}"
            )),
        }
    }
    let partitions = health.assigned().max(0);
    if reasons.is_empty() {
        Json(json!({"ready": true, "partitions": partitions})).into_response()
    } else {
        let body = json!({"ready": false, "reasons": reasons, "partitions": partitions});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}
