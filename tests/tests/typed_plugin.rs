//! The typed world (WIT 1.2.0, `typed-enricher`): the host parses the
//! events, resolves their claims and writes the outputs around a plugin that
//! only decides each payment's outcome.
//! - The built-in (typed) plugin writes, byte for byte, what the raw build of
//!   the same enrichment (`guest/`) writes, for good events, unknown claims, a failing store and every
//!   kind of bad input (the batch timestamp aside, decided per call).
//! - A typed plugin that traps, drops outcomes, reports a batch error or
//!   answers with a span outside the batch is handled as a raw one is: every
//!   input answered, nothing lost.
//! - A component exporting neither transform is refused at load.

use std::sync::Arc;

use enricher::bindings::{Header, InputRecord, Output};
use enricher::config::{CacheMode, LookupConfig};
use enricher::error::StoreError;
use enricher::generate::{GenerateOptions, write_events};
use enricher::lookup::{ClaimRow, ClaimsLookup, ClaimsStore};
use enricher::pipeline::{Pipeline, Routed};
use enricher::runtime::{PluginEngine, PluginForm};
use enricher_tests::*;

/// A routed record as compared: input index, output, status, key, value, headers.
type Comparable = (
    usize,
    Output,
    String,
    Option<Vec<u8>>,
    String,
    Vec<(String, Vec<u8>)>,
);

/// A routed record as bytes to compare: the timestamp blanked out.
fn comparable(r: &Routed) -> Comparable {
    let mut value = String::from_utf8(r.value.clone()).expect("outputs are UTF-8");
    let field = "\"enrichment_timestamp\":\"";
    if let Some(at) = value.find(field) {
        let start = at + field.len();
        value.replace_range(start..start + 24, "<timestamp>");
    }
    let headers = r
        .headers
        .iter()
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    (
        r.input_index,
        r.output,
        r.status.to_string(),
        r.key.clone(),
        value,
        headers,
    )
}

/// Every input of the comparison: a generated stream with bad input, the
/// hand-made hostile kinds, escapes, optional fields absent, keys and headers.
fn inputs() -> Vec<InputRecord> {
    let mut bytes = std::io::BufWriter::new(Vec::new());
    let options = GenerateOptions {
        count: Some(3_000),
        valid_claim_rate: 0.8,
        invalid_rate: 0.1,
        claims: 3,
        seed: 5,
        ..GenerateOptions::default()
    };
    write_events(&mut bytes, &options).expect("generate");
    let generated = bytes.into_inner().expect("flush");
    let mut payloads: Vec<Vec<u8>> = generated
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        // The generator's claims are CLM-0000000..2; ours are CLM-001..003.
        .map(|l| {
            String::from_utf8_lossy(l)
                .replace("CLM-000000", "CLM-00")
                .into_bytes()
        })
        .collect();
    let ok_rest = r#""payment_date":"2024-01-15T10:30:00""#;
    let with_amount = |a: &str| {
        format!(r#"{{"payment_id":"PAY-A","claim_id":"CLM-001","payment_amount":{a},{ok_rest}}}"#)
    };
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let hand_made: Vec<String> = vec![
        r#"{"payment_id": "PAY-T", "claim_id": "#.into(),
        "just some text".into(),
        "[1, 2, 3]".into(),
        "   ".into(),
        "".into(),
        "null".into(),
        deep,
        format!(r#"{{"payment_id":"PAY-M","payment_amount":1,{ok_rest}}}"#),
        format!(r#"{{"payment_id":"PAY-N","claim_id":null,"payment_amount":1,{ok_rest}}}"#),
        format!(r#"{{"payment_id":"PAY-W","claim_id":42,"payment_amount":1,{ok_rest}}}"#),
        format!(r#"{{"payment_id":"","claim_id":"CLM-001","payment_amount":1,{ok_rest}}}"#),
        format!(r#"{{"payment_id":"P","payment_id":"Q","claim_id":"CLM-001","payment_amount":1,{ok_rest}}}"#),
        r#"{"payment_id":"PAY-D","claim_id":"CLM-001","payment_amount":1,"payment_date":"2024-02-30T00:00:00"}"#.into(),
        with_amount("1e400"),
        with_amount("\"NaN\""),
        with_amount("123456789012345678901234567890"),
        with_amount("1.005"),
        with_amount("\"abc\""),
        with_amount("\"12.5\""),
        with_amount("1.5e3"),
        with_amount("-3"),
        with_amount("0.1"),
        with_amount("99999999.99"),
        // Escapes and non-ASCII text, optional fields absent or null, extra fields.
        format!(r#"{{"payment_id":"PAY-\u00e9\"q\\","claim_id":"CLM-00\u0031","payment_amount":5,{ok_rest},"payment_status":"Zürich \n"}}"#),
        format!(r#"{{"payment_id":"PAY-O","claim_id":"CLM-002","payment_amount":5,{ok_rest},"processor_id":null,"other":[1,{{"a":2}}]}}"#),
        format!(r#"{{"payment_id":"PAY-3","claim_id":"CLM-003","payment_amount":7.00,{ok_rest}}}"#),
        format!(r#"{{"payment_id":"PAY-X","claim_id":"CLM-404","payment_amount":7,{ok_rest}}}"#),
    ];
    payloads.extend(hand_made.into_iter().map(String::into_bytes));
    payloads.push(b"\xff\xfe\x00binary".to_vec());
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, value)| InputRecord {
            key: (i % 3 == 0).then(|| format!("key-{i}").into_bytes()),
            value,
            headers: if i % 5 == 0 {
                vec![Header {
                    key: "trace".into(),
                    value: format!("t{i}").into_bytes(),
                }]
            } else {
                Vec::new()
            },
            timestamp_ms: Some(1_700_000_000_000),
        })
        .collect()
}

fn pipelines(lookup: &Arc<ClaimsLookup>) -> (Pipeline, Pipeline) {
    let engine = PluginEngine::new().expect("engine");
    let raw = engine.load_raw().expect("raw plugin");
    let typed = engine.load_default().expect("built-in (typed) plugin");
    assert_eq!(raw.form(), PluginForm::Raw);
    assert_eq!(typed.form(), PluginForm::Typed);
    assert_eq!(typed.world().to_string(), "1.2.0");
    let make = |p| Pipeline::new(p, Arc::clone(lookup), 1 << 20).without_plugin_headers();
    (make(raw), make(typed))
}

fn assert_same(raw: &mut Pipeline, typed: &mut Pipeline, batch: &[InputRecord], batch_size: usize) {
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for chunk in batch.chunks(batch_size) {
        let (a, b) = (raw.process(chunk), typed.process(chunk));
        assert_eq!(a.len(), chunk.len(), "one output per input");
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(comparable(a), comparable(b));
            *statuses.entry(a.status.to_string()).or_default() += 1;
        }
    }
    for code in [
        "SUCCESS",
        "CLAIM_NOT_FOUND",
        "INVALID_JSON",
        "INVALID_EVENT",
    ] {
        assert!(
            statuses.get(code).is_some_and(|n| *n > 0),
            "{code} covered: {statuses:?}"
        );
    }
}

#[test]
fn the_typed_plugin_writes_what_the_raw_plugin_writes_byte_for_byte() {
    let dir = TempDir::new("typed-same");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let batch = inputs();
    for (cache, batch_size) in [
        (CacheMode::Partial, 100),
        (CacheMode::Full, 1000),
        (CacheMode::None, 7),
    ] {
        let mut config = config_for(&db);
        config.lookup.cache = cache;
        let lookup = Arc::new(
            ClaimsLookup::start(
                Box::new(enricher::lookup::DuckDbStore::open(Some(&db), Some(1)).expect("store")),
                &config.lookup,
            )
            .expect("lookup"),
        );
        let (mut raw, mut typed) = pipelines(&lookup);
        assert_same(&mut raw, &mut typed, &batch, batch_size);
    }
}

/// Raw and typed pipelines over `store` with no cache: every lookup asks it.
fn uncached_pipelines(store: impl ClaimsStore + 'static) -> (Pipeline, Pipeline) {
    let config = LookupConfig {
        cache: CacheMode::None,
        ..LookupConfig::default()
    };
    let lookup = Arc::new(ClaimsLookup::start(Box::new(store), &config).expect("lookup"));
    pipelines(&lookup)
}

/// A store that fails every query: DB_ERROR, with the store's words.
struct Down;

impl ClaimsStore for Down {
    fn fetch(&mut self, _: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        Err(StoreError::Permanent("disk on \"fire\"".into()))
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        Err(StoreError::Permanent("disk on \"fire\"".into()))
    }
}

#[test]
fn a_failing_store_gives_the_same_db_errors_in_both_forms() {
    let (mut raw, mut typed) = uncached_pipelines(Down);
    let batch = records(&[
        event("PAY-1", "CLM-001", "1.00").as_bytes(),
        b"not json",
        event("PAY-2", "CLM-9", "2.50").as_bytes(),
    ]);
    let (a, b) = (raw.process(&batch), typed.process(&batch));
    assert_eq!(statuses(&b), ["DB_ERROR", "INVALID_JSON", "DB_ERROR"]);
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(comparable(a), comparable(b));
    }
    let value = String::from_utf8_lossy(&b[0].value);
    assert!(value.contains("claims store unavailable"), "{value}");
}

/// A store whose one claim has an amount that is not `DECIMAL(10,2)`.
struct OddAmounts;

impl ClaimsStore for OddAmounts {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        let amount = |id: &str| match id {
            "CLM-ODD" => Some("1.005"),
            "CLM-LONG" => Some("12.5000"),
            _ => None,
        };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let row = ClaimRow {
                    member_id: "MBR-1".into(),
                    claim_amount: amount(id)?.parse().ok()?,
                    claim_status: None,
                    created_at_micros: None,
                };
                Some((id.clone(), row))
            })
            .collect())
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.fetch(&["CLM-ODD".into(), "CLM-LONG".into()])
    }
}

#[test]
fn a_claim_amount_that_would_be_rounded_is_invalid_in_both_forms() {
    let (mut raw, mut typed) = uncached_pipelines(OddAmounts);
    let batch = records(&[
        event("PAY-1", "CLM-ODD", "1.00").as_bytes(),
        event("PAY-2", "CLM-LONG", "2.50").as_bytes(),
    ]);
    let (a, b) = (raw.process(&batch), typed.process(&batch));
    assert_eq!(statuses(&b), ["INVALID_CLAIM_AMOUNT", "SUCCESS"]);
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(comparable(a), comparable(b));
    }
    assert_eq!(b[0].output, Output::Failed);
    let odd = String::from_utf8_lossy(&b[0].value);
    assert!(
        odd.contains(r#""claim_amount":null"#) && odd.contains("1005e-3"),
        "{odd}"
    );
    let long = String::from_utf8_lossy(&b[1].value);
    assert!(long.contains(r#""claim_amount":12.50,"#), "{long}");
}

/// Each output's input index and status, in input order.
fn by_input(routed: &[Routed]) -> Vec<(usize, &str)> {
    let mut got: Vec<(usize, &str)> = routed
        .iter()
        .map(|r| (r.input_index, r.status.as_ref()))
        .collect();
    got.sort();
    got
}

fn chaos_pipeline(dir: &TempDir) -> Pipeline {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.plugin.path = Some(test_plugins::TYPED_CHAOS.into());
    let pipeline = enricher::app::build_pipeline(&config).expect("pipeline");
    assert_eq!(pipeline.plugin().form(), PluginForm::Typed);
    pipeline.without_plugin_headers()
}

#[test]
fn a_typed_plugin_that_traps_loses_nothing() {
    let dir = TempDir::new("typed-trap");
    let mut pipeline = chaos_pipeline(&dir);
    let batch = records(&[
        event("PAY-1", "CLM-001", "1.00").as_bytes(),
        event("TRAP-1", "CLM-001", "1.00").as_bytes(),
        b"garbage",
        event("PAY-2", "CLM-404", "1.00").as_bytes(),
    ]);
    let routed = pipeline.process(&batch);
    assert_eq!(
        by_input(&routed),
        [
            (0, "SUCCESS"),
            (1, "PLUGIN_TRAP"),
            (2, "INVALID_JSON"),
            (3, "CLAIM_NOT_FOUND")
        ]
    );
    assert_eq!(
        pipeline.metrics().plugin_traps,
        3,
        "the batch, the half holding the trap, then the trap alone"
    );
    // The failure record keeps the payload.
    let trapped = routed
        .iter()
        .find(|r| r.input_index == 1)
        .expect("answered");
    assert!(String::from_utf8_lossy(&trapped.value).contains("TRAP-1"));
}

#[test]
fn a_typed_plugin_answering_fewer_payments_gets_the_rest_dropped_records() {
    let dir = TempDir::new("typed-drop");
    let mut pipeline = chaos_pipeline(&dir);
    let batch = records(&[
        event("PAY-1", "CLM-001", "1.00").as_bytes(),
        event("DROP-1", "CLM-001", "1.00").as_bytes(),
        b"{}",
        event("PAY-2", "CLM-002", "1.00").as_bytes(),
    ]);
    let routed = pipeline.process(&batch);
    assert_eq!(
        by_input(&routed),
        [
            (0, "SUCCESS"),
            (1, "PLUGIN_DROPPED_RECORD"),
            (2, "INVALID_EVENT"),
            (3, "PLUGIN_DROPPED_RECORD")
        ]
    );
}

#[test]
fn a_typed_batch_error_routes_the_batch_to_plugin_error() {
    let dir = TempDir::new("typed-batch-error");
    let mut pipeline = chaos_pipeline(&dir);
    let batch = records(&[
        event("PAY-1", "CLM-001", "1.00").as_bytes(),
        event("BATCH-ERROR", "CLM-001", "1.00").as_bytes(),
    ]);
    assert_eq!(
        statuses(&pipeline.process(&batch)),
        ["PLUGIN_ERROR", "PLUGIN_ERROR"]
    );
}

#[test]
fn typed_outputs_the_host_cannot_write_are_invalid_and_extra_fields_are_written_in_order() {
    let dir = TempDir::new("typed-spans");
    let mut pipeline = chaos_pipeline(&dir);
    let batch = records(&[
        event("BAD-SPAN", "CLM-001", "1.00").as_bytes(),
        event("EXTRA-1", "CLM-001", "1.00").as_bytes(),
    ]);
    let routed = pipeline.process(&batch);
    assert_eq!(statuses(&routed), ["PLUGIN_INVALID_OUTPUT", "SUCCESS"]);
    assert_eq!(routed[0].output, Output::Failed);
    // The summary's "invalid outputs" agrees with the status count.
    let counted = enricher::metrics::PipelineMetrics::read(pipeline.meter());
    assert_eq!(
        (
            counted.invalid_outputs,
            counted.status("PLUGIN_INVALID_OUTPUT")
        ),
        (1, 1)
    );
    let bad = String::from_utf8_lossy(&routed[0].value);
    assert!(
        bad.contains("outside it") && bad.contains("\"payment_id\":\"BAD-SPAN\""),
        "{bad}"
    );
    let extra = String::from_utf8_lossy(&routed[1].value);
    assert!(
        extra.contains(r#""claim_status":"APPROVED","score":123.4,"note":"checked \"twice\"","enrichment_status":"SUCCESS""#),
        "{extra}"
    );
}

#[test]
fn a_component_exporting_neither_transform_is_refused_at_load() {
    // The smallest valid component: a header and nothing else.
    let empty = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let engine = PluginEngine::new().expect("engine");
    let why = match engine.load_bytes("empty.wasm", &empty) {
        Ok(_) => panic!("an empty component loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        why.contains("exports neither payments:enrichment/transform")
            && why.contains("payments:enrichment/typed-transform")
            && why.contains("it exports nothing"),
        "{why}"
    );
}
