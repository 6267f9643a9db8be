//! `GET /metrics`: the host's metrics in the Prometheus (OpenMetrics) text
//! format, encoded by `prometheus-client` from a registry this server owns
//! (no global registry). One [`Collector`] reads, at each scrape, the atomics
//! the stream thread adds to ([`StreamMeter`]), the lookup's atomic counters
//! and the plugin admin's status; the stream never waits for a scrape.
//! Labels are bounded: outputs, statuses (capped), topic/partition, state,
//! and the active plugin's identity; never a payment or claim id. A reader
//! route: with `admin.open-reads = false` it needs the token (Prometheus
//! sends it with `authorization.credentials_file`).

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::access::{AdminAccess, Reader};
use crate::deploy::PluginAdmin;
use crate::lookup::ClaimsLookup;
use crate::observe::openmetrics::{CONTENT_TYPE as OPENMETRICS, counter, gauge};
use crate::observe::{HistogramSnapshot, PipelineState, StreamMeter};
use crate::pipeline::is_plugin_error;

/// What `/metrics` and the status page read on a running host.
#[derive(Clone)]
pub struct Observed {
    /// The stream's counters and histograms.
    pub meter: Arc<StreamMeter>,
    /// Cache and store counters (atomics).
    pub lookup: Arc<ClaimsLookup>,
    /// The active plugin, its history, swaps and rollbacks.
    pub plugins: Arc<dyn PluginAdmin>,
    /// `file` or `kafka`, a label of `enricher_pipeline_state`.
    pub mode: &'static str,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("mode", &self.mode)
            .finish()
    }
}

/// What a scrape reads, and who may scrape.
#[derive(Clone)]
struct ScrapeState {
    observed: Observed,
    access: Arc<AdminAccess>,
}

impl FromRef<ScrapeState> for Arc<AdminAccess> {
    fn from_ref(state: &ScrapeState) -> Self {
        Arc::clone(&state.access)
    }
}

/// `/metrics` over `observed`, for the readers `access` lets in.
pub(super) fn router(observed: Observed, access: Arc<AdminAccess>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(ScrapeState { observed, access })
}

impl Observed {
    /// The `/metrics` text of this moment: what a scrape answers.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

async fn scrape(State(state): State<ScrapeState>, _: Reader) -> Response {
    match state.observed.render() {
        Ok(text) => ([(CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed",
            )
                .into_response()
        }
    }
}

impl Collector for Observed {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let m = &self.meter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        counter(
            &mut e,
            "enricher_records_in",
            "Records handed to the pipeline",
            load(&m.records_in),
        )?;
        let out = m.records_out();
        {
            let help = "Records written, per output (enriched, failed) and enrichment_status";
            let mut family =
                e.encode_descriptor("enricher_records_out", help, None, MetricType::Counter)?;
            for (output, status, n) in &out {
                let labels = [("output", *output), ("status", status.as_str())];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(n, None)?;
            }
        }
        self.encode_lookup(&mut e)?;
        histogram(
            &mut e,
            "enricher_processing_latency_seconds",
            "From a record's timestamp (files: its arrival) to its outputs routed",
            &m.processing_latency.snapshot(),
        )?;
        self.encode_plugin(&mut e, &out)?;
        if self.mode == "kafka" {
            self.encode_kafka(&mut e)?;
        }
        let uptime = m.started.elapsed().as_secs_f64();
        let help = "Seconds since the pipeline started (rates are per second of it)";
        gauge(&mut e, "enricher_uptime_seconds", help, uptime)?;
        let mut family = e.encode_descriptor(
            "enricher_pipeline_state",
            "1 for the state the pipeline is in",
            None,
            MetricType::Gauge,
        )?;
        let now = m.state();
        for state in PipelineState::ALL {
            let labels = [("mode", self.mode), ("state", state.label())];
            family
                .encode_family(&labels)?
                .encode_gauge(&i64::from(state == now))?;
        }
        Ok(())
    }
}

impl Observed {
    fn encode_lookup(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let s = self.lookup.stats();
        let c = &s.cache;
        counter(
            e,
            "enricher_lookup_cache_hits",
            "Claim lookups answered from memory (found or known missing)",
            c.hits,
        )?;
        counter(
            e,
            "enricher_lookup_cache_negative_hits",
            "Cache hits that answered 'no such claim' (a subset of hits)",
            c.negative_hits,
        )?;
        counter(
            e,
            "enricher_lookup_cache_misses",
            "Claim lookups the store had to answer",
            c.misses,
        )?;
        counter(
            e,
            "enricher_lookup_cache_evictions",
            "Cache entries pushed out to stay within the row limit",
            c.evictions,
        )?;
        counter(
            e,
            "enricher_lookup_cache_expirations",
            "Cache entries found expired (a subset of misses)",
            c.expirations,
        )?;
        gauge(
            e,
            "enricher_lookup_cache_rows",
            "Claim rows held in memory",
            s.rows_in_memory as f64,
        )?;
        let asked = c.hits + c.misses;
        let ratio = if asked == 0 {
            0.0
        } else {
            c.hits as f64 / asked as f64
        };
        gauge(
            e,
            "enricher_lookup_cache_hit_ratio",
            "hits / (hits + misses) since start",
            ratio,
        )?;
        counter(
            e,
            "enricher_lookup_full_reloads",
            "Full-cache reloads of the claims table",
            s.full_reloads,
        )?;
        counter(
            e,
            "enricher_lookup_full_reload_failures",
            "Full-cache reloads that failed",
            s.full_reload_failures,
        )?;
        counter(
            e,
            "enricher_store_queries",
            "Claims store query attempts",
            s.store_queries,
        )?;
        counter(
            e,
            "enricher_store_retries",
            "Claims store queries retried",
            s.store_retries,
        )?;
        counter(
            e,
            "enricher_store_errors",
            "Claims store lookups that failed (DB_ERROR)",
            s.store_errors,
        )?;
        counter(
            e,
            "enricher_store_timeouts",
            "Claims store lookups past their budget (DB_TIMEOUT)",
            s.store_timeouts,
        )?;
        histogram(
            e,
            "enricher_store_query_duration_seconds",
            "One claims store query attempt",
            &self.lookup.store_query_durations(),
        )
    }

    fn encode_plugin(&self, e: &mut DescriptorEncoder, out: &[(&str, String, u64)]) -> fmt::Result {
        let m = &self.meter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let errors: u64 = out
            .iter()
            .filter(|(_, s, _)| is_plugin_error(s))
            .map(|(_, _, n)| n)
            .sum();
        counter(
            e,
            "enricher_plugin_calls",
            "Calls into the plugin (including those isolating a trap)",
            load(&m.plugin_calls),
        )?;
        counter(
            e,
            "enricher_plugin_traps",
            "Plugin traps (each discards the instance)",
            load(&m.plugin_traps),
        )?;
        counter(
            e,
            "enricher_plugin_errors",
            "Records failed by the plugin (PLUGIN_TRAP, PLUGIN_ERROR, PLUGIN_DROPPED_RECORD)",
            errors,
        )?;
        counter(
            e,
            "enricher_plugin_invalid_outputs",
            "Plugin outputs addressed to no input (dropped) or not JSON (routed to failed)",
            load(&m.invalid_outputs),
        )?;
        counter(
            e,
            "enricher_stale_outputs",
            "Enriched outputs marked claim_stale (an expired row served while the store failed)",
            load(&m.stale_outputs),
        )?;
        counter(
            e,
            "enricher_plugin_swaps",
            "Plugin versions swapped in at commit boundaries",
            load(&m.plugin_swaps),
        )?;
        counter(
            e,
            "enricher_rerun_records",
            "Records failed by a version that failed its probation, run again through the previous version before their commit",
            load(&m.rerun_records),
        )?;
        let status = self.plugins.status();
        counter(
            e,
            "enricher_plugin_rollbacks",
            "Plugin rollbacks (automatic ones included)",
            status.rollbacks,
        )?;
        let active = &status.active;
        let labels = [
            ("name", active.name.as_str()),
            ("version", active.version.as_str()),
            ("sha256", active.sha256.as_str()),
        ];
        e.encode_descriptor(
            "enricher_plugin",
            "The active plugin",
            None,
            MetricType::Info,
        )?
        .encode_info(&labels)
    }

    fn encode_kafka(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let m = &self.meter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        counter(
            e,
            "enricher_commits",
            "Commits (transactions, or offset commits)",
            load(&m.commits),
        )?;
        counter(
            e,
            "enricher_aborts",
            "Transactions aborted (or batches abandoned) and rewound",
            load(&m.aborts),
        )?;
        histogram(
            e,
            "enricher_commit_duration_seconds",
            "One commit (transaction) from start to acknowledged",
            &m.commit_duration.snapshot(),
        )?;
        let blocked = load(&m.backpressure_ns) as f64 / 1e9;
        e.encode_descriptor(
            "enricher_backpressure_seconds",
            "Time spent waiting on a full producer queue",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, f64>(&blocked, None)?;
        let mut family = e.encode_descriptor(
            "enricher_consumer_lag_records",
            "Records behind the end of each assigned input partition",
            None,
            MetricType::Gauge,
        )?;
        for (topic, partition, lag) in m.lag() {
            let partition = partition.to_string();
            let labels = [("topic", topic.as_str()), ("partition", partition.as_str())];
            family.encode_family(&labels)?.encode_gauge(&lag)?;
        }
        Ok(())
    }
}

fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &HistogramSnapshot,
) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)
}
