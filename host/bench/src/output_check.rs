//! What the run-time check that enriched values are JSON costs: the
//! validator alone over the enriched values of one pass (ns per record),
//! beside what a record costs on the warm-cache WASM path at batch 1000. The
//! product has no way to turn the check off, so it is measured as a share.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use enricher::bindings::{InputRecord, Output};
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::Plugin;

use super::measure::{measure, run_pipeline};
use super::report::Report;

pub(super) fn print_cost(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &mut Report,
) {
    let mut pipeline =
        Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20).without_plugin_headers();
    run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], 1000);
    let warm = measure(records.len() as u64, || {
        black_box(run_pipeline(&mut pipeline, records, 1000));
    });
    let record_ns = 1e9 / warm.per_sec();

    // The validator alone, over the values the plugin wrote to `enriched`.
    let values: Vec<Vec<u8>> = records
        .chunks(1000)
        .flat_map(|chunk| pipeline.process(chunk))
        .filter(|r| r.output == Output::Enriched)
        .map(|r| r.value)
        .collect();
    let bytes: usize = values.iter().map(Vec::len).sum();
    let started = Instant::now();
    let valid = values
        .iter()
        .filter(|v| {
            // As `pipeline::output_check` does it: UTF-8, then the grammar.
            std::str::from_utf8(v)
                .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
        })
        .count();
    let ns = started.elapsed().as_nanos() as f64 / values.len().max(1) as f64;
    report.say(&format!(
        "enriched-JSON check, WASM plugin, warm cache, batch 1000: the validator alone \
         {ns:.0} ns per enriched record ({} of {} valid, {} B on average), {:.1}% of the \
         {record_ns:.0} ns a record takes on that path\n",
        valid,
        values.len(),
        bytes / values.len().max(1),
        ns / record_ns * 100.0
    ));
    report.figure("output_check_share", serde_json::json!(ns / record_ns));
    report.figure("output_check_ns_per_record", serde_json::json!(ns));
}
