//! Bad input gets a clear reason and loses nothing: every hostile record ends
//! on `failed` with a code, and records in == enriched + failed, always.

use std::path::{Path, PathBuf};

use enricher_tests::polyglot::{self, Lang};
use enricher_tests::*;
use serde_json::Value;

/// A config over `db` running `plugin` (default: the built-in Rust plugin).
fn config_with(db: &Path, plugin: Option<&Path>) -> enricher::config::Config {
    let mut config = config_for(db);
    config.plugin.path = plugin.map(Path::to_owned);
    config
}

fn pipeline(dir: &TempDir, plugin: Option<&Path>) -> enricher::pipeline::Pipeline {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let pipeline =
        enricher::app::build_pipeline(&config_with(&db, plugin)).expect("pipeline starts");
    if let Some(path) = plugin {
        assert_eq!(pipeline.plugin().source(), path.display().to_string());
    }
    pipeline
}

/// (payload, expected code) for each kind of broken input.
fn hostile_cases() -> Vec<(Vec<u8>, &'static str)> {
    let ok_rest = r#""payment_date":"2024-01-15T10:30:00""#;
    let with_amount = |a: &str| {
        format!(r#"{{"payment_id":"PAY-A","claim_id":"CLM-001","payment_amount":{a},{ok_rest}}}"#)
            .into_bytes()
    };
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    vec![
        (b"{\"payment_id\": \"PAY-T\", \"claim_id\": ".to_vec(), "INVALID_JSON"),
        (b"just some text".to_vec(), "INVALID_JSON"),
        (b"[1, 2, 3]".to_vec(), "INVALID_JSON"),
        (b"\xff\xfe\x00binary".to_vec(), "INVALID_JSON"),
        (b"   ".to_vec(), "INVALID_JSON"),
        (deep.into_bytes(), "INVALID_JSON"),
        (format!(r#"{{"payment_id":"PAY-M","payment_amount":1,{ok_rest}}}"#).into_bytes(), "INVALID_EVENT"),
        (format!(r#"{{"payment_id":"PAY-N","claim_id":null,"payment_amount":1,{ok_rest}}}"#).into_bytes(), "INVALID_EVENT"),
        (format!(r#"{{"payment_id":"PAY-W","claim_id":42,"payment_amount":1,{ok_rest}}}"#).into_bytes(), "INVALID_EVENT"),
        (format!(r#"{{"payment_id":"","claim_id":"CLM-001","payment_amount":1,{ok_rest}}}"#).into_bytes(), "INVALID_EVENT"),
        (br#"{"payment_id":"PAY-D","claim_id":"CLM-001","payment_amount":1,"payment_date":"2024-02-30T00:00:00"}"#.to_vec(), "INVALID_EVENT"),
        (with_amount("1e400"), "INVALID_EVENT"),
        (with_amount("\"NaN\""), "INVALID_EVENT"),
        (with_amount("123456789012345678901234567890"), "INVALID_EVENT"),
        (with_amount("1.005"), "INVALID_EVENT"),
        (with_amount("\"abc\""), "INVALID_EVENT"),
        (with_amount("\"\""), "INVALID_EVENT"),
        (with_amount(&format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000))), "INVALID_EVENT"),
    ]
}

#[test]
fn every_kind_of_bad_input_is_routed_with_its_code() {
    every_kind_of_bad_input_is_routed_with_its_code_by(None);
}

#[test]
fn the_python_plugin_routes_every_kind_of_bad_input_with_its_code() {
    every_kind_of_bad_input_is_routed_with_its_code_by(Some(&polyglot::plugin(Lang::Python)));
}

#[test]
fn the_js_plugin_routes_every_kind_of_bad_input_with_its_code() {
    every_kind_of_bad_input_is_routed_with_its_code_by(Some(&polyglot::plugin(Lang::Js)));
}

fn every_kind_of_bad_input_is_routed_with_its_code_by(plugin: Option<&Path>) {
    let dir = TempDir::new("bad-input");
    let mut pipeline = pipeline(&dir, plugin);
    let cases = hostile_cases();
    let batch = records(&cases.iter().map(|(p, _)| p.as_slice()).collect::<Vec<_>>());
    let routed = pipeline.process(&batch);
    assert_eq!(routed.len(), cases.len(), "one answer per input");
    for (r, (payload, code)) in routed.iter().zip(&cases) {
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
        assert_eq!(r.status, *code, "for {shown}");
        assert_eq!(r.output, enricher::bindings::Output::Failed, "for {shown}");
        let v: Value = serde_json::from_slice(&r.value).expect("failure records are JSON");
        assert_eq!(v["enrichment_status"], *code);
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "a human-readable reason for {shown}"
        );
        // The original payload is kept, as text or base64.
        let kept = v["original_payload"]
            .as_str()
            .map(|s| s.as_bytes().to_vec());
        let kept_b64 = v["original_payload_base64"].as_str().map(str::to_owned);
        assert!(
            kept.as_deref() == Some(payload.as_slice()) || kept_b64.is_some(),
            "payload kept for {shown}"
        );
    }
    // The payment_id survives where it could be read.
    assert_eq!(
        serde_json::from_slice::<Value>(&routed[6].value).expect("json")["payment_id"],
        "PAY-M"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&routed[8].value).expect("json")["payment_id"],
        "PAY-W"
    );
}

#[test]
fn oversized_records_never_reach_the_plugin_and_keep_a_prefix() {
    let dir = TempDir::new("oversized");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.pipeline.max_record_bytes = 4096;
    let mut pipeline = enricher::app::build_pipeline(&config).expect("pipeline starts");
    let big = format!(
        r#"{{"payment_id":"PAY-BIG","pad":"{}"}}"#,
        "x".repeat(10_000)
    );
    let small = event("PAY-1", "CLM-001", "1");
    let input = format!("{small}\n{big}\n{small}\n");
    let out = run_bytes(&mut pipeline, input.as_bytes(), 100);
    assert_eq!(out.enriched.len(), 2);
    assert_eq!(out.failed.len(), 1);
    let f = &out.failed[0];
    assert_eq!(f["enrichment_status"], "RECORD_TOO_LARGE");
    assert!(f["error"].as_str().is_some_and(|e| e.contains("4096")));
    let prefix = f["original_payload_prefix"].as_str().expect("prefix kept");
    assert!(prefix.starts_with(r#"{"payment_id":"PAY-BIG""#) && prefix.len() <= 1024);
    assert_eq!(pipeline.metrics().records_in, 3);
}

/// Standard base64 with padding, as failure records keep non-UTF-8 payloads.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a failure record kept of its input: the payload, as text or base64.
fn kept_payload(v: &Value) -> String {
    v["original_payload"]
        .as_str()
        .map(|p| format!("text:{p}"))
        .or_else(|| {
            v["original_payload_base64"]
                .as_str()
                .map(|p| format!("base64:{p}"))
        })
        .unwrap_or_else(|| panic!("no payload kept: {v}"))
}

#[test]
fn mixed_input_loses_nothing_at_any_batch_size() {
    mixed_input_loses_nothing(None, &[1, 7, 100, 1000]);
}

/// Python and JS: two batch sizes (each pipeline compiles the component anew).
#[test]
fn the_python_and_js_plugins_lose_nothing_of_mixed_input() {
    for lang in Lang::ALL {
        let plugin: PathBuf = polyglot::plugin(lang);
        mixed_input_loses_nothing(Some(&plugin), &[7, 1000]);
    }
}

fn mixed_input_loses_nothing(plugin: Option<&Path>, batch_sizes: &[usize]) {
    use std::collections::BTreeMap;
    let dir = TempDir::new("mixed");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    // What each valid event must become, by payment_id.
    let mut expected_valid: BTreeMap<String, &str> = BTreeMap::new();
    // (code, payload kept) of each hostile line, with multiplicity.
    let mut expected_hostile: Vec<(String, String)> = Vec::new();
    for i in 0..300 {
        let claim = ["CLM-001", "CLM-002", "CLM-404"][i % 3];
        let id = format!("PAY-{i}");
        lines.push(event(&id, claim, "12.34").into_bytes());
        expected_valid.insert(
            id,
            if claim == "CLM-404" {
                "CLAIM_NOT_FOUND"
            } else {
                "SUCCESS"
            },
        );
        if i % 10 == 0 {
            let (payload, code) = &hostile_cases()[i / 10 % 17];
            // A file line cannot hold a raw newline; the cases hold none.
            lines.push(payload.clone());
            let kept = match std::str::from_utf8(payload) {
                Ok(text) => format!("text:{text}"),
                Err(_) => format!("base64:{}", base64(payload)),
            };
            expected_hostile.push(((*code).to_owned(), kept));
        }
    }
    expected_hostile.sort();
    let mut input = lines.join(&b'\n');
    input.extend_from_slice(b"\n\n"); // a trailing blank line is not a record
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    for &batch_size in batch_sizes {
        let mut pipeline =
            enricher::app::build_pipeline(&config_with(&db, plugin)).expect("pipeline");
        let out = run_bytes(&mut pipeline, &input, batch_size);
        let m = pipeline.metrics();
        assert_eq!(m.records_in, lines.len() as u64, "batch {batch_size}");
        assert_eq!(m.enriched + m.failed, m.records_in);
        // Every valid event exactly once, with its own outcome; every hostile
        // line once, with its code and its payload.
        let mut valid: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut hostile: Vec<(String, String)> = Vec::new();
        for (v, output) in out
            .enriched
            .iter()
            .map(|v| (v, "enriched"))
            .chain(out.failed.iter().map(|v| (v, "failed")))
        {
            let status = v["enrichment_status"]
                .as_str()
                .expect("a status")
                .to_owned();
            if status == "SUCCESS" || status == "CLAIM_NOT_FOUND" {
                let id = v["payment_id"].as_str().expect("a payment_id").to_owned();
                valid
                    .entry(id)
                    .or_default()
                    .push(format!("{status} on {output}"));
            } else {
                assert_eq!(output, "failed", "batch {batch_size}: {v}");
                hostile.push((status, kept_payload(v)));
            }
        }
        let want: BTreeMap<String, Vec<String>> = expected_valid
            .iter()
            .map(|(id, status)| {
                let output = if *status == "SUCCESS" {
                    "enriched"
                } else {
                    "failed"
                };
                (id.clone(), vec![format!("{status} on {output}")])
            })
            .collect();
        let wrong: Vec<_> = want
            .iter()
            .filter(|(id, w)| valid.get(*id) != Some(*w))
            .map(|(id, w)| (id, w, valid.get(id)))
            .collect();
        assert!(
            wrong.is_empty(),
            "batch {batch_size}: {} valid events lost, duplicated or misrouted, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(3)]
        );
        assert_eq!(
            valid.len(),
            want.len(),
            "batch {batch_size}: no unexpected ids"
        );
        hostile.sort();
        assert_eq!(hostile.len(), expected_hostile.len(), "batch {batch_size}");
        assert!(
            hostile == expected_hostile,
            "batch {batch_size}: the hostile lines did not come back each once with their code"
        );
    }
}
