//! Failure records the host writes itself (the plugin never answered for a
//! record: too large, trapped, batch error, dropped, or answered it with
//! invalid JSON).

use std::borrow::Cow;

use enricher_model::{FailureRecord, Status, format_utc_millis};

use super::{Routed, STATUS_HEADER};
use crate::bindings::{Header, InputRecord, Output};

/// At most this much of an oversized payload is kept in its failure record.
const OVERSIZED_PREFIX_BYTES: usize = 1024;

/// A failure record written by the host (the plugin never answered for it).
pub fn host_failure(
    index: usize,
    input: &InputRecord,
    status: Status,
    error: &str,
    now_ms: i64,
) -> Routed {
    let code = status.as_str();
    let mut value = Vec::with_capacity(256 + input.value.len().min(OVERSIZED_PREFIX_BYTES * 2));
    FailureRecord {
        payment_id: best_effort_payment_id(&input.value).as_deref(),
        status: code,
        error,
        timestamp: &format_utc_millis(now_ms),
        payload: &input.value,
        keep_prefix: (status == Status::RecordTooLarge).then_some(OVERSIZED_PREFIX_BYTES),
    }
    .write(&mut value);
    let mut headers = input.headers.clone();
    headers.push(Header {
        key: STATUS_HEADER.into(),
        value: code.as_bytes().to_vec(),
    });
    Routed {
        input_index: index,
        output: Output::Failed,
        status: Cow::Borrowed(code),
        key: input.key.clone(),
        value,
        headers,
    }
}

/// A failure of the plugin itself (not of the business, like CLAIM_NOT_FOUND).
pub fn is_plugin_error(status: &str) -> bool {
    Status::from_wire(status).is_some_and(Status::is_plugin_error)
}

/// The `payment_id` of a payload that is a JSON object, if it has a string one.
pub(super) fn best_effort_payment_id(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        payment_id: Option<String>,
    }
    if payload.len() > OVERSIZED_PREFIX_BYTES * 64 {
        return None;
    }
    serde_json::from_slice::<IdOnly>(payload).ok()?.payment_id
}

/// Log one record routed to `failed` (the caller rate-limits: `held_back`
/// lines were skipped before this one). Reads the payment id and the reason
/// from the failure record, if it has them.
pub(super) fn log_failed(r: &Routed, held_back: u64) {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        payment_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        error: Option<Cow<'a, str>>,
    }
    let probe = serde_json::from_slice::<Probe<'_>>(&r.value).ok();
    let payment_id = probe
        .as_ref()
        .and_then(|p| p.payment_id.as_deref())
        .unwrap_or("");
    let error = probe
        .as_ref()
        .and_then(|p| p.error.as_deref())
        .unwrap_or("");
    let status = r.status.as_ref();
    tracing::info!(
        status,
        payment_id,
        error,
        held_back,
        "record routed to failed"
    );
}
