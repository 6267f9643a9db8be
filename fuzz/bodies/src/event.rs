//! `event_batch`: the input split at line breaks is one batch for the
//! plugin's core (`enrich_batch`) over a lookup that finds some claims, misses
//! some and fails some. Every input gets exactly one output, in order, and
//! every output is one valid JSON object; an event the parser accepts has an
//! exact amount within `DECIMAL(10,2)`, and its success record echoes its ids.

use enricher_guest::enrich::{Claim, ClaimLookup, LookupOutcome, enrich_batch};
use enricher_model::Status;
use enricher_model::event::parse_event;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Answers by the claim id's length: found, not found, unavailable or timed out.
struct Lookup;

impl ClaimLookup for Lookup {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<LookupOutcome> {
        claim_ids
            .iter()
            .map(|id| match id.len() % 4 {
                0 | 1 => LookupOutcome::Found(Claim {
                    member_id: format!("MBR-{id}"),
                    claim_amount: Decimal::new(150_000, 2),
                    claim_status: (id.len() % 2 == 0).then(|| "APPROVED".to_owned()),
                    created_at_micros: Some(i64::try_from(id.len()).unwrap_or(0) * 86_400_000_000),
                }),
                2 => LookupOutcome::NotFound,
                _ => LookupOutcome::Unavailable("down".to_owned()),
            })
            .collect()
    }
}

pub fn event_batch(data: &[u8]) {
    let payloads: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let routed = enrich_batch(&payloads, 1_705_314_601_123, &mut Lookup);
    assert_eq!(routed.len(), payloads.len(), "one output per input");
    for (i, (out, payload)) in routed.iter().zip(&payloads).enumerate() {
        assert_eq!(out.input_index as usize, i, "outputs in input order");
        let record: Map<String, Value> = match serde_json::from_slice(&out.value) {
            Ok(record) => record,
            Err(e) => panic!("output {i} is not a JSON object ({e}): {:?}", out.value),
        };
        assert_eq!(record["enrichment_status"], out.status.as_str());
        let parsed = parse_event(payload);
        match &parsed {
            Ok(event) => {
                assert_eq!(event.payment_amount.scale(), 2);
                assert!(event.payment_amount.abs() <= Decimal::new(9_999_999_999, 2));
                assert!(!matches!(
                    out.status,
                    Status::InvalidJson | Status::InvalidEvent
                ));
                assert_eq!(record["payment_id"], *event.payment_id);
                if out.status.is_success() {
                    assert_eq!(record["claim_id"], *event.claim_id);
                }
            }
            Err(invalid) => {
                assert!(matches!(
                    out.status,
                    Status::InvalidJson | Status::InvalidEvent
                ));
                assert!(!invalid.message.is_empty());
            }
        }
    }
}
