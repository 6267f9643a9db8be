//! The host's built-in plugin: the payment enrichment on the typed world
//! (`typed-enricher`, WIT 1.2.0), written on the SDK's [`TypedPlugin`] like
//! any typed plugin. The same enrichment as the raw build in
//! `guest/src/enrich.rs`, without its generic work: the host hands it each
//! batch's payments already parsed, with each payment's claim already
//! resolved, and writes the outcomes as JSON itself. What is left here is
//! the decision, on `enricher-model`'s rules and messages: a found claim
//! enriches the payment (its amount at scale 2), a missing one is
//! CLAIM_NOT_FOUND, a failed lookup DB_ERROR or DB_TIMEOUT, an amount that
//! cannot be written exactly at scale 2 INVALID_CLAIM_AMOUNT.
//!
//! Text is never copied: the enriched member id and status are the batch's
//! text, handed back (the SDK answers them as spans). `enricher run
//! --native-step typed` runs the same rules natively
//! (`enricher-plugin-typed-logic`, `logic/`).
//! Build: `cargo build --release -p enricher-plugin-typed --target wasm32-wasip2`.

use enricher_sdk::Batch;
use enricher_sdk::model::claim::claim_amount_at_scale_2;
use enricher_sdk::typed::{ClaimAnswer, Enriched, Outcome, Payment, TypedPlugin};

pub struct PaymentEnrichment;

impl TypedPlugin for PaymentEnrichment {
    // The host's built-in plugin: the name and version it has always reported.
    const NAME: &'static str = "payment-enrichment";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn enrich<'t>(_: &Batch, payment: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
        let claim = claim.require(payment.claim_id)?;
        let claim_amount = claim_amount_at_scale_2(payment.claim_id, claim.claim_amount)?;
        Ok(Enriched {
            claim_amount,
            ..Enriched::from_claim(&claim)
        })
    }
}

enricher_sdk::export_typed!(PaymentEnrichment);

#[cfg(test)]
mod tests {
    use super::*;
    use enricher_sdk::testing::ClaimsStub;
    use enricher_sdk::testing::typed::{TypedOutput, process_payments};

    fn payment(id: &str, claim_id: &str) -> String {
        format!(
            r#"{{"payment_id":"{id}","claim_id":"{claim_id}","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00"}}"#
        )
    }

    #[test]
    fn enriches_at_scale_2_and_fails_with_the_built_in_reasons() {
        let mut claims = ClaimsStub::new()
            .claim("CLM-1", "MBR-1", "2000")
            .claim("CLM-ODD", "MBR-2", "1.005")
            .unavailable("CLM-DOWN", "IO Error")
            .timeout("CLM-SLOW", "after 50ms");
        let payloads: Vec<String> = ["CLM-1", "CLM-404", "CLM-DOWN", "CLM-SLOW", "CLM-ODD"]
            .iter()
            .enumerate()
            .map(|(i, c)| payment(&format!("P{i}"), c))
            .collect();
        let payloads: Vec<&str> = payloads.iter().map(String::as_str).collect();
        let out = process_payments::<PaymentEnrichment>(0, &payloads, &mut claims);
        let statuses: Vec<&str> = out.iter().map(TypedOutput::status).collect();
        assert_eq!(
            statuses,
            [
                "SUCCESS",
                "CLAIM_NOT_FOUND",
                "DB_ERROR",
                "DB_TIMEOUT",
                "INVALID_CLAIM_AMOUNT"
            ]
        );
        let enriched = out[0].enriched().expect("P0 enriched");
        assert_eq!(enriched.member_id, "MBR-1");
        assert_eq!(enriched.claim_amount.to_string(), "2000.00");
        assert!(enriched.extra_fields.is_empty());
        let message = |i: usize| out[i].failure().map(|f| f.message.as_str());
        assert_eq!(message(1), Some("claim CLM-404 not found"));
        assert_eq!(message(2), Some("claims store unavailable: IO Error"));
        assert_eq!(message(3), Some("claims lookup timed out: after 50ms"));
        assert_eq!(
            message(4),
            Some(
                "claim CLM-ODD has amount 1005e-3, which cannot be written exactly with 2 decimal places"
            )
        );
    }
}
