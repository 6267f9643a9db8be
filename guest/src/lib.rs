//! The payment-enrichment plugin.
//!
//! Layout:
//! - [`enrich`]: the enrichment step as pure logic (batch in, routed records out);
//! - [`event`]: parsing and validating one payment event;
//! - [`json_out`]: the output JSON writer (exact decimals as number tokens);
//! - [`timefmt`]: date-time formatting and validation;
//! - `component` (wasm32 only): the thin glue between the WIT world
//!   `payments:enrichment/enricher` and [`enrich`].
//!
//! Everything but `component` compiles and is tested natively (`cargo test -p
//! enrichment-guest`); the host's benchmark also links it natively as the
//! no-WASM baseline.

pub mod enrich;
pub mod event;
pub mod json_out;
pub mod timefmt;

/// The name and version this plugin reports (stamped on every output record).
pub const PLUGIN_NAME: &str = "payment-enrichment";
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(target_arch = "wasm32")]
mod component;
