//! Late claims: a payment whose claim is not found yet is sent to the retry
//! topic instead of `failed`, with its attempt number and due time in headers
//! (and the original key, timestamp, headers and payload), and enriched again
//! when it is due. After the last attempt its CLAIM_NOT_FOUND goes to `failed`
//! with `retry_attempts` added to the failure record.
//!
//! The runner reads the retry topic with the same consumer (see `held` for how
//! a record that is not due yet waits without holding up anything else); this
//! file decides where each routed record goes and what a retry record holds.

use std::time::Duration;

use enricher_model::{Status, header as names};

use crate::bindings::{Header, InputRecord, Output};
use crate::config::RetrySchedule;
use crate::pipeline::{PLUGIN_NAME_HEADER, PLUGIN_VERSION_HEADER, Routed, STATUS_HEADER};

use super::records::{COMMIT_UNIT_HEADER, Target};

/// Header of a retry record: which attempt it is (1 for the first retry).
pub const RETRY_ATTEMPT_HEADER: &str = names::RETRY_ATTEMPT;
/// Header of a retry record: when it is due, in ms since the epoch.
pub const RETRY_DUE_HEADER: &str = names::RETRY_DUE;
/// Header of a failure record that went through retries: how many there were.
pub const RETRY_ATTEMPTS_HEADER: &str = names::RETRY_ATTEMPTS;

/// The status the retry is for.
const NOT_FOUND: &str = Status::ClaimNotFound.as_str();

/// Headers the host sets on its outputs: dropped from an input before it is
/// sent on again (the next output sets them afresh).
const HOST_HEADERS: [&str; 6] = [
    STATUS_HEADER,
    PLUGIN_NAME_HEADER,
    PLUGIN_VERSION_HEADER,
    COMMIT_UNIT_HEADER,
    RETRY_ATTEMPT_HEADER,
    RETRY_DUE_HEADER,
];

/// The original headers of a record the host wrote (retry or failure record).
pub(crate) fn original_headers(headers: &[Header]) -> Vec<Header> {
    headers
        .iter()
        .filter(|h| !HOST_HEADERS.contains(&h.key.as_str()) && h.key != RETRY_ATTEMPTS_HEADER)
        .cloned()
        .collect()
}

fn header<'a>(headers: &'a [Header], key: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .rev()
        .find(|h| h.key == key)
        .map(|h| h.value.as_slice())
}

fn number(bytes: Option<&[u8]>) -> Option<i64> {
    std::str::from_utf8(bytes?).ok()?.trim().parse().ok()
}

/// The attempt a consumed record is (0: a first try, from the input topic).
pub(crate) fn attempt_of(input: &InputRecord) -> u32 {
    number(header(&input.headers, RETRY_ATTEMPT_HEADER))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// When a retry record is due (ms since the epoch); a record without a
/// readable due time is due at once (never held forever).
pub(crate) fn due_ms(headers: &[Header]) -> i64 {
    number(header(headers, RETRY_DUE_HEADER)).unwrap_or(i64::MIN)
}

/// What the retry path needs from the config.
#[derive(Debug, Clone)]
pub(crate) struct LateClaims {
    pub topic: String,
    pub schedule: RetrySchedule,
}

impl LateClaims {
    /// Where each routed record goes: CLAIM_NOT_FOUND answers of inputs with
    /// attempts left become retry records; the last one's failure record gets
    /// its attempt count. `attempts[i]` is input `i`'s attempt.
    pub(crate) fn route(
        &self,
        inputs: &[InputRecord],
        attempts: &[u32],
        routed: Vec<Routed>,
        now_ms: i64,
    ) -> Vec<(Target, Routed)> {
        routed
            .into_iter()
            .map(|r| {
                if r.output != Output::Failed || r.status != NOT_FOUND {
                    return (Target::of(&r), r);
                }
                let attempt = attempts.get(r.input_index).copied().unwrap_or(0);
                match self.schedule.delay(attempt + 1) {
                    Some(delay) => {
                        let input = &inputs[r.input_index];
                        (
                            Target::Retry,
                            retry_record(&r, input, attempt + 1, delay, now_ms),
                        )
                    }
                    None if attempt > 0 => (Target::Failed, with_attempts(r, attempt)),
                    None => (Target::Failed, r),
                }
            })
            .collect()
    }
}

/// The retry record of `input`: its payload, key and headers, plus the attempt
/// and due time (the runner keeps the input's timestamp).
fn retry_record(
    r: &Routed,
    input: &InputRecord,
    attempt: u32,
    delay: Duration,
    now_ms: i64,
) -> Routed {
    let mut headers = original_headers(&input.headers);
    let due = now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    for (key, value) in [
        (RETRY_ATTEMPT_HEADER, attempt.to_string()),
        (RETRY_DUE_HEADER, due.to_string()),
        (STATUS_HEADER, NOT_FOUND.to_owned()),
    ] {
        headers.push(Header {
            key: key.into(),
            value: value.into_bytes(),
        });
    }
    Routed {
        input_index: r.input_index,
        output: Output::Failed,
        status: r.status.clone(),
        key: input.key.clone(),
        value: input.value.clone(),
        headers,
    }
}

/// The final failure record of a retried payment: `"retry_attempts":n` added
/// to its JSON object (a new field: readers of the old format ignore it) and
/// in a header.
fn with_attempts(mut r: Routed, attempts: u32) -> Routed {
    let is_object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&r.value)
        .is_ok_and(|o| !o.is_empty());
    if is_object && let Some(end) = r.value.iter().rposition(|b| *b == b'}') {
        r.value.truncate(end);
        r.value
            .extend_from_slice(format!(",\"retry_attempts\":{attempts}}}").as_bytes());
    }
    r.headers.retain(|h| h.key != RETRY_ATTEMPTS_HEADER);
    r.headers.push(Header {
        key: RETRY_ATTEMPTS_HEADER.into(),
        value: attempts.to_string().into_bytes(),
    });
    r
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn input(headers: &[(&str, &str)]) -> InputRecord {
        InputRecord {
            key: Some(b"k1".to_vec()),
            value: br#"{"payment_id":"P1","claim_id":"CLM-9"}"#.to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: (*k).into(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
            timestamp_ms: Some(5),
        }
    }

    fn not_found(index: usize) -> Routed {
        Routed {
            input_index: index,
            output: Output::Failed,
            status: Cow::Borrowed(NOT_FOUND),
            key: Some(b"k1".to_vec()),
            value: br#"{"payment_id":"P1","enrichment_status":"CLAIM_NOT_FOUND"}"#.to_vec(),
            headers: vec![],
        }
    }

    fn late(delays: &str) -> LateClaims {
        LateClaims {
            topic: "retry".into(),
            schedule: RetrySchedule::parse(delays).expect("schedule"),
        }
    }

    #[test]
    fn not_found_goes_to_retry_with_attempt_and_due_time_until_the_last_attempt() {
        let inputs = [input(&[("trace", "t1")])];
        let routed = late("1s,2s").route(&inputs, &[0], vec![not_found(0)], 1_000);
        let (target, r) = &routed[0];
        assert_eq!(*target, Target::Retry);
        assert_eq!(r.value, inputs[0].value, "the original payload travels");
        assert_eq!(r.key, inputs[0].key);
        assert_eq!(header(&r.headers, "trace"), Some(&b"t1"[..]));
        assert_eq!(header(&r.headers, RETRY_ATTEMPT_HEADER), Some(&b"1"[..]));
        assert_eq!(due_ms(&r.headers), 2_000);

        let second = input(&[(RETRY_ATTEMPT_HEADER, "1"), (RETRY_DUE_HEADER, "2000")]);
        assert_eq!(attempt_of(&second), 1);
        let routed = late("1s,2s").route(&[second], &[1], vec![not_found(0)], 2_500);
        assert_eq!(routed[0].0, Target::Retry);
        let r = &routed[0].1;
        assert_eq!(header(&r.headers, RETRY_ATTEMPT_HEADER), Some(&b"2"[..]));
        assert_eq!(due_ms(&r.headers), 4_500);
        assert_eq!(
            r.headers
                .iter()
                .filter(|h| h.key == RETRY_DUE_HEADER)
                .count(),
            1
        );

        let last = input(&[(RETRY_ATTEMPT_HEADER, "2")]);
        let routed = late("1s,2s").route(&[last], &[2], vec![not_found(0)], 9_000);
        assert_eq!(routed[0].0, Target::Failed);
        let failure: serde_json::Value =
            serde_json::from_slice(&routed[0].1.value).expect("still JSON");
        assert_eq!(failure["retry_attempts"], 2);
        assert_eq!(failure["enrichment_status"], NOT_FOUND);
    }

    #[test]
    fn other_outcomes_and_first_tries_without_retries_go_where_they_did() {
        let inputs = [input(&[])];
        let routed = late("off").route(&inputs, &[0], vec![not_found(0)], 0);
        assert_eq!(routed[0].0, Target::Failed);
        assert!(!String::from_utf8_lossy(&routed[0].1.value).contains("retry_attempts"));
        let mut ok = not_found(0);
        ok.output = Output::Enriched;
        ok.status = Cow::Borrowed(Status::Success.as_str());
        assert_eq!(
            late("1s").route(&inputs, &[0], vec![ok], 0)[0].0,
            Target::Enriched
        );
        assert_eq!(due_ms(&[]), i64::MIN, "no due time: due at once");
    }
}
