//! Serve-stale marking: an enriched output whose claim was answered from an
//! expired cache row (the store was failing, `lookup.serve-stale-for`) gets a
//! `"claim_stale": true` field and a `claim-stale: true` header, so consumers
//! can tell it apart and re-check it later.
//!
//! Only plugin calls that were served a stale row pay for this: the output's
//! `claim_id` is read to find the outputs that used one. An output without a
//! readable `claim_id` from such a call is marked too (it may have used one).

use std::borrow::Cow;

use serde::Deserialize;

use crate::bindings::{Header, Output, OutputRecord};

/// Header on an output enriched from a stale claim row.
pub const STALE_HEADER: &str = enricher_model::header::CLAIM_STALE;
/// Field added to such an output's JSON object.
pub const STALE_FIELD: &str = "claim_stale";

/// Mark the enriched `outputs` that used one of `stale_ids` (sorted); returns
/// how many were marked.
pub(super) fn mark(outputs: &mut [OutputRecord], stale_ids: &[String]) -> u64 {
    let mut marked = 0;
    for out in outputs.iter_mut().filter(|o| o.output == Output::Enriched) {
        if !used_stale(&out.value, stale_ids) {
            continue;
        }
        if let Some(value) = with_stale_field(&out.value) {
            out.value = value;
        }
        out.headers.push(Header {
            key: STALE_HEADER.into(),
            value: b"true".to_vec(),
        });
        marked += 1;
    }
    marked
}

/// Whether the output names one of `stale_ids` as its `claim_id` (or names none).
fn used_stale(value: &[u8], stale_ids: &[String]) -> bool {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        claim_id: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Probe<'_>>(value) {
        Ok(Probe { claim_id: Some(id) }) => stale_ids
            .binary_search_by(|s| s.as_str().cmp(id.as_ref()))
            .is_ok(),
        _ => true,
    }
}

/// The JSON object `value` with the stale field appended; `None` when it is
/// not an object (left as it is: the header still marks it).
fn with_stale_field(value: &[u8]) -> Option<Vec<u8>> {
    let end = value.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if value[end] != b'}' || value.first() != Some(&b'{') {
        return None;
    }
    let empty = value[1..end].iter().all(u8::is_ascii_whitespace);
    let mut out = Vec::with_capacity(value.len() + 24);
    out.extend_from_slice(&value[..end]);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(format!("\"{STALE_FIELD}\":true}}").as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enriched(value: &str) -> OutputRecord {
        OutputRecord {
            input_index: 0,
            output: Output::Enriched,
            key: None,
            value: value.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn only_outputs_of_stale_claims_are_marked() {
        let mut outputs = vec![
            enriched(r#"{"payment_id":"P1","claim_id":"CLM-1"}"#),
            enriched(r#"{"payment_id":"P2","claim_id":"CLM-2"}"#),
        ];
        let marked = mark(&mut outputs, &["CLM-2".to_owned()]);
        assert_eq!(marked, 1);
        assert_eq!(
            outputs[0].value,
            br#"{"payment_id":"P1","claim_id":"CLM-1"}"#
        );
        assert!(outputs[0].headers.is_empty());
        let v: serde_json::Value = serde_json::from_slice(&outputs[1].value).expect("json");
        assert_eq!(v["claim_stale"], true);
        assert_eq!(v["payment_id"], "P2");
        assert_eq!(outputs[1].headers[0].key, STALE_HEADER);
    }

    #[test]
    fn the_field_goes_into_any_object_and_nowhere_else() {
        assert_eq!(
            with_stale_field(b"{}\n").as_deref(),
            Some(&br#"{"claim_stale":true}"#[..])
        );
        assert_eq!(
            with_stale_field(br#"{"a":1} "#).as_deref(),
            Some(&br#"{"a":1,"claim_stale":true}"#[..])
        );
        assert_eq!(with_stale_field(b"[1]"), None);
        assert_eq!(with_stale_field(b""), None);
    }
}
