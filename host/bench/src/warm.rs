//! `enricher-bench step`'s warm-cache part besides the batch table: the native
//! baseline (the built-in plugin's typed step linked into the host), the memory a plugin
//! instance adds, and the whole file path end to end.

use std::sync::Arc;

use enricher::bindings::InputRecord;
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::Plugin;

use super::fixtures::{file_config, timed_file_run, write_input};
use super::measure::{Measured, measure, run_pipeline};
use super::report::Report;
use crate::native_step::typed_step;

/// The built-in plugin's step compiled into the host (the typed world's:
/// host parse, `enricher-plugin-typed-logic`, host write), batches of 1000 over
/// the warm cache, through the same pipeline as the plugin.
pub(super) fn native_baseline(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
) -> Measured {
    let mut pipeline = Pipeline::native(plugin.clone(), typed_step(), Arc::clone(lookup), 1 << 20)
        .without_plugin_headers();
    run_pipeline(&mut pipeline, &records[..records.len().min(10_000)], 1000);
    measure(records.len() as u64, || {
        std::hint::black_box(run_pipeline(&mut pipeline, records, 1000));
    })
}

/// RSS an instance adds once it has run a batch of 1,000 (its linear memory
/// is mapped lazily, so a fresh instance costs almost nothing): 8 of them.
pub(super) fn instance_memory(
    plugin: &enricher::runtime::Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &mut Report,
) {
    let batch = &records[..records.len().min(1000)];
    let context = enricher::bindings::BatchContext {
        processing_time_ms: 0,
    };
    let before = super::report::rss_bytes();
    let mut instances = Vec::new();
    for _ in 0..8 {
        if let Ok(mut instance) = plugin.instantiate(Some(Arc::clone(lookup))) {
            let _ = instance.process_batch(context, batch);
            instances.push(instance);
        }
    }
    if let (Some((b, _)), Some((a, _))) = (before, super::report::rss_bytes()) {
        let per = a.saturating_sub(b) / instances.len().max(1) as u64;
        report.say(&format!(
            "plugin instance after a batch of {}: ~{} KiB of RSS each (8 instances)\n",
            batch.len(),
            per / 1024
        ));
        report.figure("rss_bytes_per_plugin_instance", serde_json::json!(per));
    }
}

/// The whole file path, as Flink's benchmark ran it: JSON lines in from a file,
/// the claims table in memory (full cache), JSON lines out to files.
pub(super) fn file_end_to_end(
    dir: &std::path::Path,
    db: &std::path::Path,
    records: &[InputRecord],
    report: &mut Report,
) -> anyhow::Result<()> {
    let input = write_input(dir, records)?;
    let config = file_config(db);
    let mut pipeline = enricher::app::build_file_pipeline(&config)?;
    let m = timed_file_run(&mut pipeline, &input, dir, records.len() as u64, 1000)?;
    report.say(&format!(
        "\nfile end to end (JSON file in, full cache, JSON files out), batch 1000: {} events, {:.0} events/s, {:.0} events per CPU-s\n",
        m.events,
        m.per_sec(),
        m.events as f64 / m.cpu.max(1e-9)
    ));
    report.measured("file_end_to_end_full_cache_batch_1000", &m);
    report.memory("memory_after_file_end_to_end");
    Ok(())
}
