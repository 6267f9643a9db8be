//! The enrichment step, one record at a time on `enricher-sdk`: parse a raw
//! payload ([`Plugin::read`]), name its claim, and write it enriched or as a
//! failure with its reason ([`Plugin::enrich`]).
//!
//! The SDK looks the distinct claim ids of a batch's valid events up in ONE
//! call and routes each output. Nothing here knows of WASM: `lib.rs` exports
//! [`PaymentEnrichment`] as the component, and tests and the native benchmark
//! run it through [`enrich_batch`] over a map.

use enricher_sdk::{Batch, Lookup, Output, Plugin, Record};

use enricher_model::claim::claim_amount_at_scale_2;
use enricher_model::event::{Invalid, PaymentEvent, parse_event};
use enricher_model::json_out::ObjectWriter;
use enricher_model::{FailureRecord, Status};

/// The SDK's lookup types under the names this crate has always used (the
/// host's native benchmark and the fuzz bodies implement [`ClaimLookup`]).
pub use enricher_sdk::{Answer as LookupOutcome, Claim, Claims as ClaimLookup};

/// The routed output for a record written with `status`.
fn output(status: Status, value: Vec<u8>) -> Output {
    if status.is_success() {
        Output::enriched(value)
    } else {
        Output::failed(status.as_str(), value)
    }
}

/// The payment-enrichment plugin, one record at a time on the SDK.
pub struct PaymentEnrichment;

impl Plugin for PaymentEnrichment {
    const NAME: &'static str = crate::PLUGIN_NAME;
    const VERSION: &'static str = crate::PLUGIN_VERSION;
    type Event<'a> = PaymentEvent<'a>;

    fn read<'a>(batch: &Batch, record: &Record<'a>) -> Result<PaymentEvent<'a>, Output> {
        parse_event(record.value).map_err(|invalid| {
            let mut value = Vec::with_capacity(record.value.len() + 200);
            let status = write_invalid(&mut value, &invalid, record.value, batch.timestamp());
            output(status, value)
        })
    }

    fn claim_id<'e>(event: &'e PaymentEvent<'_>) -> Option<&'e str> {
        Some(&event.claim_id)
    }

    fn enrich(
        batch: &Batch,
        record: &Record<'_>,
        event: PaymentEvent<'_>,
        claim: Lookup<'_>,
    ) -> Output {
        let mut value = Vec::with_capacity(record.value.len() + 200);
        let status = write_event(&mut value, &event, claim, batch.timestamp());
        output(status, value)
    }
}

/// One output record: which input it answers, its status, and its JSON bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub input_index: u32,
    pub status: Status,
    pub value: Vec<u8>,
}

/// Enrich a batch natively (tests, fuzzing, the host's no-WASM baseline): the
/// SDK's driver over [`PaymentEnrichment`]. Exactly one [`Routed`] per payload, in order.
pub fn enrich_batch(
    payloads: &[&[u8]],
    processing_time_ms: i64,
    lookup: &mut impl ClaimLookup,
) -> Vec<Routed> {
    enricher_sdk::testing::process::<PaymentEnrichment>(processing_time_ms, payloads, lookup)
        .into_iter()
        .enumerate()
        .map(|(i, out)| Routed {
            input_index: u32::try_from(i).unwrap_or(u32::MAX),
            // Every output's status is one of ours.
            status: Status::from_wire(out.status()).unwrap_or(Status::DbError),
            value: out.into_value(),
        })
        .collect()
}

fn write_payment_fields<'w, 'b>(
    w: &'w mut ObjectWriter<'b>,
    e: &PaymentEvent<'_>,
) -> &'w mut ObjectWriter<'b> {
    w.str("payment_id", &e.payment_id)
        .str("claim_id", &e.claim_id)
        .decimal("payment_amount", &e.payment_amount)
        .str("payment_date", &e.payment_date)
        .opt_str("processor_id", e.processor_id.as_deref())
        .opt_str("payment_method", e.payment_method.as_deref())
        .opt_str("payment_status", e.payment_status.as_deref())
}

fn write_event(
    out: &mut Vec<u8>,
    event: &PaymentEvent<'_>,
    claim: Lookup<'_>,
    timestamp: &str,
) -> Status {
    let mut w = ObjectWriter::new(out);
    // Every event asks for its claim: `None` is not reached.
    let answer = claim
        .answer()
        .ok_or_else(|| (Status::DbError, "no claim was looked up".to_owned()));
    let (status, error) = match answer.and_then(|a| a.check(&event.claim_id)) {
        Err(failure) => failure,
        Ok(claim) => match claim_amount_at_scale_2(&event.claim_id, claim.claim_amount) {
            Err(invalid) => (Status::InvalidClaimAmount, invalid.message),
            Ok(amount) => {
                write_payment_fields(&mut w, event)
                    .str("member_id", &claim.member_id)
                    .decimal("claim_amount", &amount)
                    .opt_str("claim_status", claim.claim_status.as_deref());
                // Version 2 of the plugin (feature `v2`) also says what is left of the claim.
                #[cfg(feature = "v2")]
                if let Some(mut remaining) = amount.checked_sub(event.payment_amount) {
                    remaining.rescale(2);
                    w.decimal("remaining_claim_amount", &remaining);
                }
                w.str("enrichment_status", Status::Success.as_str())
                    .str("enrichment_timestamp", timestamp)
                    .finish();
                return Status::Success;
            }
        },
    };
    write_failure(&mut w, event, status, &error, timestamp)
}

/// An event that could not be enriched: its fields, null claim fields, the status and error.
fn write_failure(
    w: &mut ObjectWriter<'_>,
    event: &PaymentEvent<'_>,
    status: Status,
    error: &str,
    timestamp: &str,
) -> Status {
    write_payment_fields(w, event)
        .null("member_id")
        .null("claim_amount")
        .null("claim_status")
        .str("enrichment_status", status.as_str())
        .str("error", error)
        .str("enrichment_timestamp", timestamp)
        .finish();
    status
}

fn write_invalid(out: &mut Vec<u8>, invalid: &Invalid, payload: &[u8], timestamp: &str) -> Status {
    let status = invalid.kind.status();
    FailureRecord {
        payment_id: invalid.payment_id.as_deref(),
        status: status.as_str(),
        error: &invalid.message,
        timestamp,
        payload,
        keep_prefix: None,
    }
    .write(out);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashMap;

    /// A lookup over a fixed map that records how it was called.
    struct MapLookup {
        claims: HashMap<String, LookupOutcome>,
        calls: Vec<Vec<String>>,
    }

    impl ClaimLookup for MapLookup {
        fn lookup(&mut self, ids: &[&str]) -> Vec<LookupOutcome> {
            self.calls.push(ids.iter().map(|s| s.to_string()).collect());
            ids.iter()
                .map(|id| {
                    self.claims
                        .get(*id)
                        .cloned()
                        .unwrap_or(LookupOutcome::NotFound)
                })
                .collect()
        }
    }

    fn lookup() -> MapLookup {
        let claim = Claim {
            member_id: "MBR-789".into(),
            claim_amount: "2000".parse().expect("decimal"),
            claim_status: Some("APPROVED".into()),
            created_at_micros: None,
        };
        let mut claims = HashMap::new();
        claims.insert("CLM-001".to_string(), LookupOutcome::Found(claim));
        claims.insert(
            "CLM-DOWN".to_string(),
            LookupOutcome::Unavailable("disk on fire".into()),
        );
        claims.insert(
            "CLM-SLOW".to_string(),
            LookupOutcome::Timeout("after 50 ms".into()),
        );
        MapLookup {
            claims,
            calls: Vec::new(),
        }
    }

    fn event(payment_id: &str, claim_id: &str) -> String {
        format!(
            r#"{{"payment_id":"{payment_id}","claim_id":"{claim_id}","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}}"#
        )
    }

    fn run(payloads: &[&[u8]], lookup: &mut MapLookup) -> Vec<(Status, Value)> {
        enrich_batch(payloads, 1_705_314_601_000, lookup)
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                assert_eq!(r.input_index as usize, i);
                (
                    r.status,
                    serde_json::from_slice(&r.value).expect("output is JSON"),
                )
            })
            .collect()
    }

    #[test]
    fn enriches_a_found_claim_with_exact_amounts() {
        let e = event("PAY-1", "CLM-001");
        let out = run(&[e.as_bytes()], &mut lookup());
        let (status, v) = &out[0];
        assert_eq!(*status, Status::Success);
        assert_eq!(v["member_id"], "MBR-789");
        assert_eq!(v["claim_status"], "APPROVED");
        assert_eq!(v["enrichment_status"], "SUCCESS");
        assert_eq!(v["enrichment_timestamp"], "2024-01-15T10:30:01.000Z");
        assert_eq!(v["payment_method"], "ELECTRONIC");
        let raw = String::from_utf8(
            enrich_batch(&[e.as_bytes()], 0, &mut lookup())[0]
                .value
                .clone(),
        )
        .expect("utf8");
        assert!(raw.contains(r#""payment_amount":1500.00,"#), "{raw}");
        assert!(raw.contains(r#""claim_amount":2000.00,"#), "{raw}");
    }

    #[test]
    fn a_claim_amount_that_would_be_rounded_is_invalid_never_rounded() {
        let mut lookup = lookup();
        let claim = |amount: &str| {
            LookupOutcome::Found(Claim {
                member_id: "MBR-1".into(),
                claim_amount: amount.parse().expect("decimal"),
                claim_status: None,
                created_at_micros: None,
            })
        };
        lookup.claims.insert("CLM-ODD".into(), claim("1.005"));
        lookup.claims.insert("CLM-LONG".into(), claim("12.5000"));
        let (a, b) = (event("P1", "CLM-ODD"), event("P2", "CLM-LONG"));
        let out = run(&[a.as_bytes(), b.as_bytes()], &mut lookup);
        assert_eq!(out[0].0, Status::InvalidClaimAmount);
        assert_eq!(out[0].1["enrichment_status"], "INVALID_CLAIM_AMOUNT");
        assert_eq!(out[0].1["claim_amount"], Value::Null);
        assert_eq!(
            out[0].1["error"],
            "claim CLM-ODD has amount 1005e-3, which cannot be written exactly with 2 decimal places"
        );
        // Trailing zeros are exact: written at scale 2.
        assert_eq!(out[1].0, Status::Success);
        let written = enrich_batch(&[b.as_bytes()], 0, &mut lookup);
        let text = String::from_utf8_lossy(&written[0].value);
        assert!(text.contains(r#""claim_amount":12.50,"#), "{text}");
    }

    #[test]
    fn routes_each_lookup_failure_with_its_code() {
        let (a, b, c) = (
            event("P1", "CLM-404"),
            event("P2", "CLM-DOWN"),
            event("P3", "CLM-SLOW"),
        );
        let out = run(&[a.as_bytes(), b.as_bytes(), c.as_bytes()], &mut lookup());
        let codes: Vec<_> = out
            .iter()
            .map(|(s, v)| (s.as_str(), v["enrichment_status"].clone()))
            .collect();
        assert_eq!(
            codes[0],
            ("CLAIM_NOT_FOUND", Value::from("CLAIM_NOT_FOUND"))
        );
        assert_eq!(codes[1], ("DB_ERROR", Value::from("DB_ERROR")));
        assert_eq!(codes[2], ("DB_TIMEOUT", Value::from("DB_TIMEOUT")));
        for (_, v) in &out {
            assert!(v["member_id"].is_null());
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
            assert!(v["payment_id"].is_string());
        }
        assert!(
            out[1].1["error"]
                .as_str()
                .is_some_and(|e| e.contains("disk on fire"))
        );
    }

    #[test]
    fn one_lookup_call_per_batch_with_distinct_ids() {
        let events: Vec<String> = ["CLM-001", "CLM-2", "CLM-001", "CLM-2", "CLM-3"]
            .iter()
            .enumerate()
            .map(|(i, c)| event(&format!("P{i}"), c))
            .collect();
        let mut payloads: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
        payloads.push(b"garbage");
        let mut l = lookup();
        let out = run(&payloads, &mut l);
        assert_eq!(l.calls, vec![vec!["CLM-001", "CLM-2", "CLM-3"]]);
        assert_eq!(out.len(), 6);
        assert_eq!(out[2].0, Status::Success);
        assert_eq!(out[5].0, Status::InvalidJson);
    }

    #[test]
    fn no_lookup_when_nothing_is_valid() {
        let mut l = lookup();
        let out = run(&[b"{}", b""], &mut l);
        assert!(l.calls.is_empty());
        assert_eq!(out[0].0, Status::InvalidEvent);
        assert_eq!(out[1].0, Status::InvalidJson);
    }

    #[test]
    fn invalid_input_keeps_the_original_payload() {
        let bad = br#"{"payment_id":"PAY-7","claim_id":"C","payment_amount":1e400,"payment_date":"2024-01-15T10:30:00"}"#;
        let out = run(&[bad, b"\xff\x00binary"], &mut lookup());
        assert_eq!(out[0].0, Status::InvalidEvent);
        assert_eq!(out[0].1["payment_id"], "PAY-7");
        assert_eq!(
            out[0].1["original_payload"].as_str().map(str::as_bytes),
            Some(&bad[..])
        );
        assert_eq!(out[1].0, Status::InvalidJson);
        assert!(out[1].1["payment_id"].is_null());
        assert_eq!(out[1].1["original_payload_base64"], "/wBiaW5hcnk=");
    }

    #[test]
    fn a_short_lookup_answer_is_a_db_error_not_a_panic() {
        struct Short;
        impl ClaimLookup for Short {
            fn lookup(&mut self, _: &[&str]) -> Vec<LookupOutcome> {
                Vec::new()
            }
        }
        let e = event("P", "C");
        let out = enrich_batch(&[e.as_bytes()], 0, &mut Short);
        assert_eq!(out[0].status, Status::DbError);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: mutate a valid event byte by byte.
        let base = event("PAY-1", "CLM-001").into_bytes();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut l = lookup();
        for _ in 0..3000 {
            let mut p = base.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % p.len() as u64) as usize;
                p[at] = (state >> 32) as u8;
            }
            let out = enrich_batch(&[&p], 0, &mut l);
            assert_eq!(out.len(), 1);
            let _: Value = serde_json::from_slice(&out[0].value).expect("always JSON");
        }
    }
}
