//! What keeping the counters costs the stream path: the meter's own work
//! (`pipeline::meter_batch`) timed alone over the outputs of one real pass,
//! beside what a record costs on the warm-cache path at batch 1000. The
//! product has no way to turn the meter off (every view reads it), so the
//! cost is measured as a share, not as an on/off A/B.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use enricher::bindings::InputRecord;
use enricher::lookup::ClaimsLookup;
use enricher::observe::StreamMeter;
use enricher::pipeline::{Pipeline, Routed, meter_batch};
use enricher::runtime::Plugin;

use super::measure::{measure, run_pipeline};
use super::report::Report;

pub(super) fn print_cost(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &Report,
) {
    let mut pipeline =
        Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20).without_plugin_headers();
    run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], 1000);
    let warm = measure(records.len() as u64, || {
        black_box(run_pipeline(&mut pipeline, records, 1000));
    });

    // The meter's own work, timed alone over the outputs of one real pass.
    let batches: Vec<(&[InputRecord], Vec<Routed>)> = records
        .chunks(1000)
        .map(|chunk| (chunk, pipeline.process(chunk)))
        .collect();
    let meter = StreamMeter::default();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    let passes = 5;
    let started = Instant::now();
    for _ in 0..passes {
        for (chunk, routed) in &batches {
            meter_batch(&meter, chunk, routed, now_ms());
        }
    }
    let ns = started.elapsed().as_nanos() as f64 / (passes * records.len()).max(1) as f64;
    let record_ns = 1e9 / warm.per_sec();
    report.say(&format!(
        "metrics cost, the meter alone (`pipeline::meter_batch`, batch 1000): {ns:.1} ns per record, \
         {:.2}% of the {record_ns:.0} ns a record takes on the warm-cache path\n",
        ns / record_ns * 100.0
    ));
}
