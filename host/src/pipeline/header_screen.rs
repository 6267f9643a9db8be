//! What a plugin may not write on its outputs: the headers only the host
//! writes (`enricher_model::header::HOST_WRITTEN`). Downstream consumers and
//! the host itself (retries, redrive, the audit trail's `commit-unit`) trust
//! those names, and HTTP-minded consumers match header names without case,
//! so a plugin's `Commit-Unit`, `claim-stale` or `Plugin-Version` goes,
//! whatever its case. Kept, in the host's exact spelling only: the status (a
//! raw-world plugin's answer, read into the output's status) and the retry
//! attempt and due time, which the host put on the input the plugin copies.

use enricher_model::header::{HOST_WRITTEN, RETRY_ATTEMPT, RETRY_DUE, STATUS};

use crate::bindings::OutputRecord;

/// Host-written names a plugin may pass on in exactly this spelling.
const PASSED_ON: [&str; 3] = [STATUS, RETRY_ATTEMPT, RETRY_DUE];

/// Drop the host-written headers a plugin put on `outputs`; how many went.
pub(super) fn screen(outputs: &mut [OutputRecord]) -> u64 {
    let mut dropped = 0;
    for out in outputs {
        let before = out.headers.len();
        out.headers.retain(|h| allowed(&h.key));
        dropped += (before - out.headers.len()) as u64;
    }
    dropped
}

fn allowed(key: &str) -> bool {
    PASSED_ON.contains(&key) || !HOST_WRITTEN.iter().any(|n| key.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{Header, Output};

    #[test]
    fn host_names_in_any_case_go_and_the_passed_on_ones_stay_in_their_spelling() {
        let names = [
            "enrichment-status",
            "Enrichment-Status",
            "claim-stale",
            "Commit-Unit",
            "commit-unit",
            "plugin-version",
            "retry-attempt",
            "RETRY-ATTEMPT",
            "retry-attempts",
            "trace-id",
            "original-commit-unit",
        ];
        let mut outputs = vec![OutputRecord {
            input_index: 0,
            output: Output::Enriched,
            key: None,
            value: b"{}".to_vec(),
            headers: names
                .iter()
                .map(|k| Header {
                    key: (*k).into(),
                    value: b"x".to_vec(),
                })
                .collect(),
        }];
        assert_eq!(screen(&mut outputs), 7);
        let kept: Vec<&str> = outputs[0].headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(
            kept,
            [
                "enrichment-status",
                "retry-attempt",
                "trace-id",
                "original-commit-unit"
            ]
        );
    }
}
