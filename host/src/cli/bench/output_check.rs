//! What the run-time check that enriched values are JSON costs: the
//! warm-cache WASM path at batch 1000 with and without the check, alternated
//! in one run so the machine's noise hits both alike (median of each), and
//! the validator alone over the enriched values of one pass (ns per record).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use enricher::bindings::{InputRecord, Output};
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::Plugin;

use super::measure::{measure, run_pipeline};
use super::report::Report;

/// Alternated runs of each variant.
const ROUNDS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(super) fn print_cost(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &mut Report,
) {
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS * 2 {
        let checked = round % 2 == 0;
        let mut pipeline =
            Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20).without_plugin_headers();
        if !checked {
            pipeline = pipeline.without_output_check_for_bench();
        }
        run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], 1000);
        let m = measure(records.len() as u64, || {
            black_box(run_pipeline(&mut pipeline, records, 1000));
        });
        if checked { &mut with } else { &mut without }.push(m.per_sec());
    }
    let (with, without) = (median(with), median(without));

    // The validator alone, over the values the plugin wrote to `enriched`.
    let mut pipeline = Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20);
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
        "enriched-JSON check, WASM plugin, warm cache, batch 1000 ({ROUNDS} alternated runs each, median): \
         {with:.0} events/s checked, {without:.0} unchecked, ratio {:.3}; \
         the validator alone: {ns:.0} ns per enriched record ({} of {} valid, {} B on average)\n",
        with / without,
        valid,
        values.len(),
        bytes / values.len().max(1)
    ));
    report.figure("output_check_ratio", serde_json::json!(with / without));
    report.figure("output_check_ns_per_record", serde_json::json!(ns));
}
