//! `enrichment-format`: the output record format that the host and the
//! enrichment plugins share, so that no plugin's crate owns the host's output.
//!
//! Layout:
//! - [`json_out`]: the JSON object writer (exact decimals as number tokens) and base64;
//! - `escape`: JSON string literals, word at a time (the plugins' hottest loop);
//! - [`timestamp`]: the `enrichment_timestamp` text (`2024-01-15T10:30:01.123Z`);
//! - [`failure`]: the failure record (`enrichment_status`, `error`, the original payload).
//!
//! It builds natively and for `wasm32-wasip2`; its only dependencies are
//! `rust_decimal` and `time` (the calendar).

mod escape;
pub mod failure;
pub mod json_out;
pub mod timestamp;

pub use failure::FailureRecord;
pub use timestamp::format_utc_millis;
