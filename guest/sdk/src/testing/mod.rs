//! Native testing: run a plugin in `cargo test`, no wasm, against an
//! in-memory [`ClaimsStub`], with the parameters and log lines of
//! [`crate::config`] and [`crate::log`] kept per thread. [`typed`] runs a
//! typed plugin over JSON payloads the way the host feeds it.
//!
//! ```
//! use enricher_sdk::testing::{ClaimsStub, process};
//! # use enricher_sdk::{Batch, Lookup, Output, Plugin, Record};
//! # struct Echo;
//! # impl Plugin for Echo {
//! #     const NAME: &'static str = "echo";
//! #     const VERSION: &'static str = "0.1.0";
//! #     type Event<'a> = &'a str;
//! #     fn read<'a>(_: &Batch, r: &Record<'a>) -> Result<&'a str, Output> {
//! #         std::str::from_utf8(r.value).map_err(|_| Output::failed("INVALID_JSON", r.value))
//! #     }
//! #     fn claim_id<'e>(id: &'e &str) -> Option<&'e str> { Some(id) }
//! #     fn enrich(_: &Batch, r: &Record<'_>, _: &str, claim: Lookup<'_>) -> Output {
//! #         match claim { Lookup::Found(_) => Output::enriched(r.value), _ => Output::failed("CLAIM_NOT_FOUND", r.value) }
//! #     }
//! # }
//! let mut claims = ClaimsStub::new().claim("CLM-1", "MBR-1", "12.50");
//! let out = process::<Echo>(0, &[b"CLM-1", b"CLM-2"], &mut claims);
//! assert_eq!(out[0].status(), "SUCCESS");
//! assert_eq!(out[1].status(), "CLAIM_NOT_FOUND");
//! assert_eq!(claims.calls(), [vec!["CLM-1".to_owned(), "CLM-2".to_owned()]]);
//! ```

#[cfg(not(target_arch = "wasm32"))]
pub mod typed;

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::BatchPlugin;
use crate::claims::{Answer, Claim, Claims};
use crate::record::{Batch, Output, Record};

/// An in-memory claims table that records every lookup call.
#[derive(Debug, Default, Clone)]
pub struct ClaimsStub {
    answers: HashMap<String, Answer>,
    calls: Vec<Vec<String>>,
}

impl ClaimsStub {
    /// An empty table: every id is not found.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a found claim with an exact amount (`"1500.00"`) and status APPROVED.
    /// Panics on a malformed amount (test data).
    pub fn claim(self, claim_id: &str, member_id: &str, amount: &str) -> Self {
        let claim_amount: Decimal = match amount.parse() {
            Ok(a) => a,
            Err(e) => panic!("test claim amount {amount:?}: {e}"),
        };
        self.found(
            claim_id,
            Claim {
                member_id: member_id.to_owned(),
                claim_amount,
                claim_status: Some("APPROVED".to_owned()),
                created_at_micros: None,
            },
        )
    }

    /// Add a found claim.
    pub fn found(self, claim_id: &str, claim: Claim) -> Self {
        self.answer(claim_id, Answer::Found(claim))
    }

    /// Make looking `claim_id` up fail as a store outage (DB_ERROR).
    pub fn unavailable(self, claim_id: &str, why: &str) -> Self {
        self.answer(claim_id, Answer::Unavailable(why.to_owned()))
    }

    /// Make looking `claim_id` up time out (DB_TIMEOUT).
    pub fn timeout(self, claim_id: &str, why: &str) -> Self {
        self.answer(claim_id, Answer::Timeout(why.to_owned()))
    }

    /// Set any answer for `claim_id`.
    pub fn answer(mut self, claim_id: &str, answer: Answer) -> Self {
        self.answers.insert(claim_id.to_owned(), answer);
        self
    }

    /// The ids of every lookup call so far, one list per call.
    pub fn calls(&self) -> &[Vec<String>] {
        &self.calls
    }
}

impl Claims for ClaimsStub {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<Answer> {
        self.calls
            .push(claim_ids.iter().map(|id| (*id).to_owned()).collect());
        claim_ids
            .iter()
            .map(|id| self.answers.get(*id).cloned().unwrap_or(Answer::NotFound))
            .collect()
    }
}

/// Run plugin `P` over one batch of payloads at `processing_time_ms`, as the
/// component would: one output per payload, in order (checked, as in wasm).
pub fn process<P: BatchPlugin + ?Sized>(
    processing_time_ms: i64,
    payloads: &[&[u8]],
    claims: &mut dyn Claims,
) -> Vec<Output> {
    let records: Vec<Record<'_>> = payloads.iter().map(|p| Record::from_value(p)).collect();
    process_records::<P>(processing_time_ms, &records, claims)
}

/// [`process`] over full records (keys, headers, timestamps).
pub fn process_records<P: BatchPlugin + ?Sized>(
    processing_time_ms: i64,
    records: &[Record<'_>],
    claims: &mut dyn Claims,
) -> Vec<Output> {
    let outputs = P::process_batch(&Batch::new(processing_time_ms), records, claims);
    assert_eq!(
        outputs.len(),
        records.len(),
        "plugin {} must return exactly one output per record",
        P::NAME
    );
    outputs
}

/// Set a plugin parameter for [`crate::config::get`] on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_config(key: &str, value: &str) {
    crate::config::native::PARAMS.with(|p| p.borrow_mut().insert(key.to_owned(), value.to_owned()));
}

/// Remove every parameter set on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn clear_config() {
    crate::config::native::PARAMS.with(|p| p.borrow_mut().clear());
}

/// The lines logged on this thread since the last call.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_logs() -> Vec<(crate::log::Level, String)> {
    crate::log::native::LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}
