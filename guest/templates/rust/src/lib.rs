//! {{name}}: an enrichment plugin on enricher-sdk. Each payment event gets its
//! claim's member and amount, and what is left of the claim after this payment.
//!
//! `read` parses a record, `enrich` turns it and its claim into one output: the
//! SDK does the rest (one claims lookup per batch, routing, the WIT glue).
//! `cargo test` runs this natively; `enricher plugin build` makes the component.

use std::borrow::Cow;

use enricher_sdk::model::FailureRecord;
use enricher_sdk::model::json_out::ObjectWriter;
use enricher_sdk::{Batch, Decimal, Lookup, Output, Plugin, Record, Status};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A payment event as sent (the fields this plugin reads), borrowing the record.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    payment_id: Cow<'a, str>,
    #[serde(borrow)]
    claim_id: Cow<'a, str>,
    #[serde(borrow)]
    payment_amount: &'a RawValue,
}

/// A valid payment: the amount exact, with two decimal places.
pub struct Payment<'a> {
    payment_id: Cow<'a, str>,
    claim_id: Cow<'a, str>,
    amount: Decimal,
}

pub struct MyPlugin;

impl Plugin for MyPlugin {
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Event<'a> = Payment<'a>;

    fn read<'a>(batch: &Batch, record: &Record<'a>) -> Result<Payment<'a>, Output> {
        let wire: Wire<'a> = serde_json::from_slice(record.value)
            .map_err(|e| failure(batch, record, None, Status::InvalidEvent, &e.to_string()))?;
        // Money is exact: the number's own text, never a float.
        let amount = Decimal::from_str_exact(wire.payment_amount.get())
            .ok()
            .filter(|a| a.scale() <= 2)
            .map(|mut a| {
                a.rescale(2);
                a
            });
        let Some(amount) = amount else {
            let why = format!("payment_amount {} is not an amount", wire.payment_amount);
            let id = Some(wire.payment_id.as_ref());
            return Err(failure(batch, record, id, Status::InvalidEvent, &why));
        };
        Ok(Payment {
            payment_id: wire.payment_id,
            claim_id: wire.claim_id,
            amount,
        })
    }

    fn claim_id<'e>(payment: &'e Payment<'_>) -> Option<&'e str> {
        Some(&payment.claim_id)
    }

    fn enrich(batch: &Batch, record: &Record<'_>, p: Payment<'_>, claim: Lookup<'_>) -> Output {
        let (status, why) = match claim {
            Lookup::Found(claim) => {
                let mut remaining = claim.claim_amount - p.amount;
                remaining.rescale(2);
                let mut value = Vec::with_capacity(record.value.len() + 128);
                ObjectWriter::new(&mut value)
                    .str("payment_id", &p.payment_id)
                    .str("claim_id", &p.claim_id)
                    .decimal("payment_amount", &p.amount)
                    .str("member_id", &claim.member_id)
                    .decimal("claim_amount", &claim.claim_amount)
                    .decimal("remaining_claim_amount", &remaining)
                    .str("enrichment_status", Status::Success.as_str())
                    .str("enrichment_timestamp", batch.timestamp())
                    .finish();
                return Output::enriched(value);
            }
            Lookup::NotFound => (Status::ClaimNotFound, format!("claim {} not found", p.claim_id)),
            Lookup::Timeout(why) => (Status::DbTimeout, why.to_owned()),
            Lookup::Unavailable(why) => (Status::DbError, why.to_owned()),
            Lookup::NotAsked => (Status::DbError, "no claim was looked up".to_owned()),
        };
        failure(batch, record, Some(&p.payment_id), status, &why)
    }
}

/// A failure record: the input kept whole, with the status and the reason.
fn failure(
    batch: &Batch,
    record: &Record<'_>,
    payment_id: Option<&str>,
    status: Status,
    error: &str,
) -> Output {
    let mut value = Vec::with_capacity(record.value.len() + 128);
    FailureRecord {
        payment_id,
        status: status.as_str(),
        error,
        timestamp: batch.timestamp(),
        payload: record.value,
        keep_prefix: None,
    }
    .write(&mut value);
    Output::failed(status, value)
}

enricher_sdk::export!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use enricher_sdk::testing::{ClaimsStub, process};

    #[test]
    fn enriches_found_claims_and_routes_the_rest_to_failed() {
        let mut claims = ClaimsStub::new()
            .claim("CLM-1", "MBR-1", "2000.00")
            .unavailable("CLM-DOWN", "disk on fire");
        let out = process::<MyPlugin>(
            1_705_314_601_000,
            &[
                br#"{"payment_id":"P1","claim_id":"CLM-1","payment_amount":1500.00}"#,
                br#"{"payment_id":"P2","claim_id":"CLM-404","payment_amount":1}"#,
                br#"{"payment_id":"P3","claim_id":"CLM-DOWN","payment_amount":1}"#,
                br#"{"payment_id":"P4","claim_id":"CLM-1","payment_amount":0.001}"#,
                b"not json",
            ],
            &mut claims,
        );
        let statuses: Vec<&str> = out.iter().map(Output::status).collect();
        assert_eq!(
            statuses,
            ["SUCCESS", "CLAIM_NOT_FOUND", "DB_ERROR", "INVALID_EVENT", "INVALID_EVENT"]
        );
        let first = String::from_utf8_lossy(out[0].value());
        assert!(first.contains(r#""remaining_claim_amount":500.00"#), "{first}");
        assert_eq!(claims.calls().len(), 1, "one lookup for the whole batch");
    }
}
