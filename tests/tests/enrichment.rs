//! The built-in plugin in wasmtime, over a real DuckDB claims file: what an
//! enriched record and a failed one look like, byte for byte where it matters.

use enricher::bindings::{Header, InputRecord, Output};
use enricher::pipeline::{PLUGIN_NAME_HEADER, PLUGIN_VERSION_HEADER, STATUS_HEADER};
use enricher_tests::*;

fn setup() -> (TempDir, enricher::pipeline::Pipeline) {
    let dir = TempDir::new("enrichment");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let pipeline = enricher::app::build_pipeline(&config).expect("pipeline starts");
    (dir, pipeline)
}

#[test]
fn found_claims_are_enriched_with_exact_decimals() {
    let (_dir, mut pipeline) = setup();
    let input = [
        event("PAY-1", "CLM-001", "1500.00"),
        event("PAY-2", "CLM-002", "0.1"),
        event("PAY-3", "CLM-003", "99999999.99"),
    ]
    .join("\n");
    let out = run_bytes(&mut pipeline, input.as_bytes(), 100);
    assert_eq!(out.enriched.len(), 3, "failed: {:?}", out.failed_raw);
    assert!(out.failed.is_empty());

    let first = &out.enriched[0];
    assert_eq!(first["payment_id"], "PAY-1");
    assert_eq!(first["member_id"], "MBR-789");
    assert_eq!(first["claim_status"], "APPROVED");
    assert_eq!(first["enrichment_status"], "SUCCESS");
    assert_eq!(first["processor_id"], "PROC-VISA-001");
    assert!(
        first["enrichment_timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // Amounts are number tokens with two decimals, never rounded through f64.
    assert!(
        out.enriched_raw[0].contains(r#""payment_amount":1500.00,"#),
        "{}",
        out.enriched_raw[0]
    );
    assert!(
        out.enriched_raw[0].contains(r#""claim_amount":2000.00,"#),
        "{}",
        out.enriched_raw[0]
    );
    assert!(
        out.enriched_raw[1].contains(r#""payment_amount":0.10,"#),
        "{}",
        out.enriched_raw[1]
    );
    assert!(
        out.enriched_raw[1].contains(r#""claim_amount":0.10,"#),
        "{}",
        out.enriched_raw[1]
    );
    assert!(
        out.enriched_raw[2].contains(r#""claim_amount":99999999.99,"#),
        "{}",
        out.enriched_raw[2]
    );
    // A NULL claim_status stays null.
    assert!(out.enriched[2]["claim_status"].is_null());
}

#[test]
fn claim_not_found_goes_to_failed_with_reason() {
    let (_dir, mut pipeline) = setup();
    let input = format!(
        "{}\n{}\n",
        event("PAY-1", "CLM-001", "10"),
        event("PAY-9", "CLM-404", "10")
    );
    let out = run_bytes(&mut pipeline, input.as_bytes(), 100);
    assert_eq!(out.enriched.len(), 1);
    assert_eq!(out.failed.len(), 1);
    let failed = &out.failed[0];
    assert_eq!(failed["payment_id"], "PAY-9");
    assert_eq!(failed["enrichment_status"], "CLAIM_NOT_FOUND");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("CLM-404"))
    );
    assert!(failed["member_id"].is_null());
    assert_eq!(pipeline.metrics().status("CLAIM_NOT_FOUND"), 1);
    assert_eq!(pipeline.metrics().status("SUCCESS"), 1);
}

#[test]
fn outputs_keep_the_key_and_headers_and_name_the_plugin() {
    let (_dir, mut pipeline) = setup();
    let batch = vec![
        InputRecord {
            key: Some(b"member-key-1".to_vec()),
            value: event("PAY-1", "CLM-001", "5").into_bytes(),
            headers: vec![Header {
                key: "trace-id".into(),
                value: b"abc".to_vec(),
            }],
            timestamp_ms: Some(1_700_000_000_000),
        },
        InputRecord {
            key: Some(b"k2".to_vec()),
            value: b"not json".to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        },
    ];
    let routed = pipeline.process(&batch);
    assert_eq!(routed.len(), 2);
    let header = |r: &enricher::pipeline::Routed, k: &str| {
        r.headers
            .iter()
            .find(|h| h.key == k)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
    };
    assert_eq!(routed[0].output, Output::Enriched);
    assert_eq!(routed[0].key.as_deref(), Some(&b"member-key-1"[..]));
    assert_eq!(header(&routed[0], "trace-id").as_deref(), Some("abc"));
    assert_eq!(
        header(&routed[0], STATUS_HEADER).as_deref(),
        Some("SUCCESS")
    );
    assert_eq!(
        header(&routed[0], PLUGIN_NAME_HEADER).as_deref(),
        Some(test_plugins::BUILTIN_NAME)
    );
    assert_eq!(
        header(&routed[0], PLUGIN_VERSION_HEADER).as_deref(),
        Some(test_plugins::BUILTIN_VERSION)
    );
    assert_eq!(routed[1].output, Output::Failed);
    assert_eq!(routed[1].key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(
        header(&routed[1], STATUS_HEADER).as_deref(),
        Some("INVALID_JSON")
    );
}

#[test]
fn the_plugin_reports_its_name_and_version() {
    let engine = enricher::runtime::PluginEngine::new().expect("engine");
    let plugin = engine.load_default().expect("built-in plugin loads");
    assert_eq!(plugin.info().name, test_plugins::BUILTIN_NAME);
    assert_eq!(plugin.info().version, test_plugins::BUILTIN_VERSION);
}

#[test]
fn a_file_that_is_not_a_component_is_rejected_clearly() {
    let dir = TempDir::new("not-a-plugin");
    let path = dir.join("bogus.wasm");
    std::fs::write(&path, b"\0asm garbage").expect("write");
    let engine = enricher::runtime::PluginEngine::new().expect("engine");
    let err = engine.load_file(&path).err().expect("rejected");
    assert!(
        err.to_string()
            .contains("not a usable enrichment component"),
        "{err}"
    );
}
