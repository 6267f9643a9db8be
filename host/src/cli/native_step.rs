//! `enricher run --native-step` (hidden): the built-in plugin's logic
//! (`guest/src/enrich.rs`) linked into the host and run in place of the WASM
//! component, with the same output records as the component's glue
//! (`guest/src/component.rs`) gives, so the whole file path can be measured
//! with and without WASM. Needs the `native-baseline` feature (on by default).

#[cfg(feature = "native-baseline")]
pub use with_guest::{NativeLookup, step};

#[cfg(feature = "native-baseline")]
mod with_guest {
    use std::sync::Arc;

    use enricher::bindings::{BatchContext, Header, InputRecord, Output, OutputRecord};
    use enricher::lookup::{ClaimsLookup, LookupAnswer};
    use enricher::pipeline::NativeStep;
    use enrichment_guest::enrich::{Claim, ClaimLookup, LookupOutcome, Routed, enrich_batch};

    /// The host's claims lookup, as the guest core's lookup.
    pub struct NativeLookup<'a>(pub &'a ClaimsLookup);

    impl ClaimLookup for NativeLookup<'_> {
        fn lookup(&mut self, claim_ids: &[&str]) -> Vec<LookupOutcome> {
            let ids: Vec<String> = claim_ids.iter().map(|s| s.to_string()).collect();
            self.0
                .lookup(&ids)
                .into_iter()
                .map(|a| match a {
                    LookupAnswer::Found(row) | LookupAnswer::Stale(row) => {
                        LookupOutcome::Found(Claim {
                            member_id: row.member_id.clone(),
                            claim_amount: row.claim_amount,
                            claim_status: row.claim_status.clone(),
                            created_at_micros: row.created_at_micros,
                        })
                    }
                    LookupAnswer::NotFound => LookupOutcome::NotFound,
                    LookupAnswer::Unavailable(w) => LookupOutcome::Unavailable(w),
                    LookupAnswer::Timeout(w) => LookupOutcome::Timeout(w),
                })
                .collect()
        }
    }

    /// The step: the guest's `enrich_batch`, its outputs built as its glue does.
    pub fn step() -> anyhow::Result<NativeStep> {
        Ok(Arc::new(
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
        ))
    }

    /// As `guest/src/component.rs`: the input's key and headers, and a
    /// status header on failures only.
    fn output_record(routed: Routed, input: &InputRecord) -> OutputRecord {
        let mut headers = input.headers.clone();
        let success = routed.status.is_success();
        if !success {
            headers.push(Header {
                key: "enrichment-status".to_owned(),
                value: routed.status.code().as_bytes().to_vec(),
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

/// Without the plugin's crate linked in there is no native step.
#[cfg(not(feature = "native-baseline"))]
pub fn step() -> anyhow::Result<enricher::pipeline::NativeStep> {
    anyhow::bail!("--native-step needs the enricher package's `native-baseline` feature")
}
