//! {{name}}: a typed enrichment plugin on enricher-sdk (world `typed-enricher`).
//! Each payment gets its claim's member and amount, and what is left of the
//! claim after this payment; a payment larger than its claim is OVERPAID.
//!
//! The host parses each event (bad input never gets here), looks the batch's
//! claims up once and writes the output JSON; `enrich` only decides. Texts
//! handed back as given (the member id, the status) cross without a copy.
//! `cargo test` runs this natively; `enricher plugin build` makes the component.

use enricher_sdk::Batch;
use enricher_sdk::typed::{ClaimAnswer, Enriched, Failure, Outcome, Payment, TypedPlugin};

pub struct MyPlugin;

impl TypedPlugin for MyPlugin {
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn enrich<'t>(_: &Batch, payment: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
        // No claim: CLAIM_NOT_FOUND, DB_ERROR or DB_TIMEOUT, with the host's messages.
        let claim = claim.require(payment.claim_id)?;
        // Both amounts are exact with two decimals, so is what is left.
        let remaining = claim.claim_amount - payment.payment_amount;
        if remaining.is_sign_negative() {
            return Err(Failure::new(
                "OVERPAID",
                format!(
                    "payment {} of {} exceeds claim {} of {}",
                    payment.payment_id,
                    payment.payment_amount,
                    payment.claim_id,
                    claim.claim_amount
                ),
            ));
        }
        Ok(Enriched::from_claim(&claim).with_field("remaining_claim_amount", remaining))
    }
}

enricher_sdk::export_typed!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use enricher_sdk::Decimal;
    use enricher_sdk::testing::ClaimsStub;
    use enricher_sdk::testing::typed::{TypedOutput, process_payments};

    #[test]
    fn enriches_found_claims_and_routes_the_rest_to_failed() {
        let mut claims = ClaimsStub::new()
            .claim("CLM-1", "MBR-1", "2000.00")
            .unavailable("CLM-DOWN", "disk on fire");
        let out = process_payments::<MyPlugin>(
            1_705_314_601_000,
            &[
                r#"{"payment_id":"P1","claim_id":"CLM-1","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00"}"#,
                r#"{"payment_id":"P2","claim_id":"CLM-404","payment_amount":1,"payment_date":"2024-01-15T10:30:00"}"#,
                r#"{"payment_id":"P3","claim_id":"CLM-DOWN","payment_amount":1,"payment_date":"2024-01-15T10:30:00"}"#,
                r#"{"payment_id":"P4","claim_id":"CLM-1","payment_amount":2500,"payment_date":"2024-01-15T10:30:00"}"#,
                r#"{"payment_id":"P5","claim_id":"CLM-1","payment_amount":0.001,"payment_date":"2024-01-15T10:30:00"}"#,
            ],
            &mut claims,
        );
        let statuses: Vec<&str> = out.iter().map(TypedOutput::status).collect();
        assert_eq!(
            statuses,
            [
                "SUCCESS",
                "CLAIM_NOT_FOUND",
                "DB_ERROR",
                "OVERPAID",
                "INVALID_EVENT"
            ]
        );
        let first = out[0].enriched().expect("P1 is enriched");
        assert_eq!(first.member_id, "MBR-1");
        let remaining: Decimal = "500.00".parse().expect("a decimal");
        assert_eq!(
            first.field("remaining_claim_amount"),
            Some(&remaining.into())
        );
        assert_eq!(
            out[3].failure().map(|f| f.message.as_str()),
            Some("payment P4 of 2500.00 exceeds claim CLM-1 of 2000.00")
        );
        assert_eq!(claims.calls().len(), 1, "one lookup for the whole batch");
    }
}
