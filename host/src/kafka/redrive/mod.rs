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
//! - `failure_source` (beside the runner): the filter, the report, and a
//!   failure record → the input it failed, or why not;
//! - `dry_run`: the counts, without producing or committing.

mod dry_run;

use std::sync::atomic::AtomicBool;

pub use super::failure_source::{Moved, RedriveCounts, RedriveFilter};
pub(crate) use super::failure_source::{Redriven, failure_to_input};
pub use dry_run::dry_run;

use super::KafkaRunError;
use super::runner::{
    BatchTransform, KafkaRunReport, RedriveSource, RunOptions, Source, run_source,
};
use crate::config::{KafkaConfig, RetrySchedule};

/// What a redrive did.
#[derive(Debug, Clone, Default)]
pub struct RedriveReport {
    pub run: KafkaRunReport,
    /// By the reason each record had failed for.
    pub by_reason: std::collections::BTreeMap<String, Moved>,
    /// Records the filter passed over (read and committed by this group, not re-driven).
    pub passed_over: u64,
    /// Records that cannot be re-driven, by reason.
    pub not_redrivable: std::collections::BTreeMap<String, u64>,
}

impl RedriveReport {
    pub(crate) fn new(run: KafkaRunReport, counts: RedriveCounts) -> Self {
        Self {
            run,
            by_reason: counts.by_reason,
            passed_over: counts.passed_over,
            not_redrivable: counts.not_redrivable,
        }
    }
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
    let source = Source::Redrive(RedriveSource::new(filter));
    let (run, counts) = run_source(
        pipeline,
        &config,
        options,
        source,
        shutdown,
        &crate::health::Health::default(),
    )?;
    Ok(RedriveReport::new(run, counts))
}
