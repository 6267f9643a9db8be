//! Counters of one run: records in and out, per `enrichment_status`, plugin
//! trouble; and the summary printed at the end of `enricher run`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::lookup::LookupStats;

/// What a pipeline has counted.
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
    /// Enriched outputs marked `claim_stale` (served from an expired row while the store failed).
    pub stale_outputs: u64,
}

impl PipelineMetrics {
    pub fn count_status(&mut self, status: &str, enriched: bool) {
        self.count_statuses(status, enriched, 1);
    }

    /// `n` outputs of one status at once (the pipeline counts runs of one status).
    pub fn count_statuses(&mut self, status: &str, enriched: bool, n: u64) {
        if enriched {
            self.enriched += n;
        } else {
            self.failed += n;
        }
        match self.by_status.get_mut(status) {
            Some(count) => *count += n,
            None => {
                self.by_status.insert(status.to_owned(), n);
            }
        }
    }

    pub fn status(&self, code: &str) -> u64 {
        self.by_status.get(code).copied().unwrap_or(0)
    }
}

/// The end-of-run report.
pub struct RunSummary<'a> {
    pub metrics: &'a PipelineMetrics,
    pub lookup: LookupStats,
    pub elapsed: Duration,
    pub plugin: String,
    /// How far the claims changelog was applied, when it is.
    pub changelog: Option<crate::lookup::ChangelogStatus>,
    /// The lookup's cache mode and why it was chosen.
    pub cache: crate::lookup::CacheChoice,
}

impl RunSummary<'_> {
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

impl fmt::Display for RunSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.metrics;
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
        if m.plugin_traps > 0 || m.invalid_outputs > 0 || m.plugin_swaps > 0 {
            writeln!(
                f,
                "plugin     traps {}, invalid outputs {}, version swaps {}",
                m.plugin_traps, m.invalid_outputs, m.plugin_swaps
            )?;
        }
        Ok(())
    }
}
