//! One batch through the plugin, with nothing lost: every input record comes
//! out as at least one routed record, whatever the plugin does.
//!
//! - Records larger than `max-record-bytes` never reach the plugin: RECORD_TOO_LARGE.
//! - A trap discards the instance; the batch is split in halves and retried on
//!   fresh instances until the poisonous record(s) stand alone: PLUGIN_TRAP.
//! - A `batch-error` routes that (sub-)batch to `failed`: PLUGIN_ERROR.
//! - An input the plugin answered with no output: PLUGIN_DROPPED_RECORD.
//!
//! Host-made failure records carry the original payload, like the plugin's.
//!
//! With a [`PluginRegistry`] attached, the plugin may change, but only in
//! [`Pipeline::at_commit_boundary`], and every batch's plugin errors are
//! reported to the registry (which may roll a new version back).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::bindings::{BatchContext, Header, InputRecord, Output, OutputRecord};
use crate::error::PluginError;
use crate::lookup::ClaimsLookup;
use crate::metrics::PipelineMetrics;
use crate::plugin::{Plugin, PluginInstance};
use crate::plugins::PluginRegistry;

mod failure;
use failure::intern_status;
pub use failure::{host_failure, is_plugin_error};

/// Header the plugin sets on each output with its `enrichment_status`.
pub const STATUS_HEADER: &str = "enrichment-status";
/// Headers the host stamps on every output.
pub const PLUGIN_NAME_HEADER: &str = "plugin-name";
pub const PLUGIN_VERSION_HEADER: &str = "plugin-version";

/// Milliseconds since the Unix epoch (processing time of batches, failure
/// records, deployments).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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
    /// The live instance; `None` after a trap until the next call makes one.
    instance: Option<PluginInstance>,
    lookup: Arc<ClaimsLookup>,
    max_record_bytes: usize,
    /// Whether outputs get the status and plugin name/version headers (sinks that keep headers want them).
    stamp_plugin_headers: bool,
    metrics: PipelineMetrics,
    /// Where a new plugin version comes from (hot swap), if anywhere.
    registry: Option<Arc<PluginRegistry>>,
    /// The registry's sequence number of the version running here.
    applied_seq: u64,
}

impl Pipeline {
    pub fn new(plugin: Plugin, lookup: Arc<ClaimsLookup>, max_record_bytes: usize) -> Self {
        Self {
            plugin,
            instance: None,
            lookup,
            max_record_bytes,
            stamp_plugin_headers: true,
            metrics: PipelineMetrics::default(),
            registry: None,
            applied_seq: 0,
        }
    }

    /// A pipeline that runs `registry`'s desired version and follows it.
    pub fn following(
        registry: Arc<PluginRegistry>,
        lookup: Arc<ClaimsLookup>,
        max_record_bytes: usize,
    ) -> Self {
        Self::new(registry.desired().1, lookup, max_record_bytes).with_registry(registry)
    }

    /// Follow `registry`: swap to its desired version at commit boundaries.
    pub fn with_registry(mut self, registry: Arc<PluginRegistry>) -> Self {
        registry.note_started(&self.plugin.key());
        self.registry = Some(registry);
        self.at_commit_boundary();
        self
    }

    pub fn registry(&self) -> Option<&Arc<PluginRegistry>> {
        self.registry.as_ref()
    }

    /// Nothing is in flight: if the registry wants another version, swap to it
    /// now. The new instance is made here, so the pause is this call's length.
    pub fn at_commit_boundary(&mut self) {
        let Some(registry) = &self.registry else {
            return;
        };
        if registry.desired_seq() == self.applied_seq {
            return;
        }
        let started = Instant::now();
        let (seq, plugin) = registry.desired();
        self.applied_seq = seq;
        if plugin.key() == self.plugin.key() {
            return;
        }
        // A failed instantiation is retried (and contained) by the next call.
        self.instance = plugin.instantiate(Some(Arc::clone(&self.lookup))).ok();
        self.plugin = plugin;
        self.metrics.plugin_swaps += 1;
        registry.note_swapped(&self.plugin.key(), started.elapsed());
    }

    /// Leave out the status and plugin name/version headers (for sinks that drop headers, like files).
    pub fn without_plugin_headers(mut self) -> Self {
        self.stamp_plugin_headers = false;
        self
    }

    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
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
        let now_ms = now_ms();
        let context = BatchContext {
            processing_time_ms: now_ms,
        };
        self.metrics.records_in += batch.len() as u64;

        let mut routed = Vec::with_capacity(batch.len());
        // Contiguous runs of acceptable records go to the plugin together.
        let mut start = 0;
        while start < batch.len() {
            if batch[start].value.len() > self.max_record_bytes {
                let why = format!(
                    "record of {} bytes exceeds max-record-bytes {}",
                    batch[start].value.len(),
                    self.max_record_bytes
                );
                routed.push(host_failure(
                    start,
                    &batch[start],
                    "RECORD_TOO_LARGE",
                    &why,
                    now_ms,
                ));
                start += 1;
                continue;
            }
            let end = (start..batch.len())
                .find(|&i| batch[i].value.len() > self.max_record_bytes)
                .unwrap_or(batch.len());
            self.run_isolating(context, batch, start, end, &mut routed);
            start = end;
        }

        if self.stamp_plugin_headers {
            let name = self.plugin.info().name.as_bytes();
            let version = self.plugin.info().version.as_bytes();
            for r in &mut routed {
                if !r.headers.iter().any(|h| h.key == STATUS_HEADER) {
                    r.headers.push(Header {
                        key: STATUS_HEADER.into(),
                        value: r.status.as_bytes().to_vec(),
                    });
                }
                r.headers.push(Header {
                    key: PLUGIN_NAME_HEADER.into(),
                    value: name.to_vec(),
                });
                r.headers.push(Header {
                    key: PLUGIN_VERSION_HEADER.into(),
                    value: version.to_vec(),
                });
            }
        }
        let mut plugin_errors = 0;
        for r in &routed {
            self.metrics
                .count_status(&r.status, r.output == Output::Enriched);
            plugin_errors += u64::from(is_plugin_error(&r.status));
        }
        if let Some(registry) = &self.registry
            && let Some((history, reason)) = registry.observe(batch.len() as u64, plugin_errors)
        {
            registry.rollback_automatically(history, &reason);
        }
        routed
    }

    /// Run `batch[start..end]`, halving on traps until the bad records are alone.
    fn run_isolating(
        &mut self,
        context: BatchContext,
        batch: &[InputRecord],
        start: usize,
        end: usize,
        routed: &mut Vec<Routed>,
    ) {
        match self.call(context, &batch[start..end]) {
            Ok(outputs) => self.accept(
                outputs,
                batch,
                start,
                end,
                routed,
                context.processing_time_ms,
            ),
            Err(PluginError::Batch(why)) => {
                tracing::warn!(plugin = %self.plugin.info().name, records = end - start, "plugin batch error: {why}");
                let msg = format!("plugin reported a batch error: {why}");
                for (i, record) in batch.iter().enumerate().take(end).skip(start) {
                    routed.push(host_failure(
                        i,
                        record,
                        "PLUGIN_ERROR",
                        &msg,
                        context.processing_time_ms,
                    ));
                }
            }
            Err(error) => {
                self.metrics.plugin_traps += 1;
                self.instance = None;
                if end - start == 1 {
                    tracing::warn!(plugin = %self.plugin.info().name, "plugin trapped on one record: {error}");
                    routed.push(host_failure(
                        start,
                        &batch[start],
                        "PLUGIN_TRAP",
                        &error.to_string(),
                        context.processing_time_ms,
                    ));
                } else {
                    let mid = start + (end - start) / 2;
                    self.run_isolating(context, batch, start, mid, routed);
                    self.run_isolating(context, batch, mid, end, routed);
                }
            }
        }
    }

    fn call(
        &mut self,
        context: BatchContext,
        records: &[InputRecord],
    ) -> Result<Vec<OutputRecord>, PluginError> {
        self.metrics.plugin_calls += 1;
        let instance = match &mut self.instance {
            Some(instance) => instance,
            slot => slot.insert(self.plugin.instantiate(Some(Arc::clone(&self.lookup)))?),
        };
        instance.process_batch(context, records)
    }

    /// Check the plugin's outputs against the batch and answer what it left out.
    fn accept(
        &mut self,
        outputs: Vec<OutputRecord>,
        batch: &[InputRecord],
        start: usize,
        end: usize,
        routed: &mut Vec<Routed>,
        now_ms: i64,
    ) {
        let mut answered = vec![false; end - start];
        for out in outputs {
            let Some(slot) = answered.get_mut(out.input_index as usize) else {
                self.metrics.invalid_outputs += 1;
                tracing::warn!(plugin = %self.plugin.info().name, input_index = out.input_index, "output addressed to no input; dropped");
                continue;
            };
            *slot = true;
            let status = out
                .headers
                .iter()
                .find(|h| h.key == STATUS_HEADER)
                .and_then(|h| std::str::from_utf8(&h.value).ok())
                .map(intern_status)
                .unwrap_or(Cow::Borrowed(if out.output == Output::Enriched {
                    "SUCCESS"
                } else {
                    "FAILED"
                }));
            routed.push(Routed {
                input_index: start + out.input_index as usize,
                output: out.output,
                status,
                key: out.key,
                value: out.value,
                headers: out.headers,
            });
        }
        for (offset, done) in answered.into_iter().enumerate() {
            if !done {
                let i = start + offset;
                routed.push(host_failure(
                    i,
                    &batch[i],
                    "PLUGIN_DROPPED_RECORD",
                    "the plugin returned no output for this record",
                    now_ms,
                ));
            }
        }
    }
}
