//! The native steps of `enricher-bench run --native-step [raw|typed]` and the
//! step benchmarks: the built-in plugin's logic linked into the benchmark and
//! run in place of the WASM component, with the same output records, so the
//! whole file path can be measured with and without WASM. `typed` (the
//! built-in plugin's form): the typed world's step (the host's [`TypedBatch`]
//! read and write around the typed plugin's logic, `enricher-plugin-typed-logic`,
//! on the rules the plugin itself applies); `raw`: the raw plugin's whole step
//! (`guest/src/enrich.rs`: parse, lookup, write). Only this crate links plugin
//! crates: the product binary runs plugins as WASM alone.

use std::sync::{Arc, Mutex};

use enricher::bindings::claims_api::Decimal as WitDecimal;
use enricher::bindings::typed_api::{
    ClaimResult, EnrichedPayment, Failure, LookupFailureKind, Outcome, PaymentRecord, Span, TextRef,
};
use enricher::bindings::{BatchContext, InputRecord};
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::NativeStep;
use enricher::runtime::PluginForm;
use enricher::typed::TypedBatch;
use enricher_plugin_typed_logic::{Amount, ClaimAnswer, Decision, Priced, decide};

/// Which plugin's step `--native-step` runs natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NativeForm {
    /// The raw plugin's whole step (parse, lookup, write in the plugin).
    Raw,
    /// The typed world's step: the host's parse, lookup and write around the typed logic.
    Typed,
}

/// The step of `form`.
pub fn step(form: NativeForm) -> NativeStep {
    match form {
        NativeForm::Raw => raw::step(),
        NativeForm::Typed => typed_step(),
    }
}

/// The typed step: what `PluginInstance::process_batch` does for a typed
/// plugin, with the plugin's logic compiled into the host.
pub fn typed_step() -> NativeStep {
    let scratch = Mutex::new(TypedBatch::default());
    let run = Arc::new(
        move |context: BatchContext, records: &[InputRecord], lookup: &ClaimsLookup| {
            let mut batch = scratch
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            batch.read(records, Some(lookup));
            let outcomes: Vec<Outcome> = batch
                .payments()
                .iter()
                .map(|p| typed_outcome(batch.text(), p))
                .collect();
            batch.write(records, &outcomes, context.processing_time_ms)
        },
    );
    NativeStep {
        run,
        form: PluginForm::Typed,
    }
}

/// What `plugins/typed/src/lib.rs` answers for one payment: the same
/// `enricher_plugin_typed_logic::decide`, on the host's bindings. The glue around
/// it mirrors the plugin's because the two sides' WIT types are generated
/// apart (wasmtime's `bindgen!` here, wit-bindgen there); the logic is shared.
pub fn typed_outcome(text: &str, record: &PaymentRecord) -> Outcome {
    let answer = match &record.claim {
        ClaimResult::Found(claim) => ClaimAnswer::Found(Priced {
            claim,
            claim_amount: Amount {
                unscaled: claim.claim_amount.unscaled,
                scale: claim.claim_amount.scale,
            },
        }),
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
            reason: reason.as_str().to_owned(),
            message,
        }),
    }
}

fn span(text: &str, s: Span) -> &str {
    let start = s.start as usize;
    text.get(start..start + s.len as usize).unwrap_or_default()
}

mod raw {
    use std::sync::Arc;

    use enricher::bindings::{BatchContext, Header, InputRecord, Output, OutputRecord};
    use enricher::lookup::{ClaimsLookup, LookupAnswer};
    use enricher::pipeline::NativeStep;
    use enricher::runtime::PluginForm;
    use enricher_guest::enrich::{Claim, ClaimLookup, LookupOutcome, Routed, enrich_batch};

    /// The host's claims lookup, as the guest core's lookup.
    struct NativeLookup<'a>(&'a ClaimsLookup);

    impl ClaimLookup for NativeLookup<'_> {
        fn lookup(&mut self, claim_ids: &[&str]) -> Vec<LookupOutcome> {
            let ids: Vec<String> = claim_ids.iter().map(|s| s.to_string()).collect();
            self.0
                .lookup(&ids)
                .into_iter()
                .map(|a| match a {
                    LookupAnswer::Found(row) => LookupOutcome::Found(Claim {
                        member_id: row.member_id.clone(),
                        claim_amount: row.claim_amount,
                        claim_status: row.claim_status.clone(),
                        created_at_micros: row.created_at_micros,
                    }),
                    LookupAnswer::NotFound => LookupOutcome::NotFound,
                    LookupAnswer::Unavailable(w) => LookupOutcome::Unavailable(w),
                    LookupAnswer::Timeout(w) => LookupOutcome::Timeout(w),
                })
                .collect()
        }
    }

    /// The raw step: the guest's `enrich_batch`, its outputs built as its glue does.
    pub fn step() -> NativeStep {
        let run = Arc::new(
            |context: BatchContext, records: &[InputRecord], lookup: &ClaimsLookup| {
                let payloads: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
                let routed = enrich_batch(
                    &payloads,
                    context.processing_time_ms,
                    &mut NativeLookup(lookup),
                );
                routed
                    .into_iter()
                    .zip(records)
                    .map(|(r, input)| output_record(r, input))
                    .collect()
            },
        );
        NativeStep {
            run,
            form: PluginForm::Raw,
        }
    }

    /// As the SDK's WIT glue (`guest/sdk/src/wasm.rs`): the input's key and headers, and a
    /// status header on failures only.
    fn output_record(routed: Routed, input: &InputRecord) -> OutputRecord {
        let mut headers = input.headers.clone();
        let success = routed.status.is_success();
        if !success {
            headers.push(Header {
                key: enricher_model::header::STATUS.to_owned(),
                value: routed.status.as_str().as_bytes().to_vec(),
            });
        }
        OutputRecord {
            input_index: routed.input_index,
            output: if success {
                Output::Enriched
            } else {
                Output::Failed
            },
            key: input.key.clone(),
            value: routed.value,
            headers,
        }
    }
}
