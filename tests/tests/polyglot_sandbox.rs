//! The sandbox holds Python and JavaScript plugins as it holds Rust ones: a
//! record that makes the plugin spin forever (a test variant of `plugins/python`
//! and `plugins/js`, see `polyglot`) hits the CPU deadline, goes to `failed`
//! as PLUGIN_TRAP with its payload, and the rest of the batch is enriched by
//! the same plugin in a fresh instance. (Its own test binary: compiling these
//! components would skew the memory measurements of `sandbox.rs`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::pipeline::Pipeline;
use enricher::runtime::{PluginEngine, PluginSettings, SandboxLimits};
use enricher_tests::polyglot::{self, Lang};
use enricher_tests::*;
use serde_json::Value;

fn looping_pipeline(dir: &TempDir, lang: Lang) -> Pipeline {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::with_settings(PluginSettings {
        limits: SandboxLimits {
            max_memory_bytes: 256 << 20,
            cpu_deadline: Duration::from_millis(500),
        },
        params: Arc::new(BTreeMap::new()),
        ..PluginSettings::default()
    })
    .expect("engine");
    let plugin = engine
        .load_file(&polyglot::looping_plugin(lang))
        .expect("the looping variant loads");
    assert_eq!(plugin.info().name, lang.plugin_name());
    Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes)
}

fn a_runaway_record_is_stopped_and_isolated(lang: Lang) {
    let dir = TempDir::new(&format!("polyglot-loop-{lang:?}"));
    let mut pipeline = looping_pipeline(&dir, lang);
    let payloads: Vec<Vec<u8>> = (0..10)
        .map(|i| match i {
            6 => br#"{"payment_id":"PAY-6","chaos":"loop"}"#.to_vec(),
            _ => event(&format!("PAY-{i}"), "CLM-001", "10.00").into_bytes(),
        })
        .collect();
    let slices: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    let routed = pipeline.process(&records(&slices));
    eprintln!(
        "{lang:?}: a batch with a runaway record took {:?}",
        started.elapsed()
    );
    assert_eq!(routed.len(), 10, "{lang:?}: every input answered once");
    for r in &routed {
        let v: Value = serde_json::from_slice(&r.value).expect("outputs are JSON");
        if r.input_index == 6 {
            assert_eq!(r.status, "PLUGIN_TRAP", "{lang:?}: the runaway record");
            assert_eq!(v["payment_id"], "PAY-6");
            assert_eq!(
                v["original_payload"],
                String::from_utf8_lossy(&payloads[6]).as_ref()
            );
            let error = v["error"].as_str().unwrap_or_default();
            assert!(error.contains("interrupt"), "{lang:?}: {error}");
        } else {
            // Enriched by the plugin's own logic, not passed through.
            assert_eq!(r.status, "SUCCESS", "{lang:?}: record {}", r.input_index);
            assert_eq!(v["member_id"], "MBR-789", "{lang:?}: {v}");
            assert_eq!(v["payment_id"], format!("PAY-{}", r.input_index));
        }
    }
    assert!(pipeline.metrics().plugin_traps >= 1);
    let after = pipeline.process(&records(
        &[event("PAY-after", "CLM-001", "1.00").as_bytes()],
    ));
    assert_eq!(statuses(&after), ["SUCCESS"], "{lang:?}: the host goes on");
}

#[test]
fn a_runaway_python_plugin_hits_the_cpu_deadline_and_is_isolated() {
    a_runaway_record_is_stopped_and_isolated(Lang::Python);
}

#[test]
fn a_runaway_js_plugin_hits_the_cpu_deadline_and_is_isolated() {
    a_runaway_record_is_stopped_and_isolated(Lang::Js);
}
