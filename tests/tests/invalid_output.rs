//! The run-time check of enriched values: a plugin that writes invalid JSON
//! to `enriched` (`plugins/chaos`, trigger `invalid-json`, which passes the
//! deploy canaries) gets that record routed to `failed` as
//! PLUGIN_INVALID_OUTPUT with the original payload, counted in the summary,
//! while the rest of the batch goes through. That the rollback policy sees it
//! is in `plugin_versions.rs`.

use std::path::Path;

use enricher::runtime::PluginEngine;
use enricher_tests::test_plugins::CHAOS;
use enricher_tests::*;

#[test]
fn invalid_json_written_to_enriched_lands_in_failed_with_its_payload() {
    let dir = TempDir::new("invalid-output");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let plugin = PluginEngine::new()
        .expect("engine")
        .load_file(Path::new(CHAOS))
        .expect("chaos plugin loads");
    let mut pipeline =
        enricher::pipeline::Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes)
            .without_plugin_headers();

    let poison = r#"{"payment_id":"PAY-BAD","chaos":"invalid-json"}"#;
    let mut input = String::new();
    for i in 0..7 {
        let line = if i == 4 {
            poison.to_owned()
        } else {
            event(&format!("PAY-{i}"), "CLM-001", "10.00")
        };
        input.push_str(&line);
        input.push('\n');
    }
    // run_bytes parses every output line as JSON: the enriched file holds no broken line.
    let out = run_bytes(&mut pipeline, input.as_bytes(), 100);
    assert_eq!(out.enriched.len(), 6, "the other records go through");
    assert!(out.enriched.iter().all(|v| v["payment_id"] != "PAY-BAD"));
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed_raw);
    let failed = &out.failed[0];
    assert_eq!(failed["enrichment_status"], "PLUGIN_INVALID_OUTPUT");
    assert_eq!(failed["payment_id"], "PAY-BAD");
    assert_eq!(failed["original_payload"], poison);
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("invalid JSON") && error.contains("EOF while parsing"),
        "{error}"
    );

    let metrics = pipeline.metrics();
    assert_eq!(metrics.status("PLUGIN_INVALID_OUTPUT"), 1);
    assert_eq!((metrics.enriched, metrics.failed), (6, 1));
    assert_eq!(metrics.invalid_outputs, 1);
    let summary = pipeline
        .summary(std::time::Duration::from_secs(1))
        .to_string();
    assert!(summary.contains("7 in, 6 enriched, 1 failed"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.split_whitespace().eq(["PLUGIN_INVALID_OUTPUT", "1"])),
        "{summary}"
    );
    assert!(summary.contains("invalid outputs 1"), "{summary}");
}
