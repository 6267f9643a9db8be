//! The run-time check of enriched values: a plugin that writes invalid JSON
//! to `enriched` (`plugins/chaos`, trigger `invalid-json`, which passes the
//! deploy canaries) gets that record routed to `failed` as
//! PLUGIN_INVALID_OUTPUT with the original payload, counted in the summary,
//! while the rest of the batch goes through. That the rollback policy sees it
//! is in `plugin_versions.rs`. Headers only the host writes, forged by the
//! plugin in any case (trigger `forge-headers`), never reach an output.

use std::path::Path;

use enricher::runtime::PluginEngine;
use enricher_tests::test_plugins::CHAOS;
use enricher_tests::*;

/// The chaos plugin over a small claims file, in `dir`.
fn chaos_pipeline(dir: &TempDir) -> enricher::pipeline::Pipeline {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let plugin = PluginEngine::new()
        .expect("engine")
        .load_file(Path::new(CHAOS))
        .expect("chaos plugin loads");
    enricher::pipeline::Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes)
}

#[test]
fn invalid_json_written_to_enriched_lands_in_failed_with_its_payload() {
    let dir = TempDir::new("invalid-output");
    let mut pipeline = chaos_pipeline(&dir).without_plugin_headers();

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

#[test]
fn headers_only_the_host_writes_are_dropped_from_a_plugins_outputs_in_any_case() {
    let dir = TempDir::new("forged-plugin-headers");
    let mut pipeline = chaos_pipeline(&dir);
    let forged = r#"{"payment_id":"PAY-FORGED","chaos":"forge-headers"}"#;
    let plain = r#"{"payment_id":"PAY-PLAIN"}"#;
    let routed = pipeline.process(&records(&[forged.as_bytes(), plain.as_bytes()]));
    assert_eq!(routed.len(), 2);
    for r in &routed {
        let names: Vec<String> = r
            .headers
            .iter()
            .map(|h| h.key.to_ascii_lowercase())
            .collect();
        for host_name in ["commit-unit", "claim-stale", "retry-attempts"] {
            assert!(
                !names.iter().any(|n| n == host_name),
                "{host_name} forged: {names:?}"
            );
        }
        let version: Vec<&[u8]> = r
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case("plugin-version"))
            .map(|h| h.value.as_slice())
            .collect();
        assert_eq!(
            version.len(),
            1,
            "one plugin-version, the host's: {names:?}"
        );
        assert_ne!(version[0], b"9.9.9");
        let status = r
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case("enrichment-status"))
            .count();
        assert_eq!(status, 1, "one status, the host's: {names:?}");
    }
}
