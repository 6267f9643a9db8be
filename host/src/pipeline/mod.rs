//! One batch through the plugin, with nothing lost: every input record comes
//! out as at least one routed record, whatever the plugin does.
//!
//! - Records larger than `max-record-bytes` never reach the plugin: RECORD_TOO_LARGE.
//! - A trap discards the instance; the batch is split in halves and retried on
//!   fresh instances until the poisonous record(s) stand alone: PLUGIN_TRAP.
//! - A `batch-error` routes that (sub-)batch to `failed`: PLUGIN_ERROR.
//! - An input the plugin answered with no output: PLUGIN_DROPPED_RECORD.
//! - An output to `enriched` that is not valid JSON: PLUGIN_INVALID_OUTPUT
//!   (checked at run time for every enriched value a raw plugin wrote, see
//!   `output_check`; a typed plugin's outputs are written by the host).
//!
//! Host-made failure records carry the original payload, like the plugin's.
//!
//! The pipeline knows nothing of deployments. Following a [`PluginFeed`], it
//! swaps to the desired plugin only in [`Pipeline::at_commit_boundary`] and
//! reports each batch's outcome on a channel that never blocks (see `follow`).
//! A version swapped in by a deploy is on probation: the pipeline judges its
//! rate inside the batch and, when it fails, goes back to the previous
//! version (kept warm) and re-runs the records that failed under it before
//! they are committed (see `probation`, `rerun`).
//!
//! Files: `run` (a range of a batch through the current plugin), `failure`,
//! `follow`, `policy`, `probation`, `rerun`, `metering`, `output_check`,
//! `prefetch`, `stale`.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use enricher_model::header;

use crate::bindings::{BatchContext, Header, InputRecord, Output, OutputRecord};
use crate::clock::now_ms;
use crate::log_limit::LogLimit;
use crate::lookup::ClaimsLookup;
use crate::metrics::{PipelineMetrics, RunSummary};
use crate::observe::StreamMeter;
use crate::runtime::{Plugin, PluginForm, PluginInstance};

mod failure;
mod follow;
mod header_screen;
mod metering;
mod output_check;
mod policy;
mod prefetch;
mod probation;
mod rerun;
mod run;
mod stale;
use failure::log_failed;
pub use failure::{host_failure, is_plugin_error};
pub use follow::{Desired, FeedControl, PluginFeed, Probation, StreamEvent};
pub use metering::meter_batch;
pub use output_check::INVALID_OUTPUT;
pub use policy::RollbackPolicy;
pub(crate) use policy::Running;
pub use prefetch::claim_id_hint;
use probation::OnProbation;
pub use stale::{STALE_FIELD, STALE_HEADER};

/// Records routed to `failed` that are logged: this many per second after a burst.
const FAILURE_LOG_LINES_PER_SECOND: f64 = 5.0;
const FAILURE_LOG_BURST: u32 = 20;

/// Header the plugin sets on each output with its `enrichment_status`.
pub const STATUS_HEADER: &str = header::STATUS;
/// Headers the host stamps on every output.
pub const PLUGIN_NAME_HEADER: &str = header::PLUGIN_NAME;
pub const PLUGIN_VERSION_HEADER: &str = header::PLUGIN_VERSION;
/// The headers the pipeline stamps, one value each.
const STAMPED_HEADERS: [&str; 3] = [STATUS_HEADER, PLUGIN_NAME_HEADER, PLUGIN_VERSION_HEADER];

/// One routed output, ready for a sink.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The input record (index in the batch) it answers.
    pub input_index: usize,
    pub output: Output,
    /// The `enrichment_status` (from the plugin's header, or the host's code).
    pub status: Cow<'static, str>,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<Header>,
}

/// Runs batches through one plugin.
pub struct Pipeline {
    plugin: Plugin,
    /// `name@version` of `plugin`, for the events it reports.
    key: Arc<str>,
    /// What runs each batch: `plugin`'s instance, or a native step.
    runner: Runner,
    lookup: Arc<ClaimsLookup>,
    max_record_bytes: usize,
    /// Whether outputs get the status and plugin name/version headers (sinks that keep headers want them).
    stamp_plugin_headers: bool,
    /// Records routed to `failed` are logged, this many at most.
    failure_log: LogLimit,
    /// The one set of counters (and latencies): `/metrics`, the status line
    /// and the summary all read it.
    meter: Arc<StreamMeter>,
    /// Where the plugin to run comes from (hot swap), and where outcomes go, if anywhere.
    feed: Option<PluginFeed>,
    /// The feed's sequence number of the version running here.
    applied_seq: u64,
    /// Whether records read ahead are prefetched (see `prefetch`).
    prefetch: bool,
    /// The running version's probation and the version to return to, while it is watched.
    probation: Option<OnProbation>,
    /// Records re-run through the previous version are logged, this many at most.
    rerun_log: LogLimit,
    /// The full size of each record of the batch being run, when it was cut
    /// to `max-record-bytes` + 1 on reading (see [`Pipeline::process_measured`]).
    measured: Vec<usize>,
}

/// A plugin's step compiled into the caller: a batch in, the outputs the
/// plugin would give out. The benchmarks (`enricher-bench`) run one in place
/// of the WASM component to measure what WASM costs.
#[derive(Clone)]
pub struct NativeStep {
    pub run: Arc<StepFn>,
    /// The form of plugin it stands for (whose outputs are checked like that form's).
    pub form: PluginForm,
}

/// The function of a [`NativeStep`]: a batch and the lookup in, outputs out.
pub type StepFn =
    dyn Fn(BatchContext, &[InputRecord], &ClaimsLookup) -> Vec<OutputRecord> + Send + Sync;

/// What runs each batch, chosen when the pipeline is built.
enum Runner {
    /// The plugin's live instance; `None` after a trap until the next call makes one.
    Wasm(Option<PluginInstance>),
    Native(NativeStep),
}

impl Pipeline {
    /// A pipeline that runs `plugin` (a WASM component).
    pub fn new(plugin: Plugin, lookup: Arc<ClaimsLookup>, max_record_bytes: usize) -> Self {
        Self::with_runner(plugin, Runner::Wasm(None), lookup, max_record_bytes)
    }

    /// A pipeline that runs `step` in place of `plugin`'s component; `plugin`
    /// names what it stands for in outputs and summaries.
    pub fn native(
        plugin: Plugin,
        step: NativeStep,
        lookup: Arc<ClaimsLookup>,
        max_record_bytes: usize,
    ) -> Self {
        Self::with_runner(plugin, Runner::Native(step), lookup, max_record_bytes)
    }

    fn with_runner(
        plugin: Plugin,
        runner: Runner,
        lookup: Arc<ClaimsLookup>,
        max_record_bytes: usize,
    ) -> Self {
        Self {
            key: plugin.key().into(),
            plugin,
            runner,
            lookup,
            max_record_bytes,
            stamp_plugin_headers: true,
            failure_log: LogLimit::new(FAILURE_LOG_LINES_PER_SECOND, FAILURE_LOG_BURST),
            meter: Arc::default(),
            feed: None,
            applied_seq: 0,
            prefetch: true,
            probation: None,
            rerun_log: LogLimit::new(FAILURE_LOG_LINES_PER_SECOND, FAILURE_LOG_BURST),
            measured: Vec::new(),
        }
    }

    /// Whether enriched values are checked to be JSON: the plugin wrote them
    /// (raw), not the host (typed: written from typed outcomes, valid by construction).
    fn outputs_checked(&self) -> bool {
        let form = match &self.runner {
            Runner::Native(step) => step.form,
            Runner::Wasm(_) => self.plugin.form(),
        };
        form == PluginForm::Raw
    }

    /// A pipeline that runs the feed's desired plugin and follows it.
    pub fn following(feed: PluginFeed, lookup: Arc<ClaimsLookup>, max_record_bytes: usize) -> Self {
        let Desired {
            seq,
            plugin,
            probation,
        } = feed.desired.borrow().clone();
        let mut pipeline = Self::new(plugin, lookup, max_record_bytes);
        pipeline.applied_seq = seq;
        pipeline.probation = probation.map(|p| OnProbation::new(&pipeline.key, p, None));
        feed.report(StreamEvent::Started {
            key: Arc::clone(&pipeline.key),
        });
        pipeline.feed = Some(feed);
        pipeline
    }

    /// Nothing is in flight: if another version is desired, swap to it now.
    /// The new instance is made here, so the pause is this call's length.
    /// A version from a deploy goes on probation, the outgoing one's
    /// instance kept warm for it to return to.
    pub fn at_commit_boundary(&mut self) {
        let Some(feed) = &mut self.feed else {
            return;
        };
        if !feed.desired.has_changed().unwrap_or(false) {
            return;
        }
        let started = Instant::now();
        let Desired {
            seq,
            plugin,
            probation,
        } = feed.desired.borrow_and_update().clone();
        if seq == self.applied_seq {
            return;
        }
        self.applied_seq = seq;
        if plugin.key() == *self.key {
            return;
        }
        // A failed instantiation is retried (and contained) by the next call.
        let fresh = Runner::Wasm(plugin.instantiate(Some(Arc::clone(&self.lookup))).ok());
        let outgoing = std::mem::replace(&mut self.runner, fresh);
        let key = plugin.key();
        self.probation = probation.map(|p| {
            let warm = match outgoing {
                Runner::Wasm(instance) if p.previous.key() == *self.key => instance,
                _ => p.previous.instantiate(Some(Arc::clone(&self.lookup))).ok(),
            };
            OnProbation::new(&key, p, warm)
        });
        self.key = key.into();
        self.plugin = plugin;
        self.meter.plugin_swaps.fetch_add(1, Relaxed);
        feed.report(StreamEvent::Swapped {
            key: Arc::clone(&self.key),
            pause: started.elapsed(),
        });
    }

    /// Leave out the status and plugin name/version headers (for sinks that drop headers, like files).
    pub fn without_plugin_headers(mut self) -> Self {
        self.stamp_plugin_headers = false;
        self
    }

    /// The counts so far, read from the meter.
    pub fn metrics(&self) -> PipelineMetrics {
        PipelineMetrics::read(&self.meter)
    }

    /// What this pipeline counts, for every view (shared with the admin thread).
    pub fn meter(&self) -> &Arc<StreamMeter> {
        &self.meter
    }

    /// The end-of-run report of this pipeline, after `elapsed`.
    pub fn summary(&self, elapsed: std::time::Duration) -> RunSummary {
        let info = self.plugin.info();
        RunSummary {
            metrics: self.metrics(),
            lookup: self.lookup.stats(),
            elapsed,
            plugin: format!("{} {} ({})", info.name, info.version, self.plugin.source()),
            changelog: self.lookup.changelog(),
            cache: self.lookup.cache_choice().clone(),
        }
    }

    pub fn lookup(&self) -> &Arc<ClaimsLookup> {
        &self.lookup
    }

    /// Records larger than this go to `failed` as RECORD_TOO_LARGE.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Process one batch. Returns the routed records, in input order per input.
    pub fn process(&mut self, batch: &[InputRecord]) -> Vec<Routed> {
        self.process_measured(batch, &[])
    }

    /// [`Pipeline::process`] for records that may have been cut to
    /// `max-record-bytes` + 1 when read: `sizes[i]`, when given, is the full
    /// size of `batch[i]`, which its RECORD_TOO_LARGE error reports.
    pub fn process_measured(&mut self, batch: &[InputRecord], sizes: &[usize]) -> Vec<Routed> {
        let now_ms = now_ms();
        let context = BatchContext {
            processing_time_ms: now_ms,
        };
        let mut routed = Vec::with_capacity(batch.len());
        self.measured.clear();
        self.measured.extend_from_slice(sizes);
        if self.probation.is_some() {
            self.run_on_probation(context, batch, &mut routed);
        } else {
            let plugin_errors = self.run_range(context, batch, 0..batch.len(), &mut routed);
            self.report_batch(batch.len(), plugin_errors);
        }
        let now = Instant::now();
        for r in &routed {
            if r.output != Output::Enriched
                && let Some(held_back) = self.failure_log.admit(now)
            {
                log_failed(r, held_back);
            }
        }
        meter_batch(&self.meter, batch, &routed, now_ms);
        routed
    }

    /// Tell the feed that the current version ran `records`, `plugin_errors` failed by it.
    fn report_batch(&self, records: usize, plugin_errors: u64) {
        if let Some(feed) = &self.feed {
            feed.report(StreamEvent::Batch {
                key: Arc::clone(&self.key),
                records: records as u64,
                plugin_errors,
            });
        }
    }
}
