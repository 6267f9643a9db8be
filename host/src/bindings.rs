//! The one `bindgen!` of the workspace: host-side types and traits for the WIT
//! package `payments:enrichment` (see `wit/`).
//!
//! The host's own world (inline below, not part of the package plugins see)
//! imports what both plugin worlds import and exports both transforms: raw
//! bytes (`transform`, world `enricher`) and typed records (`typed-transform`,
//! world `typed-enricher`, new in 1.2.0). A component exports one of them;
//! `runtime` loads whichever it has through the per-interface `GuestIndices`.
//!
//! Imports are plain sync functions: a failed lookup is a WIT `lookup-error`
//! the plugin sees; a trap is reserved for host bugs.

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "
        package enricher:host;

        world plugin-host {
            import payments:enrichment/claims@1.2.0;
            import payments:enrichment/logging@1.2.0;
            import payments:enrichment/config@1.2.0;
            export payments:enrichment/transform@1.2.0;
            export payments:enrichment/typed-transform@1.2.0;
        }
    ",
    world: "enricher:host/plugin-host",
});

pub use exports::payments::enrichment::transform::BatchError;
pub use exports::payments::enrichment::typed_transform as typed_api;
pub use payments::enrichment::claims::{self as claims_api};
pub use payments::enrichment::config::{self as config_api};
pub use payments::enrichment::logging::{self as logging_api};
pub use payments::enrichment::types::{
    BatchContext, Header, InputRecord, Output, OutputRecord, PluginInfo,
};

/// The WIT package version this host implements (`package payments:enrichment@X.Y.Z`).
pub const WIT_PACKAGE_VERSION: &str = "1.2.0";
