//! A failure record (the JSON of `enricher_model::FailureRecord`) back to
//! the input it failed: the payload from `original_payload` (or
//! `original_payload_base64`), the record's key and timestamp (outputs keep
//! their input's), and its headers without the ones the host added but
//! `original-commit-unit`, which names the failure record's transaction (the
//! output's lineage); the filter that picks them and the report of what moved.

use std::collections::BTreeMap;

use base64::Engine;

use super::late::original_headers;
use super::records::COMMIT_UNIT_HEADER;
use crate::bindings::{Header, InputRecord};
use enricher_model::header::ORIGINAL_PREFIX;

/// Which failure records to re-drive.
#[derive(Debug, Clone, Default)]
pub struct RedriveFilter {
    /// Only these `enrichment_status` codes (empty: every one).
    pub reasons: Vec<String>,
    /// Only records whose timestamp is at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only records whose timestamp is before this.
    pub until_ms: Option<i64>,
}

impl RedriveFilter {
    pub(crate) fn matches(&self, reason: &str, timestamp_ms: Option<i64>) -> bool {
        let reason_ok = self.reasons.is_empty() || self.reasons.iter().any(|r| r == reason);
        let t = timestamp_ms.unwrap_or(i64::MIN);
        let since_ok = self.since_ms.is_none_or(|s| t >= s);
        let until_ok = self.until_ms.is_none_or(|u| t < u);
        reason_ok && since_ok && until_ok
    }

    /// The consumer group of a redrive: `<group>-redrive`, and with one
    /// reason `<group>-redrive-<reason>` (records another filter passed over
    /// stay there for it).
    pub fn group(&self, group: &str) -> String {
        match self.reasons.as_slice() {
            [one] => format!("{group}-redrive-{}", one.to_ascii_lowercase()),
            _ => format!("{group}-redrive"),
        }
    }
}

/// What happened to the re-driven records of one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Failure records of this reason run through the pipeline again.
    pub redriven: u64,
    /// ... that were enriched this time.
    pub enriched: u64,
    /// ... that failed again (a new failure record, with the new reason).
    pub failed_again: u64,
}

/// What a redrive's loop counted.
#[derive(Debug, Clone, Default)]
pub struct RedriveCounts {
    /// By the reason each record had failed for.
    pub by_reason: BTreeMap<String, Moved>,
    /// Records the filter passed over (read and committed by this group, not re-driven).
    pub passed_over: u64,
    /// Records that cannot be re-driven (not a failure record, or its payload
    /// was cut because it was too large), by reason.
    pub not_redrivable: BTreeMap<String, u64>,
}

/// What a failure record is to a redrive.
#[derive(Debug)]
pub(crate) enum Redriven {
    /// Run this input again; it had failed for `reason`.
    Input { input: InputRecord, reason: String },
    /// The filter leaves it out.
    PassedOver,
    /// It cannot be re-driven, for this reason.
    Unusable(String),
}

#[derive(serde::Deserialize)]
struct Failure {
    enrichment_status: Option<String>,
    original_payload: Option<String>,
    original_payload_base64: Option<String>,
    original_payload_prefix: Option<serde::de::IgnoredAny>,
    original_payload_prefix_base64: Option<serde::de::IgnoredAny>,
}

/// `record` as read from the failed topic (value: a failure record).
pub(crate) fn failure_to_input(record: InputRecord, filter: &RedriveFilter) -> Redriven {
    let Ok(failure) = serde_json::from_slice::<Failure>(&record.value) else {
        return Redriven::Unusable("NOT_A_FAILURE_RECORD".into());
    };
    let Some(reason) = failure.enrichment_status else {
        return Redriven::Unusable("NOT_A_FAILURE_RECORD".into());
    };
    if !filter.matches(&reason, record.timestamp_ms) {
        return Redriven::PassedOver;
    }
    let payload = match (failure.original_payload, failure.original_payload_base64) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => bytes,
            Err(_) => return Redriven::Unusable(format!("{reason} (bad base64 payload)")),
        },
        (None, None)
            if failure.original_payload_prefix.is_some()
                || failure.original_payload_prefix_base64.is_some() =>
        {
            return Redriven::Unusable(format!("{reason} (payload cut, too large)"));
        }
        // A business failure (CLAIM_NOT_FOUND, DB_ERROR...) is the payment's
        // own fields plus the enrichment ones: the payment without those.
        (None, None) => match payment_fields(&record.value) {
            Some(payment) => payment,
            None => return Redriven::Unusable("NOT_A_FAILURE_RECORD".into()),
        },
    };
    Redriven::Input {
        input: InputRecord {
            key: record.key,
            value: payload,
            headers: redriven_headers(&record.headers),
            timestamp_ms: record.timestamp_ms,
        },
        reason,
    }
}

/// The headers of a re-driven payment: the failure record's own (the
/// payment's), with `original-commit-unit` naming the failure record's
/// transaction, the one this output is made from (not the earlier one the
/// failure record itself came from), as a retry record's output does.
fn redriven_headers(headers: &[Header]) -> Vec<Header> {
    let original_unit = format!("{ORIGINAL_PREFIX}{COMMIT_UNIT_HEADER}");
    let mut kept: Vec<Header> = original_headers(headers)
        .into_iter()
        .filter(|h| h.key != original_unit)
        .collect();
    if let Some(unit) = headers.iter().rev().find(|h| h.key == COMMIT_UNIT_HEADER) {
        kept.push(Header {
            key: original_unit,
            value: unit.value.clone(),
        });
    }
    kept
}

/// Fields the plugin adds to a payment in its output (not the payment's own).
const ENRICHMENT_FIELDS: [&str; 7] = [
    "member_id",
    "claim_amount",
    "claim_status",
    "enrichment_status",
    "error",
    "enrichment_timestamp",
    "retry_attempts",
];

/// The payment fields of a business failure record, values kept as written
/// (raw JSON: amounts stay exact, never through a float).
fn payment_fields(value: &[u8]) -> Option<Vec<u8>> {
    let fields: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_slice(value).ok()?;
    if !fields.contains_key("payment_id") {
        return None;
    }
    let payment: BTreeMap<&str, &serde_json::value::RawValue> = fields
        .iter()
        .filter(|(k, _)| !ENRICHMENT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_ref()))
        .collect();
    serde_json::to_vec(&payment).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Header;

    #[test]
    fn a_redriven_payment_names_the_failure_records_transaction_as_its_origin() {
        let header = |key: &str, value: &str| Header {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        };
        let headers = vec![
            header("trace", "t"),
            header("original-commit-unit", "g-retry/3"),
            header("enrichment-status", "CLAIM_NOT_FOUND"),
            header("commit-unit", "g-main/9"),
        ];
        let kept: Vec<(String, String)> = redriven_headers(&headers)
            .into_iter()
            .map(|h| (h.key, String::from_utf8(h.value).expect("text")))
            .collect();
        assert_eq!(
            kept,
            [
                ("trace".into(), "t".into()),
                ("original-commit-unit".into(), "g-main/9".into())
            ]
        );
    }

    fn failed(value: &str) -> InputRecord {
        InputRecord {
            key: Some(b"k".to_vec()),
            value: value.as_bytes().to_vec(),
            headers: vec![
                Header {
                    key: "trace".into(),
                    value: b"t".to_vec(),
                },
                Header {
                    key: "enrichment-status".into(),
                    value: b"CLAIM_NOT_FOUND".to_vec(),
                },
            ],
            timestamp_ms: Some(7),
        }
    }

    #[test]
    fn the_original_payload_key_headers_and_time_come_back() {
        let record = failed(
            r#"{"payment_id":"P","enrichment_status":"CLAIM_NOT_FOUND","error":"x","enrichment_timestamp":"t","original_payload":"{\"payment_id\":\"P\"}"}"#,
        );
        let Redriven::Input { input, reason } = failure_to_input(record, &RedriveFilter::default())
        else {
            panic!("re-drivable");
        };
        assert_eq!(reason, "CLAIM_NOT_FOUND");
        assert_eq!(input.value, br#"{"payment_id":"P"}"#);
        assert_eq!(input.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(input.timestamp_ms, Some(7));
        let keys: Vec<&str> = input.headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["trace"]);
    }

    #[test]
    fn a_business_failure_gives_back_the_payment_fields_exactly() {
        let record = failed(
            r#"{"payment_id":"P","claim_id":"C","payment_amount":10.00,"member_id":null,"claim_amount":null,"claim_status":null,"enrichment_status":"CLAIM_NOT_FOUND","error":"claim C not found","enrichment_timestamp":"t"}"#,
        );
        let Redriven::Input { input, reason } = failure_to_input(record, &RedriveFilter::default())
        else {
            panic!("re-drivable");
        };
        assert_eq!(reason, "CLAIM_NOT_FOUND");
        assert_eq!(
            input.value,
            br#"{"claim_id":"C","payment_amount":10.00,"payment_id":"P"}"#
        );
    }

    #[test]
    fn base64_payloads_filters_and_cut_payloads() {
        let b64 =
            failed(r#"{"enrichment_status":"INVALID_JSON","original_payload_base64":"/wA="}"#);
        assert!(matches!(
            failure_to_input(b64, &RedriveFilter::default()),
            Redriven::Input { input, .. } if input.value == b"\xff\x00"
        ));
        let only_db = RedriveFilter {
            reasons: vec!["DB_ERROR".into()],
            ..RedriveFilter::default()
        };
        let other = failed(r#"{"enrichment_status":"INVALID_JSON","original_payload":"x"}"#);
        assert!(matches!(
            failure_to_input(other, &only_db),
            Redriven::PassedOver
        ));
        let cut =
            failed(r#"{"enrichment_status":"RECORD_TOO_LARGE","original_payload_prefix":"x"}"#);
        assert!(matches!(
            failure_to_input(cut, &RedriveFilter::default()),
            Redriven::Unusable(why) if why.contains("too large")
        ));
        assert!(matches!(
            failure_to_input(failed("not json"), &RedriveFilter::default()),
            Redriven::Unusable(_)
        ));
    }

    #[test]
    fn the_filter_takes_reasons_and_a_half_open_time_range() {
        let f = RedriveFilter {
            reasons: vec!["CLAIM_NOT_FOUND".into()],
            since_ms: Some(100),
            until_ms: Some(200),
        };
        assert!(f.matches("CLAIM_NOT_FOUND", Some(100)));
        assert!(!f.matches("CLAIM_NOT_FOUND", Some(200)));
        assert!(!f.matches("CLAIM_NOT_FOUND", None));
        assert!(!f.matches("DB_ERROR", Some(150)));
        assert!(RedriveFilter::default().matches("ANY", None));
        assert_eq!(f.group("g"), "g-redrive-claim_not_found");
        assert_eq!(RedriveFilter::default().group("g"), "g-redrive");
    }
}
