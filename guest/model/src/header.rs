//! The names of the Kafka headers on output records (and on the records the
//! host reads back: redrive, late claims). Consumers downstream read them, so
//! they are part of the contract like the record's fields.

/// The output's `enrichment_status` ([`crate::Status`] or a plugin's own code):
/// set on every failure by the plugin (raw world) or the host (typed world,
/// host-made failures), and stamped on every output by the host.
pub const STATUS: &str = "enrichment-status";
/// The name of the plugin that wrote the output (stamped by the host).
pub const PLUGIN_NAME: &str = "plugin-name";
/// The version of the plugin that wrote the output (stamped by the host).
pub const PLUGIN_VERSION: &str = "plugin-version";
/// On an output enriched from an expired cache row (serve-stale): `true`.
pub const CLAIM_STALE: &str = "claim-stale";
/// The commit unit (transaction, or at-least-once batch) an output was
/// produced in: `<instance>/<n>`. Every output of one unit was made by one
/// plugin version.
pub const COMMIT_UNIT: &str = "commit-unit";
/// On a record re-sent for a late claim (CLAIM_NOT_FOUND retries): which attempt (1 first).
pub const RETRY_ATTEMPT: &str = "retry-attempt";
/// On such a retry record: when it is due, in ms since the epoch.
pub const RETRY_DUE: &str = "retry-due-ms";
/// On a failure record that went through retries: how many there were.
pub const RETRY_ATTEMPTS: &str = "retry-attempts";

/// The headers only the host writes on an output. An input header with one
/// of these names (case-insensitive) is renamed [`ORIGINAL_PREFIX`]`<name>`
/// when the host reads it, so a record cannot forge its own status, plugin
/// version or commit unit: on an output, each of these names carries the
/// host's value only.
pub const HOST_WRITTEN: [&str; 8] = [
    STATUS,
    PLUGIN_NAME,
    PLUGIN_VERSION,
    CLAIM_STALE,
    COMMIT_UNIT,
    RETRY_ATTEMPT,
    RETRY_DUE,
    RETRY_ATTEMPTS,
];

/// What an input header with a host-written name is renamed with: `original-enrichment-status`.
pub const ORIGINAL_PREFIX: &str = "original-";
