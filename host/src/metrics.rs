//! The end-of-run view of the stream's counters: records in and out, per
//! `enrichment_status`, plugin trouble, read from the one
//! [`StreamMeter`](crate::observe::StreamMeter) that `/metrics` and the status
//! line read too; and the summary printed at the end of `enricher run`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::lookup::LookupStats;
use crate::observe::StreamMeter;

/// What a pipeline has counted, as read from its meter at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineMetrics {
    /// Records handed to the pipeline.
    pub records_in: u64,
    /// Records written to the enriched output.
    pub enriched: u64,
    /// Records written to the failed output.
    pub failed: u64,
    /// Output records per `enrichment_status` code.
    pub by_status: BTreeMap<String, u64>,
    /// Plugin calls (including the smaller calls that isolate a trap).
    pub plugin_calls: u64,
    /// Plugin traps (each discards the instance).
    pub plugin_traps: u64,
    /// Outputs the plugin got wrong: addressed to no input of the batch
    /// (dropped, logged), or enriched values that are not valid JSON (routed
    /// to failed as PLUGIN_INVALID_OUTPUT, logged).
    pub invalid_outputs: u64,
    /// Plugin versions swapped in at commit boundaries.
    pub plugin_swaps: u64,
    /// Records that failed under a version failing its probation (automatic
    /// rollback), run again through the previous version before their commit.
    pub rerun_records: u64,
    /// Enriched outputs marked `claim_stale` (served from an expired row while the store failed).
    pub stale_outputs: u64,
}

impl PipelineMetrics {
    /// The counts of `meter` now. Statuses past the meter's bounded set are
    /// counted under `OTHER`, as `/metrics` labels them.
    pub fn read(meter: &StreamMeter) -> Self {
        let load = |n: &AtomicU64| n.load(Relaxed);
        let mut metrics = Self {
            records_in: load(&meter.records_in),
            plugin_calls: load(&meter.plugin_calls),
            plugin_traps: load(&meter.plugin_traps),
            invalid_outputs: load(&meter.invalid_outputs),
            plugin_swaps: load(&meter.plugin_swaps),
            rerun_records: load(&meter.rerun_records),
            stale_outputs: load(&meter.stale_outputs),
            ..Self::default()
        };
        for (output, status, n) in meter.records_out() {
            if output == "enriched" {
                metrics.enriched += n;
            } else {
                metrics.failed += n;
            }
            *metrics.by_status.entry(status).or_default() += n;
        }
        metrics
    }

    pub fn status(&self, code: &str) -> u64 {
        self.by_status.get(code).copied().unwrap_or(0)
    }
}

/// The end-of-run report.
pub struct RunSummary {
    pub metrics: PipelineMetrics,
    pub lookup: LookupStats,
    pub elapsed: Duration,
    pub plugin: String,
    /// How far the claims changelog was applied, when it is.
    pub changelog: Option<crate::lookup::ChangelogStatus>,
    /// The lookup's cache mode and why it was chosen.
    pub cache: crate::lookup::CacheChoice,
}

impl RunSummary {
    /// Every counter of the summary as one JSON object (`--summary-json`):
    /// `plugin`, `elapsed_seconds`, `records` (the pipeline's counters, with
    /// `by_status`), `lookup` (cache and store counters) and `changelog`
    /// (`null` when the changelog is not applied).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "plugin": self.plugin,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "records": self.metrics,
            "lookup": self.lookup,
            "changelog": self.changelog,
        })
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.metrics;
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "plugin     {}", self.plugin)?;
        writeln!(
            f,
            "records    {} in, {} enriched, {} failed in {:.3} s ({:.0} events/s)",
            m.records_in,
            m.enriched,
            m.failed,
            secs,
            m.records_in as f64 / secs
        )?;
        for (status, n) in &m.by_status {
            writeln!(f, "  {status:<22} {n}")?;
        }
        let how = if self.cache.auto { "auto" } else { "set" };
        writeln!(
            f,
            "cache      {} ({how}: {})",
            self.cache.mode, self.cache.reason
        )?;
        let c = &self.lookup.cache;
        writeln!(
            f,
            "lookup     cache hits {} (missing {}), misses {}, evictions {}, expired {}; rows in memory {}",
            c.hits,
            c.negative_hits,
            c.misses,
            c.evictions,
            c.expirations,
            self.lookup.rows_in_memory
        )?;
        writeln!(
            f,
            "store      queries {}, retries {}, errors {}, timeouts {}",
            self.lookup.store_queries,
            self.lookup.store_retries,
            self.lookup.store_errors,
            self.lookup.store_timeouts
        )?;
        if self.lookup.store_coalesced > 0 || self.lookup.stale_served > 0 {
            writeln!(
                f,
                "           shared queries {} (ids answered by another lookup's query), stale answers {} ({} outputs marked claim_stale)",
                self.lookup.store_coalesced, self.lookup.stale_served, m.stale_outputs
            )?;
        }
        if let Some(c) = &self.changelog {
            writeln!(
                f,
                "changelog  {}: applied {} ({} deletions, {} rejected), lag {} record(s), {:.1} s",
                c.source, c.applied, c.deleted, c.rejected, c.lag_records, c.lag_seconds
            )?;
        }
        if m.plugin_traps > 0 || m.invalid_outputs > 0 || m.plugin_swaps > 0 || m.rerun_records > 0
        {
            writeln!(
                f,
                "plugin     traps {}, invalid outputs {}, version swaps {}, re-run after a rollback {}",
                m.plugin_traps, m.invalid_outputs, m.plugin_swaps, m.rerun_records
            )?;
        }
        Ok(())
    }
}
