//! `claims sync --metrics-addr`: `GET /metrics` (OpenMetrics) and `GET
//! /healthz` for a running sync, served by a thread of its own (a
//! current-thread tokio runtime), read-only, from the same [`SyncProgress`]
//! the status line reads: snapshot rows, changes, deletions, rejected rows,
//! the lag in bytes of WAL and in seconds, the acknowledged position, and
//! whether the stream has started. The replication loop never waits for it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use super::SyncError;
use super::status::SyncProgress;
use crate::observe::openmetrics::{CONTENT_TYPE as OPENMETRICS, counter, gauge};

/// The metrics server of one sync; dropping it stops the server and joins its thread.
pub struct SyncMetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SyncMetricsServer {
    /// Bind `addr` (port 0: any free port) and serve `progress`.
    pub fn start(addr: SocketAddr, progress: Arc<SyncProgress>) -> Result<Self, SyncError> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| SyncError::Setup(format!("--metrics-addr {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SyncError::Setup(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = Router::new()
            .route("/metrics", get(scrape))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(Metrics(progress));
        let thread = std::thread::Builder::new()
            .name("sync-metrics".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => return tracing::error!(%error, "the metrics server cannot start"),
                };
                runtime.block_on(async move {
                    let served = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            axum::serve(listener, router)
                                .with_graceful_shutdown(async {
                                    let _ = stopped.await;
                                })
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(error) = served {
                        tracing::error!(%error, "the metrics server stopped");
                    }
                });
            })
            .map_err(|e| SyncError::Setup(format!("starting the metrics thread: {e}")))?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SyncMetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Metrics(Arc<SyncProgress>);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics));
    let mut text = String::with_capacity(2048);
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        )
            .into_response(),
    }
}

impl Collector for Metrics {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let s = self.0.status();
        let e = &mut e;
        counter(
            e,
            "enricher_claims_sync_snapshot_rows",
            "Snapshot rows published to the changelog (durable)",
            s.snapshot_rows,
        )?;
        counter(
            e,
            "enricher_claims_sync_changes",
            "Changes published since the start (upserts and deletions, durable)",
            s.changes,
        )?;
        counter(
            e,
            "enricher_claims_sync_deleted",
            "Deletions published (a subset of changes)",
            s.deleted,
        )?;
        counter(
            e,
            "enricher_claims_sync_rejected",
            "Rows that failed the claims checks (skipped and logged)",
            s.rejected,
        )?;
        if let Some(bytes) = s.lag_bytes {
            gauge(
                e,
                "enricher_claims_sync_lag_bytes",
                "Bytes of WAL between the server's position and the slot's confirmed one",
                bytes as f64,
            )?;
        }
        gauge(
            e,
            "enricher_claims_sync_lag_seconds",
            "Age of the oldest committed change not yet on the changelog (0 when none is in flight)",
            s.lag_seconds,
        )?;
        gauge(
            e,
            "enricher_claims_sync_acknowledged_lsn",
            "The WAL position acknowledged to the slot (everything before it is on the changelog)",
            s.durable_lsn as f64,
        )?;
        gauge(
            e,
            "enricher_claims_sync_streaming",
            "1 once the snapshot (if any) is published and the stream is followed",
            f64::from(u8::from(s.streaming)),
        )?;
        Ok(())
    }
}
