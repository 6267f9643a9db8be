//! One set of counters: the stream updates one meter, and the end-of-run
//! summary, `--summary-json`, `/metrics` and the status line are views of it.
//! A batch with a plugin that writes invalid JSON, answers an input that is
//! not in the batch and traps must read the same in all four.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use enricher::admin::Observed;
use enricher::deploy::FixedPlugin;
use enricher::observe::StatusLine;
use enricher::pipeline::Pipeline;
use enricher::runtime::PluginEngine;
use enricher_tests::test_plugins::CHAOS;
use enricher_tests::*;

/// The value of the sample `name` (with `labels`, as written) in `/metrics` text.
fn sample(text: &str, name: &str, labels: &str) -> u64 {
    let head = format!("{name}{labels} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {head:?} in /metrics:\n{text}"))
}

#[test]
fn summary_json_metrics_and_status_line_read_one_meter() {
    let dir = TempDir::new("one-meter");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let bytes = std::fs::read(Path::new(CHAOS)).expect("chaos plugin");
    let plugin = PluginEngine::new()
        .expect("engine")
        .load_bytes("chaos.wasm", &bytes)
        .expect("chaos plugin loads");
    let mut pipeline =
        Pipeline::new(plugin.clone(), Arc::clone(&lookup), 1 << 20).without_plugin_headers();
    let meter = Arc::clone(pipeline.meter());
    let mut status_line = StatusLine::new(Arc::clone(&meter));

    let mut input = String::new();
    for i in 0..10 {
        input.push_str(&event(&format!("PAY-{i}"), "CLM-001", "10.00"));
        input.push('\n');
    }
    for chaos in ["invalid-json", "misaddress", "panic"] {
        input.push_str(&format!(
            "{{\"payment_id\":\"PAY-{chaos}\",\"chaos\":\"{chaos}\"}}\n"
        ));
    }
    input.push_str("[\"not an object\"]\n");
    let out = run_bytes(&mut pipeline, input.as_bytes(), 100);
    assert_eq!(
        (out.enriched.len(), out.failed.len()),
        (11, 3),
        "{:?}",
        out.failed_raw
    );

    // 1. The summary and 2. --summary-json.
    let summary = pipeline.summary(Duration::from_secs(1));
    let text = summary.to_string();
    let json = summary.to_json();
    let records = &json["records"];
    let traps = records["plugin_traps"].as_u64().expect("plugin_traps");
    assert!(traps >= 1, "{json}");
    assert!(text.contains("14 in, 11 enriched, 3 failed"), "{text}");
    assert!(
        text.contains(&format!("traps {traps}, invalid outputs 2")),
        "{text}"
    );
    assert_eq!(records["records_in"], 14);
    assert_eq!(
        (records["enriched"].as_u64(), records["failed"].as_u64()),
        (Some(11), Some(3))
    );
    assert_eq!(
        records["invalid_outputs"], 2,
        "invalid JSON and a misaddressed output"
    );
    let by_status = &records["by_status"];
    for (status, n) in [
        ("SUCCESS", 11),
        ("PLUGIN_INVALID_OUTPUT", 1),
        ("PLUGIN_TRAP", 1),
        ("FAILED", 1),
    ] {
        assert_eq!(by_status[status], n, "{status} in {json}");
        assert!(
            text.contains(&format!("  {status:<22} {n}")),
            "{status} in {text}"
        );
    }

    // 3. /metrics, as a scrape encodes it.
    let observed = Observed {
        meter: Arc::clone(&meter),
        lookup,
        plugins: Arc::new(FixedPlugin::new(&plugin, &bytes, Arc::clone(&meter))),
        mode: "file",
    };
    let metrics = observed.render().expect("encode /metrics");
    assert_eq!(sample(&metrics, "enricher_records_in_total", ""), 14);
    assert_eq!(sample(&metrics, "enricher_plugin_traps_total", ""), traps);
    assert_eq!(
        sample(&metrics, "enricher_plugin_invalid_outputs_total", ""),
        2
    );
    for (output, status, n) in [
        ("enriched", "SUCCESS", 11),
        ("failed", "PLUGIN_INVALID_OUTPUT", 1),
        ("failed", "PLUGIN_TRAP", 1),
        ("failed", "FAILED", 1),
    ] {
        let labels = format!("{{output=\"{output}\",status=\"{status}\"}}");
        assert_eq!(
            sample(&metrics, "enricher_records_out_total", &labels),
            n,
            "{labels}"
        );
    }

    // 4. The status line, since it was made (before the batch).
    let line = status_line.next(None);
    assert!(line.starts_with("status: 14 in (+14,"), "{line}");
    assert!(
        line.contains("failed +3 (FAILED 1, PLUGIN_INVALID_OUTPUT 1, PLUGIN_TRAP 1)"),
        "{line}"
    );
}
