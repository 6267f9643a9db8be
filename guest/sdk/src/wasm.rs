//! The wit-bindgen glue (wasm32 only): the bindings of the WIT world
//! `payments:enrichment/enricher`, the `claims` import as a [`Claims`], and
//! the `transform` export that [`crate::export!`] wires to a [`BatchPlugin`].
//!
//! Records cross the boundary once each way: the input's key and headers are
//! moved (not copied) into its output, the payload is only borrowed.

wit_bindgen::generate!({
    path: "../../wit",
    world: "enricher",
    ownership: Borrowing { duplicate_if_necessary: false },
    pub_export_macro: true,
    export_macro_name: "__export_world",
    default_bindings_module: "enricher_sdk::wasm",
});

pub use exports::payments::enrichment::transform::{BatchError, Guest};
use payments::enrichment::claims::{self, LookupError, LookupResult};
use payments::enrichment::logging::{self, Level as WitLevel};
pub use payments::enrichment::types::{
    BatchContext, Header, InputRecord, Output as Target, OutputRecord, PluginInfo,
};

use rust_decimal::Decimal;

use crate::BatchPlugin;
use crate::claims::{Answer, Claim, Claims};
use crate::log::Level;
use crate::record::{Batch, Output, Record, Route};

/// `info` of plugin `P`.
pub fn info<P: BatchPlugin + ?Sized>() -> PluginInfo {
    PluginInfo {
        name: P::NAME.to_owned(),
        version: P::VERSION.to_owned(),
    }
}

/// `process-batch` of plugin `P`: borrowed views in, one output per input out.
pub fn process_batch<P: BatchPlugin + ?Sized>(
    context: BatchContext,
    records: Vec<InputRecord>,
) -> Result<Vec<OutputRecord>, BatchError> {
    let batch = Batch::new(context.processing_time_ms);
    let views: Vec<Record<'_>> = records
        .iter()
        .map(|r| Record {
            value: &r.value,
            key: r.key.as_deref(),
            headers: &r.headers,
            timestamp_ms: r.timestamp_ms,
        })
        .collect();
    let outputs = P::process_batch(&batch, &views, &mut HostClaims);
    drop(views);
    if outputs.len() != records.len() {
        return Err(BatchError::Internal(format!(
            "plugin {} returned {} outputs for {} records (the SDK needs exactly one per record)",
            P::NAME,
            outputs.len(),
            records.len()
        )));
    }
    Ok(outputs
        .into_iter()
        .zip(records)
        .enumerate()
        .map(|(i, (out, input))| output_record(i, out, input))
        .collect())
}

fn output_record(index: usize, out: Output, input: InputRecord) -> OutputRecord {
    let mut headers = input.headers;
    if let Some(status) = out.status_header() {
        headers.push(Header {
            key: "enrichment-status".to_owned(),
            value: status.as_bytes().to_vec(),
        });
    }
    headers.extend(
        out.headers
            .into_iter()
            .map(|(key, value)| Header { key, value }),
    );
    OutputRecord {
        input_index: u32::try_from(index).unwrap_or(u32::MAX),
        output: match out.route {
            Route::Enriched => Target::Enriched,
            Route::Failed => Target::Failed,
        },
        key: out.key.unwrap_or(input.key),
        value: out.value,
        headers,
    }
}

/// The `claims` import.
struct HostClaims;

impl Claims for HostClaims {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<Answer> {
        let results = claims::lookup(claim_ids);
        let failed = results
            .iter()
            .filter(|r| matches!(r, LookupResult::Failed(_)))
            .count();
        if failed > 0 {
            log(
                Level::Warn,
                &format!(
                    "claims lookup failed for {failed} of {} ids",
                    claim_ids.len()
                ),
            );
        }
        results.into_iter().map(answer).collect()
    }
}

fn answer(result: LookupResult) -> Answer {
    match result {
        LookupResult::Found(c) => Answer::Found(Claim {
            member_id: c.member_id,
            claim_amount: Decimal::from_i128_with_scale(
                i128::from(c.claim_amount.unscaled),
                u32::from(c.claim_amount.scale).min(28),
            ),
            claim_status: c.claim_status,
            created_at_micros: c.created_at_micros,
        }),
        LookupResult::NotFound => Answer::NotFound,
        LookupResult::Failed(LookupError::Unavailable(why)) => Answer::Unavailable(why),
        LookupResult::Failed(LookupError::Timeout(why)) => Answer::Timeout(why),
    }
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    payments::enrichment::config::get(key)
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => WitLevel::Trace,
        Level::Debug => WitLevel::Debug,
        Level::Info => WitLevel::Info,
        Level::Warn => WitLevel::Warn,
        Level::Error => WitLevel::Error,
    };
    logging::log(level, message);
}
