//! What one processed batch adds to the [`StreamMeter`] (`/metrics`): its
//! records in, its outputs per output and status, and each record's
//! latency. Counted per batch where the batch allows it (runs of one status,
//! records without a timestamp), so the per-record cost stays a few
//! nanoseconds; `enricher-bench step` times this function alone.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::Routed;
use crate::bindings::{InputRecord, Output};
use crate::clock::now_ms;
use crate::observe::StreamMeter;

/// Count `batch` (arrived at `arrived_ms`) and its `routed` outputs in `meter`.
pub fn meter_batch(meter: &StreamMeter, batch: &[InputRecord], routed: &[Routed], arrived_ms: i64) {
    meter.records_in.fetch_add(batch.len() as u64, Relaxed);
    // Runs of one output and status are counted at once.
    let mut run: Option<(bool, &str, u64)> = None;
    for r in routed {
        let enriched = r.output == Output::Enriched;
        match &mut run {
            Some((e, s, n)) if *e == enriched && *s == r.status => *n += 1,
            _ => {
                if let Some((e, s, n)) = run.replace((enriched, &r.status, 1)) {
                    meter.count_out(e, s, n);
                }
            }
        }
    }
    if let Some((e, s, n)) = run {
        meter.count_out(e, s, n);
    }
    observe_latency(meter, batch, arrived_ms);
}

/// Each record's latency: from its timestamp (or, for records without one,
/// such as file lines, from when its batch arrived) to now, when its outputs
/// are routed. Records without a timestamp share one latency: counted at once.
fn observe_latency(meter: &StreamMeter, batch: &[InputRecord], arrived_ms: i64) {
    let done_ms = now_ms();
    let since =
        |ms: i64| Duration::from_millis(u64::try_from(done_ms.saturating_sub(ms)).unwrap_or(0));
    let mut untimed = 0;
    for record in batch {
        match record.timestamp_ms {
            Some(ms) => meter.processing_latency.observe(since(ms)),
            None => untimed += 1,
        }
    }
    meter
        .processing_latency
        .observe_n(since(arrived_ms), untimed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn routed(output: Output, status: &'static str) -> Routed {
        Routed {
            input_index: 0,
            output,
            status: Cow::Borrowed(status),
            key: None,
            value: Vec::new(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_batch_counts_every_output_and_latency_once() {
        let meter = StreamMeter::default();
        let record = |timestamp_ms| InputRecord {
            key: None,
            value: Vec::new(),
            headers: Vec::new(),
            timestamp_ms,
        };
        let batch = [record(None), record(None), record(Some(now_ms() - 5000))];
        let outs = [
            routed(Output::Enriched, "SUCCESS"),
            routed(Output::Enriched, "SUCCESS"),
            routed(Output::Failed, "CLAIM_NOT_FOUND"),
            routed(Output::Enriched, "SUCCESS"),
        ];
        meter_batch(&meter, &batch, &outs, now_ms());
        assert_eq!(meter.records_in.load(Relaxed), 3);
        let out = meter.records_out();
        assert!(out.contains(&("enriched", "SUCCESS".into(), 3)), "{out:?}");
        assert!(
            out.contains(&("failed", "CLAIM_NOT_FOUND".into(), 1)),
            "{out:?}"
        );
        let latency = meter.processing_latency.snapshot();
        assert_eq!(latency.count, 3);
        assert!(latency.sum_seconds >= 5.0, "{latency:?}");
    }
}
