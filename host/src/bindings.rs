//! The one `bindgen!` of the workspace: host-side types and traits for the WIT
//! world `payments:enrichment/enricher` (see `wit/world.wit`).
//!
//! Imports are plain sync functions: a failed lookup is a WIT `lookup-error`
//! the plugin sees; a trap is reserved for host bugs.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "enricher",
});

pub use exports::payments::enrichment::transform::BatchError;
pub use payments::enrichment::claims::{self as claims_api};
pub use payments::enrichment::config::{self as config_api};
pub use payments::enrichment::logging::{self as logging_api};
pub use payments::enrichment::types::{
    BatchContext, Header, InputRecord, Output, OutputRecord, PluginInfo,
};

/// The WIT package version this host implements (`package payments:enrichment@X.Y.Z`).
pub const WIT_PACKAGE_VERSION: &str = "1.1.0";
