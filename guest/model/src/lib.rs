//! `enricher-model`: what the host and its plugins share, so that no
//! plugin's crate owns the host's contract and no side spells it twice.
//!
//! Layout:
//! - [`event`] (feature `event`): parsing and validating one payment event
//!   (`event_scan`: its fast path); [`timefmt`]: the ISO-8601 date check;
//! - [`status`]: the `enrichment_status` codes ([`Status`]) and their wire names;
//! - [`header`]: the names of the Kafka headers on output records;
//! - [`claim`]: the claims lookup's answer ([`ClaimAnswer`] of a [`Claim`]),
//!   and the rules (and messages) the built-in enrichment applies to it;
//! - [`json_out`]: the JSON object writer (exact decimals as number tokens) and base64;
//!   `escape`: JSON string literals, word at a time (the plugins' hottest loop);
//! - [`timestamp`]: the `enrichment_timestamp` text (`2024-01-15T10:30:01.123Z`);
//! - [`failure`]: the failure record (`enrichment_status`, `error`, the original payload).
//!
//! It builds natively and for `wasm32-wasip2`; it depends on `rust_decimal`
//! and `time` (the calendar), and with `event` on serde and serde_json.

pub mod claim;
mod escape;
#[cfg(feature = "event")]
pub mod event;
#[cfg(feature = "event")]
mod event_scan;
pub mod failure;
pub mod header;
pub mod json_out;
pub mod status;
pub mod timefmt;
pub mod timestamp;

pub use claim::{Claim, ClaimAnswer, Failure};
pub use failure::FailureRecord;
pub use status::Status;
pub use timestamp::format_utc_millis;
