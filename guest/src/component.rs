//! WIT glue: exports `transform` by delegating to [`crate::enrich`], and
//! offers the `claims` import to it as a [`ClaimLookup`].

wit_bindgen::generate!({
    path: "../wit",
    world: "enricher",
    ownership: Borrowing { duplicate_if_necessary: false },
});

use exports::payments::enrichment::transform::{BatchError, Guest};
use payments::enrichment::claims::{self, LookupError, LookupResult};
use payments::enrichment::logging::{self, Level};
use payments::enrichment::types::{
    BatchContext, Header, InputRecord, Output, OutputRecord, PluginInfo,
};
use rust_decimal::Decimal;

use crate::enrich::{Claim, ClaimLookup, LookupOutcome, Routed, enrich_batch};

/// The `claims` import, as the pure core's lookup.
struct HostLookup;

impl ClaimLookup for HostLookup {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<LookupOutcome> {
        let results = claims::lookup(claim_ids);
        let failed = results
            .iter()
            .filter(|r| matches!(r, LookupResult::Failed(_)))
            .count();
        if failed > 0 {
            logging::log(
                Level::Warn,
                &format!(
                    "claims lookup failed for {failed} of {} ids",
                    claim_ids.len()
                ),
            );
        }
        results.into_iter().map(outcome).collect()
    }
}

fn outcome(result: LookupResult) -> LookupOutcome {
    match result {
        LookupResult::Found(c) => LookupOutcome::Found(Claim {
            member_id: c.member_id,
            claim_amount: Decimal::from_i128_with_scale(
                i128::from(c.claim_amount.unscaled),
                u32::from(c.claim_amount.scale).min(28),
            ),
            claim_status: c.claim_status,
            created_at_micros: c.created_at_micros,
        }),
        LookupResult::NotFound => LookupOutcome::NotFound,
        LookupResult::Failed(LookupError::Unavailable(why)) => LookupOutcome::Unavailable(why),
        LookupResult::Failed(LookupError::Timeout(why)) => LookupOutcome::Timeout(why),
    }
}

struct Plugin;

impl Guest for Plugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: crate::PLUGIN_NAME.to_owned(),
            version: crate::PLUGIN_VERSION.to_owned(),
        }
    }

    fn process_batch(
        context: BatchContext,
        records: Vec<InputRecord>,
    ) -> Result<Vec<OutputRecord>, BatchError> {
        let payloads: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
        let routed = enrich_batch(&payloads, context.processing_time_ms, &mut HostLookup);
        drop(payloads);
        Ok(routed
            .into_iter()
            .zip(records)
            .map(|(r, input)| output_record(r, input))
            .collect())
    }
}

/// The output keeps the input's key and headers. A failure also gets an
/// `enrichment-status` header with its code; an `enriched` output without one
/// means SUCCESS to the host (see `wit/types.wit`), which saves two
/// allocations on each side of the boundary for the common case.
fn output_record(routed: Routed, input: InputRecord) -> OutputRecord {
    let mut headers = input.headers;
    if !routed.status.is_success() {
        headers.push(Header {
            key: "enrichment-status".to_owned(),
            value: routed.status.code().as_bytes().to_vec(),
        });
    }
    OutputRecord {
        input_index: routed.input_index,
        output: if routed.status.is_success() {
            Output::Enriched
        } else {
            Output::Failed
        },
        key: input.key,
        value: routed.value,
        headers,
    }
}

export!(Plugin);
