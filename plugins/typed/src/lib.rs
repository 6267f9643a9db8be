//! The payment-enrichment plugin on the typed world (`typed-enricher`, WIT
//! 1.2.0): the same enrichment as the raw built-in plugin
//! (`guest/src/enrich.rs`), without its generic work. The host hands it
//! each batch's payments already parsed, with each payment's claim already
//! resolved, and writes the outcomes as JSON itself; what is left here is the
//! logic: a found claim enriches the payment (its amount at scale 2), a
//! missing one is CLAIM_NOT_FOUND, a failed lookup DB_ERROR or DB_TIMEOUT,
//! with the raw plugin's messages.
//!
//! Text is never copied: the enriched member id and status are spans of the
//! batch's text, handed back. The host's native mirror of this logic (for
//! `enricher run --native-step typed`) is `host/src/cli/native_step.rs`.
//! Build: `cargo build --release -p enrichment-typed --target wasm32-wasip2`.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../wit", world: "typed-enricher" });

use exports::payments::enrichment::typed_transform::{
    BatchError, Claim, ClaimResult, EnrichedPayment, Failure, Guest, LookupFailureKind, Outcome,
    PaymentRecord, Span, TextRef,
};
use payments::enrichment::claims::Decimal as WitDecimal;
use payments::enrichment::types::{BatchContext, PluginInfo};
use rust_decimal::Decimal;

struct TypedEnrichment;

impl Guest for TypedEnrichment {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "payment-enrichment-typed".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn process_payments(
        _: BatchContext,
        text: String,
        payments: Vec<PaymentRecord>,
    ) -> Result<Vec<Outcome>, BatchError> {
        Ok(payments.iter().map(|p| outcome(&text, p)).collect())
    }
}

fn outcome(text: &str, record: &PaymentRecord) -> Outcome {
    match &record.claim {
        ClaimResult::Found(claim) => Outcome::Enriched(enriched(claim)),
        ClaimResult::NotFound => failed(
            "CLAIM_NOT_FOUND",
            format!("claim {} not found", span(text, record.payment.claim_id)),
        ),
        ClaimResult::Failed(f) => match f.kind {
            LookupFailureKind::Unavailable => failed(
                "DB_ERROR",
                format!("claims store unavailable: {}", span(text, f.message)),
            ),
            LookupFailureKind::Timeout => failed(
                "DB_TIMEOUT",
                format!("claims lookup timed out: {}", span(text, f.message)),
            ),
        },
    }
}

fn enriched(claim: &Claim) -> EnrichedPayment {
    let d = claim.claim_amount;
    let mut amount = Decimal::try_from_i128_with_scale(i128::from(d.unscaled), u32::from(d.scale))
        .unwrap_or_default();
    amount.rescale(2);
    EnrichedPayment {
        member_id: TextRef::Batch(claim.member_id),
        claim_amount: WitDecimal {
            unscaled: i64::try_from(amount.mantissa()).unwrap_or(i64::MAX),
            scale: 2,
        },
        claim_status: claim.claim_status.map(TextRef::Batch),
        extra_fields: Vec::new(),
    }
}

fn failed(reason: &str, message: String) -> Outcome {
    Outcome::Failed(Failure {
        reason: reason.to_owned(),
        message,
    })
}

/// A span of the batch's text (the host's: always in it).
fn span(text: &str, s: Span) -> &str {
    text.get(s.start as usize..(s.start + s.len) as usize)
        .unwrap_or_default()
}

export!(TypedEnrichment);
