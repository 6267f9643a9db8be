//! The probes, for Kubernetes and load balancers, read from the [`Health`]
//! the stream publishes (never waiting on the stream):
//!
//! - `GET /healthz`: 200 `ok` while the process answers and its stream thread
//!   beats its heartbeat; 503 `{"live": false, "reason"}` when it is stuck;
//! - `GET /readyz`: 200 `{"ready": true, "partitions"}` when partitions are
//!   assigned, the claims store answers, a plugin is loaded, the broker is
//!   reachable and no client is fatal; otherwise 503 `{"ready": false,
//!   "reasons": [...], "partitions"}`. In file mode (`"mode": "file"` instead
//!   of `partitions`): the input open, a plugin loaded, the store answering.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::health::{Health, Source};

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
    let mut body = json!({"ready": reasons.is_empty()});
    match health.source() {
        Source::Kafka => body["partitions"] = health.assigned().max(0).into(),
        Source::File => body["mode"] = "file".into(),
    }
    if reasons.is_empty() {
        Json(body).into_response()
    } else {
        body["reasons"] = reasons.into();
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn answer(health: &Health, path: &str) -> (u16, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let request = Request::get(path).body(Body::empty()).expect("request");
            let response = router(health.clone())
                .oneshot(request)
                .await
                .expect("answer");
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    }

    #[test]
    fn healthz_turns_503_when_the_stream_stops_beating() {
        let health = Health::new(Source::Kafka, Duration::from_millis(100), None);
        assert_eq!(answer(&health, "/healthz"), (200, "ok".into()));
        health.beat();
        assert_eq!(answer(&health, "/healthz").0, 200);
        std::thread::sleep(Duration::from_millis(300));
        let (status, body) = answer(&health, "/healthz");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("stuck"), "{body}");
        health.beat();
        assert_eq!(answer(&health, "/healthz").0, 200);
    }

    #[test]
    fn readyz_names_what_is_missing_including_the_claims_store() {
        let store_ok = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&store_ok);
        let probe: crate::health::StoreProbe = Arc::new(move || {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("database is locked".into())
            }
        });
        let health = Health::new(Source::Kafka, Duration::from_secs(30), Some(probe));
        health.set_plugin_loaded(true);
        health.set_broker_reachable(true);
        let (status, body) = answer(&health, "/readyz");
        assert_eq!(status, 503);
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let reasons = v["reasons"].to_string();
        assert!(reasons.contains("no partitions assigned"), "{body}");
        assert!(reasons.contains("database is locked"), "{body}");
        health.set_assigned(3);
        store_ok.store(true, std::sync::atomic::Ordering::Relaxed);
        let (status, body) = answer(&health, "/readyz");
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"partitions":3,"ready":true}"#)
        );
    }
}
