//! What keeping `/metrics` costs the stream path: the same work with the
//! pipeline's meter on and off (`Pipeline::without_meter_for_bench`),
//! alternated in one run so the machine's noise hits both alike (median of
//! each). Two paths: `enricher run` on a file (JSON lines in, full cache,
//! JSON lines out, through `file_mode::run_files` as the command runs it),
//! and the warm-cache pipeline alone at batch 1000; and the meter's own work
//! timed alone (`pipeline::meter_batch`), the steadier number on a shared machine.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use enricher::bindings::InputRecord;
use enricher::config::Config;
use enricher::lookup::ClaimsLookup;
use enricher::observe::StreamMeter;
use enricher::pipeline::{Pipeline, Routed, meter_batch};
use enricher::runtime::Plugin;

use super::measure::{Measured, measure, run_pipeline};
use super::report::Report;

/// Alternated runs of each variant.
const ROUNDS: usize = 7;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Medians of (events/s, events per CPU-s), metered and unmetered.
struct Compared {
    on: (f64, f64),
    off: (f64, f64),
}

fn rounds(mut run: impl FnMut(bool) -> anyhow::Result<Measured>) -> anyhow::Result<Compared> {
    let (mut on, mut off) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for round in 0..ROUNDS * 2 {
        let metered = round % 2 == 0;
        let m = run(metered)?;
        let into = if metered { &mut on } else { &mut off };
        into.0.push(m.per_sec());
        into.1.push(m.events as f64 / m.cpu.max(1e-9));
    }
    Ok(Compared {
        on: (median(on.0), median(on.1)),
        off: (median(off.0), median(off.1)),
    })
}

fn print(report: &Report, label: &str, c: &Compared) {
    report.say(&format!(
        "metrics cost, {label} ({ROUNDS} alternated runs each, median): \
         {:.0} events/s metered, {:.0} unmetered, ratio {:.3}; \
         {:.0} events per CPU-s metered, {:.0} unmetered, ratio {:.3}",
        c.on.0,
        c.off.0,
        c.on.0 / c.off.0,
        c.on.1,
        c.off.1,
        c.on.1 / c.off.1
    ));
}

/// `input` (the events, one per line) through the file path, into `dir`.
pub(super) fn print_cost(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    config: &Config,
    input: &Path,
    dir: &Path,
    report: &Report,
) -> anyhow::Result<()> {
    let file_run = rounds(|metered| {
        let mut pipeline = enricher::app::build_file_pipeline(config)?;
        if !metered {
            pipeline = pipeline.without_meter_for_bench();
        }
        let m = super::fixtures::timed_file_run(
            &mut pipeline,
            input,
            dir,
            records.len() as u64,
            config.pipeline.batch_size,
        )?;
        super::measure::count_done(m.events);
        Ok(m)
    })?;
    print(
        report,
        &format!(
            "`enricher run` on a file (full cache, batch {})",
            config.pipeline.batch_size
        ),
        &file_run,
    );
    let pipeline_only = rounds(|metered| {
        let mut pipeline =
            Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20).without_plugin_headers();
        if !metered {
            pipeline = pipeline.without_meter_for_bench();
        }
        run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], 1000);
        Ok(measure(records.len() as u64, || {
            black_box(run_pipeline(&mut pipeline, records, 1000));
        }))
    })?;
    print(
        report,
        "pipeline alone, warm cache, batch 1000",
        &pipeline_only,
    );

    // The meter's own work, timed alone over the outputs of one real pass.
    let mut pipeline =
        Pipeline::new(plugin.clone(), Arc::clone(lookup), 1 << 20).without_meter_for_bench();
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
    let record_ns = 1e9 / pipeline_only.on.0;
    report.say(&format!(
        "metrics cost, the meter alone (`pipeline::meter_batch`, batch 1000): {ns:.1} ns per record, \
         {:.2}% of the {record_ns:.0} ns a record takes on the warm-cache path\n",
        ns / record_ns * 100.0
    ));
    Ok(())
}
