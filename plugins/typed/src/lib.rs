//! The host's built-in plugin: the payment enrichment on the typed world
//! (`typed-enricher`, WIT 1.2.0), the same enrichment as the raw build in
//! `guest/src/enrich.rs`, without its generic work. The host hands it
//! each batch's payments already parsed, with each payment's claim already
//! resolved, and writes the outcomes as JSON itself; what is left here is the
//! logic, shared with the host's native typed step in
//! `enrichment-typed-logic` (`logic/`): a found claim enriches the payment
//! (its amount at scale 2), a missing one is CLAIM_NOT_FOUND, a failed lookup
//! DB_ERROR or DB_TIMEOUT, an amount that cannot be written exactly at
//! scale 2 INVALID_CLAIM_AMOUNT, with the raw build's messages.
//!
//! Text is never copied: the enriched member id and status are spans of the
//! batch's text, handed back. `enricher run --native-step typed`
//! (`host/src/cli/native_step.rs`) runs the same logic crate natively.
//! Build: `cargo build --release -p enrichment-typed --target wasm32-wasip2`.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../wit", world: "typed-enricher" });

use enrichment_typed_logic::{Amount, ClaimAnswer, Decision, decide};
use exports::payments::enrichment::typed_transform::{
    BatchError, ClaimResult, EnrichedPayment, Failure, Guest, LookupFailureKind, Outcome,
    PaymentRecord, Span, TextRef,
};
use payments::enrichment::claims::Decimal as WitDecimal;
use payments::enrichment::types::{BatchContext, PluginInfo};

struct TypedEnrichment;

impl Guest for TypedEnrichment {
    fn info() -> PluginInfo {
        PluginInfo {
            // The host's built-in plugin: the name and version it has always reported.
            name: "payment-enrichment".into(),
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
    let answer = match &record.claim {
        ClaimResult::Found(claim) => ClaimAnswer::Found {
            claim,
            claim_amount: amount(claim.claim_amount),
        },
        ClaimResult::NotFound => ClaimAnswer::NotFound,
        ClaimResult::Failed(f) => match f.kind {
            LookupFailureKind::Unavailable => ClaimAnswer::Unavailable(span(text, f.message)),
            LookupFailureKind::Timeout => ClaimAnswer::Timeout(span(text, f.message)),
        },
    };
    match decide(span(text, record.payment.claim_id), answer) {
        Decision::Enrich {
            claim,
            claim_amount,
        } => Outcome::Enriched(EnrichedPayment {
            member_id: TextRef::Batch(claim.member_id),
            claim_amount: WitDecimal {
                unscaled: claim_amount.unscaled,
                scale: claim_amount.scale,
            },
            claim_status: claim.claim_status.map(TextRef::Batch),
            extra_fields: Vec::new(),
        }),
        Decision::Fail { reason, message } => Outcome::Failed(Failure {
            reason: reason.to_owned(),
            message,
        }),
    }
}

fn amount(d: WitDecimal) -> Amount {
    Amount {
        unscaled: d.unscaled,
        scale: d.scale,
    }
}

/// A span of the batch's text (the host's: always in it).
fn span(text: &str, s: Span) -> &str {
    text.get(s.start as usize..(s.start + s.len) as usize)
        .unwrap_or_default()
}

export!(TypedEnrichment);
