//! The payment-enrichment plugin as a raw-bytes SDK plugin
//! (`payment-enrichment@0.1.1+raw`): the same enrichment as the host's
//! built-in typed plugin (`plugins/typed`), which it is checked against.
//!
//! [`enrich`] is the whole step as pure logic (batch in, routed records out).
//! Events are read with the parser the host uses (`enricher-model`'s `event`,
//! `guest/model/`), and output records written with the record format the
//! host shares (same crate). The WIT glue, batching and routing are
//! `enricher-sdk`'s (`guest/sdk/`): [`enrich::PaymentEnrichment`] is a
//! one-record-at-a-time SDK plugin, exported below. Everything compiles and
//! is tested natively (`cargo test -p enricher-guest`); `enricher-bench run
//! --native-step raw` links it into the benchmark binary (`host/bench/`).

pub mod enrich;

/// The name and version this plugin reports (stamped on every output record).
pub const PLUGIN_NAME: &str = "payment-enrichment";
/// The host's built-in plugin is the typed one (`plugins/typed`,
/// `payment-enrichment@0.1.1`); this raw-bytes build of the same logic is
/// told apart by build metadata, so the two never share a deploy key.
#[cfg(not(feature = "v2"))]
pub const PLUGIN_VERSION: &str = "0.1.1+raw";
/// Version 2 adds `remaining_claim_amount` to enriched events (a second real
/// version for hot-swap tests and demos: `--features v2`).
#[cfg(feature = "v2")]
pub const PLUGIN_VERSION: &str = "0.2.0";

enricher_sdk::export!(enrich::PaymentEnrichment);
