//! A typed plugin that misbehaves on request, for the host's tests. A
//! payment is enriched with its claim (or failed CLAIM_NOT_FOUND), unless its
//! `payment_id` starts with:
//! - `TRAP`: the plugin panics (a trap) for the whole batch;
//! - `BATCH-ERROR`: the plugin returns `batch-error`;
//! - `DROP`: the plugin returns no outcome for it or anything after it;
//! - `BAD-SPAN`: its enriched member id is a span outside the batch's text;
//! - `EXTRA`: enriched with two extra fields (a number and a text of its own).
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../wit", world: "typed-enricher" });

use exports::payments::enrichment::typed_transform::{
    BatchError, ClaimResult, EnrichedPayment, Failure, Field, FieldValue, Guest, Outcome,
    PaymentRecord, Span, TextRef,
};
use payments::enrichment::claims::Decimal;
use payments::enrichment::types::{BatchContext, PluginInfo};

struct Chaos;

impl Guest for Chaos {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "typed-chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn process_payments(
        _: BatchContext,
        text: String,
        payments: Vec<PaymentRecord>,
    ) -> Result<Vec<Outcome>, BatchError> {
        let id = |p: &PaymentRecord| span(&text, p.payment.payment_id);
        if payments.iter().any(|p| id(p).starts_with("TRAP")) {
            panic!("asked to trap");
        }
        if payments.iter().any(|p| id(p).starts_with("BATCH-ERROR")) {
            return Err(BatchError::Internal("asked for a batch error".into()));
        }
        Ok(payments
            .iter()
            .take_while(|p| !id(p).starts_with("DROP"))
            .map(|p| outcome(&text, p, id(p)))
            .collect())
    }
}

fn outcome(text: &str, p: &PaymentRecord, id: &str) -> Outcome {
    let ClaimResult::Found(claim) = &p.claim else {
        return Outcome::Failed(Failure {
            reason: "CLAIM_NOT_FOUND".into(),
            message: format!("claim {} not found", span(text, p.payment.claim_id)),
        });
    };
    let member_id = if id.starts_with("BAD-SPAN") {
        TextRef::Batch(Span {
            start: u32::MAX - 1,
            len: 2,
        })
    } else {
        TextRef::Batch(claim.member_id)
    };
    let extra_fields = if id.starts_with("EXTRA") {
        vec![
            Field {
                name: "score".into(),
                value: FieldValue::Number(Decimal {
                    unscaled: 1234,
                    scale: 1,
                }),
            },
            Field {
                name: "note".into(),
                value: FieldValue::Text(TextRef::Owned("checked \"twice\"".into())),
            },
        ]
    } else {
        Vec::new()
    };
    Outcome::Enriched(EnrichedPayment {
        member_id,
        claim_amount: claim.claim_amount,
        claim_status: claim.claim_status.map(TextRef::Batch),
        extra_fields,
    })
}

fn span(text: &str, s: Span) -> &str {
    let start = s.start as usize;
    text.get(start..start + s.len as usize).unwrap_or_default()
}

export!(Chaos);
