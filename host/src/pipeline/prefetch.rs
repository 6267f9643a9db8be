//! Read-ahead for the lookup: the stream reads a window of records before it
//! runs the ones before them, and hands the window's claim ids to the lookup,
//! which resolves its misses while the plugin runs (`lookup::prefetch`).
//!
//! Which ids a plugin looks up is the plugin's business; the host only
//! guesses, from the record's `"claim_id"` string field (the field of our
//! payment events; `stale` reads the same field from outputs). A wrong or
//! missing guess costs a wasted or a missed prefetch, never a different
//! answer: the plugin's own lookup decides.

use crate::bindings::InputRecord;

use super::Pipeline;

const FIELD: &[u8] = b"\"claim_id\"";

/// The claim id `value` (a JSON event) names, if a `"claim_id"` field with a
/// plain string (no escapes) is found in it; `None` otherwise.
///
/// Deliberately a hint, not a JSON reader: it takes the first `"claim_id"`
/// bytes anywhere (a nested object, even inside another string), and gives
/// up on escapes. A wrong guess only wastes a prefetch and a missed one only
/// leaves the lookup to query on the stream; what the plugin looks up is
/// decided by the exact reader (`enricher-model`'s `parse_event`: its fast
/// path `event_scan.rs`, else serde_json), never by this. Keep it
/// cheap and loose: it is not meant to agree with that reader, nor to be
/// replaced by it.
pub fn claim_id_hint(value: &[u8]) -> Option<&str> {
    let at = memchr::memmem::find(value, FIELD)? + FIELD.len();
    let rest = value.get(at..)?.trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start().strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' || end == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

impl Pipeline {
    /// Records to read ahead of the ones being run, per [`Self::prefetch`]
    /// (a whole number of batches of `batch_size`); zero: no read-ahead.
    pub fn prefetch_window(&self, batch_size: usize) -> usize {
        if self.prefetch {
            self.lookup.prefetch_window(batch_size)
        } else {
            0
        }
    }

    /// Hand the claim ids of `records` (read ahead) to the lookup to resolve
    /// in the background. Returns at once.
    pub fn prefetch(&self, records: &[InputRecord]) {
        if !self.prefetch {
            return;
        }
        let ids: Vec<String> = records
            .iter()
            .filter(|r| r.value.len() <= self.max_record_bytes)
            .filter_map(|r| claim_id_hint(&r.value))
            .map(str::to_owned)
            .collect();
        self.lookup.prefetch(ids);
    }

    /// No read-ahead prefetch (to compare against; the default prefetches).
    pub fn without_prefetch(mut self) -> Self {
        self.prefetch = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::claim_id_hint;

    #[test]
    fn the_hint_is_the_plain_string_of_the_claim_id_field() {
        let hint = |s: &str| claim_id_hint(s.as_bytes()).map(str::to_owned);
        assert_eq!(
            hint(r#"{"payment_id":"P1","claim_id":"CLM-7","amount":"1.00"}"#),
            Some("CLM-7".into())
        );
        assert_eq!(hint(r#"{"claim_id" : "CLM-8"}"#), Some("CLM-8".into()));
        assert_eq!(hint(r#"{"claim_id":"CL\"M"}"#), None, "escapes: no guess");
        assert_eq!(hint(r#"{"claim_id":17}"#), None);
        assert_eq!(hint(r#"{"claim_id":""}"#), None);
        assert_eq!(hint(r#"{"claim_id":"unterminated"#), None);
        assert_eq!(hint("not json"), None);
    }
}
