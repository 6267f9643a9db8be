//! The typed world against the raw one and against native code, in one run:
//! per batch size (1, 100, 1000), four steps through the same pipeline over
//! the same warm cache, alternated round by round so the machine's noise hits
//! all alike (median of the rounds):
//! - native raw: the raw plugin's whole step compiled into the host
//!   (`--native-step raw`);
//! - native typed: the host's typed read and write around the typed logic
//!   compiled into the host (`--native-step typed`);
//! - WASM raw: the raw build of the enrichment (`guest/`, main's old default);
//! - WASM typed: the built-in plugin (`plugins/typed/`).
//!
//! Each WASM step's ratio is taken against the FASTER native step of the
//! batch size, so the comparison stays the fairest one.

use std::sync::Arc;

use enricher::bindings::InputRecord;
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::{Plugin, PluginForm};

use super::measure::{measure, run_pipeline};
use super::report::Report;
use crate::native_step::{NativeForm, step};

/// Alternated rounds of each step.
const ROUNDS: usize = 3;

const STEPS: [&str; 4] = ["native_raw", "native_typed", "wasm_raw", "wasm_typed"];

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn pipeline(
    which: usize,
    raw: &Plugin,
    typed: &Plugin,
    lookup: &Arc<ClaimsLookup>,
) -> anyhow::Result<Pipeline> {
    let plugin = if which == 3 { typed } else { raw };
    let lookup = Arc::clone(lookup);
    let p = match which {
        0 => Pipeline::native(plugin.clone(), step(NativeForm::Raw), lookup, 1 << 20),
        1 => Pipeline::native(plugin.clone(), step(NativeForm::Typed), lookup, 1 << 20),
        _ => Pipeline::new(plugin.clone(), lookup, 1 << 20),
    };
    Ok(p.without_plugin_headers())
}

pub(super) fn print(
    raw: &Plugin,
    typed: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    records: &[InputRecord],
    report: &mut Report,
) -> anyhow::Result<()> {
    anyhow::ensure!(typed.form() == PluginForm::Typed, "not a typed plugin");
    report.say(&format!(
        "\ntyped vs raw vs native, warm cache, events per CPU-s (median of {ROUNDS} alternated rounds)\n"
    ));
    report.say("| batch | native raw | native typed | WASM raw | WASM typed | raw / best native | typed / best native | typed / raw |");
    report.say("|---|---|---|---|---|---|---|---|");
    for batch in [1usize, 100, 1000] {
        let n = if batch == 1 {
            records.len().min(200_000)
        } else {
            records.len()
        };
        let mut rates = [(); 4].map(|_| Vec::new());
        for _ in 0..ROUNDS {
            for (which, rate) in rates.iter_mut().enumerate() {
                let mut p = pipeline(which, raw, typed, lookup)?;
                run_pipeline(&mut p, &records[..n.min(10_000)], batch);
                let m = measure(n as u64, || {
                    std::hint::black_box(run_pipeline(&mut p, &records[..n], batch));
                });
                rate.push(m.events as f64 / m.cpu.max(1e-9));
            }
        }
        let r = rates.map(median);
        let best_native = r[0].max(r[1]);
        let (raw_ratio, typed_ratio) = (r[2] / best_native, r[3] / best_native);
        report.say(&format!(
            "| {batch} | {:.0} | {:.0} | {:.0} | {:.0} | {raw_ratio:.2} | {typed_ratio:.2} | {:.2} |",
            r[0],
            r[1],
            r[2],
            r[3],
            r[3] / r[2]
        ));
        for (name, rate) in STEPS.iter().zip(r) {
            report.figure(
                &format!("{name}_step_batch_{batch}_events_per_cpu_s"),
                serde_json::json!(rate),
            );
        }
        report.figure(
            &format!("raw_wasm_over_best_native_batch_{batch}"),
            serde_json::json!(raw_ratio),
        );
        report.figure(
            &format!("typed_wasm_over_best_native_batch_{batch}"),
            serde_json::json!(typed_ratio),
        );
    }
    Ok(())
}
