//! `enricher redrive`: read `failed-payments` in a consumer group of its own,
//! turn each failure record that matches the filter back into the input it
//! failed (original payload, key, headers and timestamp), run it through the
//! pipeline with the current claims and plugin, and write the results as
//! usual. It is the Kafka loop of `runner` with failure records as its
//! source, so delivery is the same: offsets commit with the outputs (in one
//! transaction in exactly-once mode), and each failure record is re-driven
//! once per group. It stops at the end of the topic as it was at start (its
//! own new failure records are for a later run).
//!
//! - `failure_input`: a failure record → the input it failed, or why not;
//! - `dry_run`: the counts, without producing or committing.

mod dry_run;
mod failure_input;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

pub use dry_run::dry_run;
pub(crate) use failure_input::{Redriven, failure_to_input};

use super::runner::{BatchTransform, KafkaRunReport, RunOptions, Source, run_source};
use super::KafkaRunError;
use crate::config::{KafkaConfig, RetrySchedule};

/// Which failure records to re-drive.
#[derive(Debug, Clone, Default)]
pub struct RedriveFilter {
    /// Only these `enrichment_status` codes (empty: every one).
    pub reasons: Vec<String>,
    /// Only records whose timestamp is at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only records whose timestamp is before this.
    pub until_ms: Option<i64>,
}

impl RedriveFilter {
    pub(crate) fn matches(&self, reason: &str, timestamp_ms: Option<i64>) -> bool {
        let reason_ok = self.reasons.is_empty() || self.reasons.iter().any(|r| r == reason);
        let t = timestamp_ms.unwrap_or(i64::MIN);
        let since_ok = self.since_ms.is_none_or(|s| t >= s);
        let until_ok = self.until_ms.is_none_or(|u| t < u);
        reason_ok && since_ok && until_ok
    }

    /// The consumer group of a redrive: `<group>-redrive`, and with one
    /// reason `<group>-redrive-<reason>` (records another filter passed over
    /// stay there for it).
    pub fn group(&self, group: &str) -> String {
        match self.reasons.as_slice() {
            [one] => format!("{group}-redrive-{}", one.to_ascii_lowercase()),
            _ => format!("{group}-redrive"),
        }
    }
}

/// What happened to the re-driven records of one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Failure records of this reason run through the pipeline again.
    pub redriven: u64,
    /// ... that were enriched this time.
    pub enriched: u64,
    /// ... that failed again (a new failure record, with the new reason).
    pub failed_again: u64,
}

/// What a redrive did.
#[derive(Debug, Clone, Default)]
pub struct RedriveReport {
    pub run: KafkaRunReport,
    /// By the reason each record had failed for.
    pub by_reason: BTreeMap<String, Moved>,
    /// Records the filter passed over (read and committed by this group, not re-driven).
    pub passed_over: u64,
    /// Records that cannot be re-driven (not a failure record, or its payload
    /// was cut because it was too large), by reason.
    pub not_redrivable: BTreeMap<String, u64>,
}

/// The Kafka settings of a redrive from the host's: its own group
/// ([`RedriveFilter::group`]) and its own transactional id, so it never
/// fences a running host.
pub fn redrive_config(host: &KafkaConfig, filter: &RedriveFilter) -> KafkaConfig {
    let mut config = host.clone();
    config.transactional_id = Some(format!("{}-redrive", host.transactional_id()));
    config.group_id = filter.group(&host.group_id);
    config
}

/// Re-drive the host's failed topic, as [`redrive_config`] says, up to its end at start.
pub fn redrive(
    pipeline: &mut impl BatchTransform,
    host: &KafkaConfig,
    batch_size: usize,
    filter: RedriveFilter,
    shutdown: &AtomicBool,
) -> Result<RedriveReport, KafkaRunError> {
    let config = redrive_config(host, &filter);
    let options = RunOptions {
        batch_size,
        stop_at_end: true,
        retry_not_found: RetrySchedule::default(),
    };
    let source = Source::Redrive(filter);
    let (run, report) = run_source(pipeline, &config, options, source, shutdown)?;
    Ok(RedriveReport { run, ..report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_takes_reasons_and_a_half_open_time_range() {
        let f = RedriveFilter {
            reasons: vec!["CLAIM_NOT_FOUND".into()],
            since_ms: Some(100),
            until_ms: Some(200),
        };
        assert!(f.matches("CLAIM_NOT_FOUND", Some(100)));
        assert!(!f.matches("CLAIM_NOT_FOUND", Some(200)));
        assert!(!f.matches("CLAIM_NOT_FOUND", None));
        assert!(!f.matches("DB_ERROR", Some(150)));
        assert!(RedriveFilter::default().matches("ANY", None));
        assert_eq!(f.group("g"), "g-redrive-claim_not_found");
        assert_eq!(RedriveFilter::default().group("g"), "g-redrive");
    }
}
