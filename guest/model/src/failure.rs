//! The failure record: the JSON written for an input that could not be
//! enriched, whether the plugin judged it (invalid JSON or event) or the host
//! did (too large, plugin trap, dropped record). One writer, so both write the
//! same fields in the same order:
//! `payment_id` (or null), `enrichment_status`, `error`, `enrichment_timestamp`,
//! then the input as `original_payload` (text), `original_payload_prefix` (the
//! start of an oversized input) or either with `_base64` (not UTF-8).

use crate::json_out::{ObjectWriter, base64};

/// One failure record, ready to be written.
#[derive(Debug, Clone, Copy)]
pub struct FailureRecord<'a> {
    /// The input's `payment_id`, if it has one.
    pub payment_id: Option<&'a str>,
    /// The `enrichment_status` code, e.g. `INVALID_EVENT`.
    pub status: &'a str,
    /// Why, for a person.
    pub error: &'a str,
    /// The `enrichment_timestamp` text ([`crate::format_utc_millis`]), formatted
    /// once per batch by the caller.
    pub timestamp: &'a str,
    /// The input as received.
    pub payload: &'a [u8],
    /// `Some(n)`: keep only the first `n` bytes of the payload, as
    /// `original_payload_prefix` (the input was too large to keep whole).
    pub keep_prefix: Option<usize>,
}

impl FailureRecord<'_> {
    /// Append the record's JSON object to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut w = ObjectWriter::new(out);
        w.opt_str("payment_id", self.payment_id)
            .str("enrichment_status", self.status)
            .str("error", self.error)
            .str("enrichment_timestamp", self.timestamp);
        let (payload, truncated) = match self.keep_prefix {
            Some(n) => (&self.payload[..self.payload.len().min(n)], true),
            None => (self.payload, false),
        };
        let text = match std::str::from_utf8(payload) {
            Ok(text) => Some(text),
            // A prefix may cut a character in two: keep the whole characters before it.
            Err(e) if truncated && e.error_len().is_none() => {
                std::str::from_utf8(&payload[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        };
        match (text, truncated) {
            (Some(text), false) => w.str("original_payload", text),
            (Some(text), true) => w.str("original_payload_prefix", text),
            (None, false) => w.str("original_payload_base64", &base64(payload)),
            (None, true) => w.str("original_payload_prefix_base64", &base64(payload)),
        };
        w.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(record: FailureRecord<'_>) -> String {
        let mut out = Vec::new();
        record.write(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    fn record(payload: &[u8]) -> FailureRecord<'_> {
        FailureRecord {
            payment_id: None,
            status: "INVALID_JSON",
            error: "bad",
            timestamp: "2024-01-15T10:30:01.000Z",
            payload,
            keep_prefix: None,
        }
    }

    #[test]
    fn text_payloads_are_kept_as_strings() {
        let r = FailureRecord {
            payment_id: Some("PAY-1"),
            ..record(br#"{"payment_id":"PAY-1"}"#)
        };
        assert_eq!(
            written(r),
            r#"{"payment_id":"PAY-1","enrichment_status":"INVALID_JSON","error":"bad","enrichment_timestamp":"2024-01-15T10:30:01.000Z","original_payload":"{\"payment_id\":\"PAY-1\"}"}"#
        );
    }

    #[test]
    fn binary_payloads_go_out_as_base64() {
        assert_eq!(
            written(record(b"\xff\x00binary")),
            r#"{"payment_id":null,"enrichment_status":"INVALID_JSON","error":"bad","enrichment_timestamp":"2024-01-15T10:30:01.000Z","original_payload_base64":"/wBiaW5hcnk="}"#
        );
    }

    #[test]
    fn prefixes_keep_whole_characters_or_fall_back_to_base64() {
        let cut = FailureRecord {
            keep_prefix: Some(4),
            ..record("abcé".as_bytes())
        };
        assert!(written(cut).ends_with(r#","original_payload_prefix":"abc"}"#));
        let short = FailureRecord {
            keep_prefix: Some(1024),
            ..record(b"short")
        };
        assert!(written(short).ends_with(r#","original_payload_prefix":"short"}"#));
        let binary = FailureRecord {
            keep_prefix: Some(2),
            ..record(b"\xff\xfe\xfd")
        };
        assert!(written(binary).ends_with(r#","original_payload_prefix_base64":"//4="}"#));
    }
}
