//! A batch of a version on probation: run in slices (see `probation`), and
//! when the version fails its probation, go back to the previous version at
//! once and re-run the records of the batch the bad one already ran (their
//! outputs never left the pipeline, so nothing of them is committed) through
//! it, with the rest of the batch: the batch's commit unit holds the previous
//! version's outputs only, as a swap's does (one version per commit unit).
//!
//! Re-runs are counted (`rerun_records`); the records the bad version failed
//! are logged (one line each, rate-limited like failures);
//! the stream reports [`StreamEvent::RolledBack`] and the deploy side rolls
//! the history and the fleet back, off this thread.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::probation::Verdict;
use super::{Pipeline, Routed, Runner, StreamEvent, failure, is_plugin_error};
use crate::bindings::{BatchContext, InputRecord};

impl Pipeline {
    /// Run `batch` while the running version is on probation.
    pub(super) fn run_on_probation(
        &mut self,
        context: BatchContext,
        batch: &[InputRecord],
        routed: &mut Vec<Routed>,
    ) {
        let mut start = 0;
        while start < batch.len() {
            let Some(probation) = &self.probation else {
                // Proven within this batch: the rest in one go.
                let errors = self.run_range(context, batch, start..batch.len(), routed);
                self.report_batch(batch.len() - start, errors);
                return;
            };
            let end = start + probation.judge.slice_len(batch.len() - start);
            let errors = self.run_range(context, batch, start..end, routed);
            self.report_batch(end - start, errors);
            let verdict = match &mut self.probation {
                Some(p) => p.judge.observe((end - start) as u64, errors),
                None => Verdict::Watching,
            };
            match verdict {
                Verdict::Watching => {}
                Verdict::Proven => self.probation = None,
                Verdict::RollBack(reason) => {
                    self.roll_back(context, batch, end, &reason, routed);
                    return;
                }
            }
            start = end;
        }
    }

    /// The running version failed its probation after `batch[..done]`: back
    /// to the previous version; `batch[..done]` is run again through that
    /// one, and so is `batch[done..]`.
    fn roll_back(
        &mut self,
        context: BatchContext,
        batch: &[InputRecord],
        done: usize,
        reason: &str,
        routed: &mut Vec<Routed>,
    ) {
        let Some(probation) = self.probation.take() else {
            return;
        };
        tracing::error!("{reason}");
        // What the bad version failed, for the log; every output it made goes
        // and its inputs run again, so the commit unit holds one version.
        let mut failed_as: Vec<Option<Cow<'static, str>>> = vec![None; done];
        for r in routed.iter() {
            if is_plugin_error(&r.status) && r.input_index < done {
                failed_as[r.input_index].get_or_insert_with(|| r.status.clone());
            }
        }
        routed.retain(|r| r.input_index >= done);

        let from = Arc::clone(&self.key);
        self.plugin = probation.previous;
        self.key = self.plugin.key().into();
        self.runner = Runner::Wasm(probation.warm);

        let mut rerun = Vec::with_capacity(done);
        let mut errors = self.run_range(context, batch, 0..done, &mut rerun);
        let now = Instant::now();
        for r in &rerun {
            let Some(was) = failed_as[r.input_index].as_deref() else {
                continue;
            };
            if let Some(held_back) = self.rerun_log.admit(now) {
                let payment_id = failure::best_effort_payment_id(&batch[r.input_index].value)
                    .unwrap_or_default();
                tracing::info!(
                    payment_id = payment_id.as_str(),
                    failed_as = was,
                    failed_under = &*from,
                    status = &*r.status,
                    version = &*self.key,
                    held_back,
                    "record re-run through the previous version"
                );
            }
        }
        routed.append(&mut rerun);
        errors += self.run_range(context, batch, done..batch.len(), routed);
        // In input order again (stable: an input's outputs keep their order).
        routed.sort_by_key(|r| r.input_index);

        let n = done as u64;
        self.meter.rerun_records.fetch_add(n, Relaxed);
        tracing::warn!(
            from = &*from,
            to = &*self.key,
            rerun = n,
            "rolled back inside the batch: the records {from} ran re-run through {} before their commit",
            self.key
        );
        if let Some(feed) = &self.feed {
            feed.report(StreamEvent::RolledBack {
                from,
                to: Arc::clone(&self.key),
                reason: reason.to_owned(),
                rerun: n,
            });
        }
        self.report_batch(batch.len(), errors);
    }
}
