//! The automatic rollback policy: a freshly deployed version whose plugin
//! errors (traps, batch errors, dropped records, invalid JSON written to
//! `enriched`) cross a rate within a window
//! of records after it went live is rolled back. Pure: it sees counts only.
//!
//! Only a version on probation is judged: one activated by a deploy, with
//! an earlier one to return to. A version activated by a rollback is never
//! on probation, so bad data cannot walk the fleet back through every version.
//! The stream judges (the counts are its batches'; see `probation`); the
//! deploy side keeps the counts of the running version for `plugin status`.

use crate::config::DeployConfig;

/// When a freshly activated version is rolled back on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollbackPolicy {
    /// Plugin errors per record above which it rolls back.
    pub error_rate: f64,
    /// How many records after going live the version is watched.
    pub window: u64,
    /// Records needed before a rate counts.
    pub min_records: u64,
}

impl From<&DeployConfig> for RollbackPolicy {
    fn from(c: &DeployConfig) -> Self {
        Self {
            error_rate: c.rollback_error_rate,
            window: c.rollback_window,
            min_records: c.rollback_min_records,
        }
    }
}

/// How the running version is doing since it went live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    pub key: String,
    pub activated_at_ms: i64,
    pub processed: u64,
    pub plugin_errors: u64,
}

impl Running {
    pub(crate) fn new(key: &str, activated_at_ms: i64) -> Self {
        Self {
            key: key.to_owned(),
            activated_at_ms,
            processed: 0,
            plugin_errors: 0,
        }
    }

    /// Count `records` more, `plugin_errors` of them failed by the plugin.
    pub(crate) fn count(&mut self, records: u64, plugin_errors: u64) {
        self.processed += records;
        self.plugin_errors += plugin_errors;
    }

    pub(crate) fn error_rate(&self) -> f64 {
        self.plugin_errors as f64 / self.processed.max(1) as f64
    }
}

impl RollbackPolicy {
    /// Count `records` of `running`; returns why it must be rolled back when it
    /// crossed the line. `watched` says whether it is on probation (came from
    /// a deploy, with an earlier one to return to); the caller ends the
    /// probation with the verdict.
    pub(crate) fn observe(
        &self,
        running: &mut Running,
        records: u64,
        plugin_errors: u64,
        watched: bool,
    ) -> Option<String> {
        let before = running.processed;
        running.count(records, plugin_errors);
        let rate = running.error_rate();
        if before >= self.window
            || !watched
            || running.processed < self.min_records
            || rate <= self.error_rate
        {
            return None;
        }
        Some(format!(
            "automatic rollback: {} had {} plugin errors in {} records ({:.1}% > {:.1}%)",
            running.key,
            running.plugin_errors,
            running.processed,
            rate * 100.0,
            self.error_rate * 100.0
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RollbackPolicy = RollbackPolicy {
        error_rate: 0.05,
        window: 1_000,
        min_records: 50,
    };

    fn fresh() -> Running {
        Running::new("p@2", 0)
    }

    #[test]
    fn rolls_back_when_the_rate_crosses_after_enough_records() {
        // "Once" is the caller's: the verdict ends the probation (see
        // tests/tests/rollback_rerun.rs, which counts one rollback).
        let mut r = fresh();
        // 10% errors, but fewer records than the minimum: no verdict yet.
        assert_eq!(POLICY.observe(&mut r, 40, 4, true), None);
        let why = POLICY
            .observe(&mut r, 10, 1, true)
            .expect("50 records at 10%");
        assert!(
            why.contains("p@2") && why.contains("5 plugin errors in 50"),
            "{why}"
        );
        assert_eq!((r.processed, r.plugin_errors), (50, 5));
    }

    #[test]
    fn a_healthy_version_an_old_one_or_one_from_a_rollback_is_kept() {
        let mut healthy = fresh();
        assert_eq!(
            POLICY.observe(&mut healthy, 1_000, 50, true),
            None,
            "5% is not above 5%"
        );
        let mut late = fresh();
        assert_eq!(POLICY.observe(&mut late, 1_000, 0, true), None);
        assert_eq!(
            POLICY.observe(&mut late, 100, 100, true),
            None,
            "past the window"
        );
        let mut unwatched = fresh();
        assert_eq!(
            POLICY.observe(&mut unwatched, 100, 100, false),
            None,
            "not on probation"
        );
    }
}
