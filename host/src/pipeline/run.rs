//! Running a range of a batch through the current plugin: records over
//! `max-record-bytes` never reach it, traps are isolated by halving, the
//! plugin's outputs are checked against the batch, and every output is
//! stamped with the version that made it.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use enricher_model::Status;

use super::{
    PLUGIN_NAME_HEADER, PLUGIN_VERSION_HEADER, Pipeline, Routed, Runner, STAMPED_HEADERS,
    STATUS_HEADER, header_screen, host_failure, is_plugin_error, output_check, stale,
};
use crate::bindings::{BatchContext, Header, InputRecord, Output, OutputRecord};
use crate::error::PluginError;

impl Pipeline {
    /// Run `batch[range]` through the current plugin, appending to `routed`
    /// (stamped with its name and version); returns how many of the new
    /// outputs are plugin errors.
    pub(super) fn run_range(
        &mut self,
        context: BatchContext,
        batch: &[InputRecord],
        range: Range<usize>,
        routed: &mut Vec<Routed>,
    ) -> u64 {
        let first = routed.len();
        // Contiguous runs of acceptable records go to the plugin together.
        let mut start = range.start;
        while start < range.end {
            if batch[start].value.len() > self.max_record_bytes {
                // The size read whole when the reader measured it (a cut record).
                let size = self
                    .measured
                    .get(start)
                    .copied()
                    .unwrap_or_default()
                    .max(batch[start].value.len());
                let why = format!(
                    "record of {size} bytes exceeds max-record-bytes {}",
                    self.max_record_bytes
                );
                routed.push(host_failure(
                    start,
                    &batch[start],
                    Status::RecordTooLarge,
                    &why,
                    context.processing_time_ms,
                ));
                start += 1;
                continue;
            }
            let end = (start..range.end)
                .find(|&i| batch[i].value.len() > self.max_record_bytes)
                .unwrap_or(range.end);
            self.run_isolating(context, batch, start, end, routed);
            start = end;
        }
        self.stamp(&mut routed[first..]);
        routed[first..]
            .iter()
            .filter(|r| is_plugin_error(&r.status))
            .count() as u64
    }

    /// Stamp the status and the current plugin's name and version on `routed`.
    fn stamp(&self, routed: &mut [Routed]) {
        if !self.stamp_plugin_headers {
            return;
        }
        let name = self.plugin.info().name.as_bytes();
        let version = self.plugin.info().version.as_bytes();
        for r in routed {
            // The host's values only: one of each name (a plugin's own
            // status header became `r.status`; any other copy goes).
            r.headers
                .retain(|h| !STAMPED_HEADERS.contains(&h.key.as_str()));
            r.headers.push(Header {
                key: STATUS_HEADER.into(),
                value: r.status.as_bytes().to_vec(),
            });
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
                        Status::PluginError,
                        &msg,
                        context.processing_time_ms,
                    ));
                }
            }
            Err(error) => {
                self.meter.plugin_traps.fetch_add(1, Relaxed);
                if let Runner::Wasm(instance) = &mut self.runner {
                    *instance = None;
                }
                if end - start == 1 {
                    tracing::warn!(plugin = %self.plugin.info().name, "plugin trapped on one record: {error}");
                    routed.push(host_failure(
                        start,
                        &batch[start],
                        Status::PluginTrap,
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
        self.meter.plugin_calls.fetch_add(1, Relaxed);
        let slot = match &mut self.runner {
            Runner::Native(step) => return Ok((step.run)(context, records, self.lookup.as_ref())),
            Runner::Wasm(slot) => slot,
        };
        let instance = match slot {
            Some(instance) => instance,
            slot => slot.insert(self.plugin.instantiate(Some(Arc::clone(&self.lookup)))?),
        };
        let mut outputs = instance.process_batch(context, records)?;
        let screened = header_screen::screen(&mut outputs);
        if screened > 0 {
            tracing::warn!(plugin = %self.plugin.info().name, headers = screened, "plugin wrote headers only the host writes; dropped");
        }
        let stale_ids = instance.take_stale_claims();
        if !stale_ids.is_empty() {
            let marked = stale::mark(&mut outputs, &stale_ids);
            self.meter.stale_outputs.fetch_add(marked, Relaxed);
        }
        Ok(outputs)
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
        let check_outputs = self.outputs_checked();
        for out in outputs {
            let Some(slot) = answered.get_mut(out.input_index as usize) else {
                self.meter.invalid_outputs.fetch_add(1, Relaxed);
                tracing::warn!(plugin = %self.plugin.info().name, input_index = out.input_index, "output addressed to no input; dropped");
                continue;
            };
            *slot = true;
            let i = start + out.input_index as usize;
            if out.output == Output::Enriched
                && check_outputs
                && let Some(why) = output_check::invalid_json(&out.value)
            {
                self.meter.invalid_outputs.fetch_add(1, Relaxed);
                tracing::warn!(plugin = %self.plugin.info().name, input_index = out.input_index, bytes = out.value.len(), "{why}; routed to failed");
                let invalid = Status::PluginInvalidOutput;
                routed.push(host_failure(i, &batch[i], invalid, &why, now_ms));
                continue;
            }
            let status = out
                .headers
                .iter()
                .find(|h| h.key == STATUS_HEADER)
                .and_then(|h| std::str::from_utf8(&h.value).ok())
                .map(Status::intern)
                .unwrap_or(Cow::Borrowed(if out.output == Output::Enriched {
                    Status::Success.as_str()
                } else {
                    Status::Failed.as_str()
                }));
            // An outcome the typed writer could not write (a span outside
            // the text...) is an invalid output too: one count per such record.
            if status == Status::PluginInvalidOutput.as_str() {
                self.meter.invalid_outputs.fetch_add(1, Relaxed);
            }
            routed.push(Routed {
                input_index: i,
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
                    Status::PluginDroppedRecord,
                    "the plugin returned no output for this record",
                    now_ms,
                ));
            }
        }
    }
}
