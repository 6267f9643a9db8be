//! What the admin API and `enricher plugin ...` exchange: the operations on a
//! running host's plugins ([`PluginAdmin`]) and the JSON shapes of their answers.
//! The HTTP layer (`crate::admin`) only moves these; the [`Deployer`](super::Deployer)
//! implements them.

use serde::{Deserialize, Serialize};

/// One known plugin version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `name@version`: what deploy, rollback and the fleet topic call it.
    pub key: String,
    pub name: String,
    pub version: String,
    /// The WIT package it was built against, e.g. `payments:enrichment@1.0.0`.
    pub world: String,
    /// SHA-256 of the component bytes, hex.
    pub sha256: String,
    pub size_bytes: u64,
    /// When this host first loaded it (ms since the Unix epoch).
    pub loaded_at_ms: i64,
    /// Whether it is the version processing events now.
    pub active: bool,
    /// The trusted key its signature verified under (`ed25519:<fingerprint>`),
    /// when this host requires signed plugins (`deploy.trusted-keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// A version this host refused from a source it does not answer to
/// directly (the fleet topic, the watched folder), or for its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedVersion {
    /// `name@version` as the record named it, or the file, or the deploy's sha256.
    pub what: String,
    /// `admin API`, `fleet topic` or `watched folder`.
    pub from: String,
    pub reason: String,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
}

/// The plugin state of a running host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    pub active: VersionInfo,
    /// The version a rollback would return to.
    pub previous: Option<String>,
    /// When the active version went live on this host (ms since the Unix epoch).
    pub activated_at_ms: i64,
    /// Records the active version processed on this host since it went live.
    pub events_processed: u64,
    /// Of those, the ones it failed as a plugin (trap, batch error, dropped record).
    pub plugin_errors: u64,
    /// `plugin_errors / events_processed` (0 when nothing was processed).
    pub error_rate: f64,
    /// Swaps and rollbacks (automatic ones included) since the host started.
    pub swaps: u64,
    pub rollbacks: u64,
    /// How long the last swap held the stream, in microseconds.
    pub last_swap_pause_us: Option<u64>,
    /// The fleet topic deployments go through, or `None` when they are local.
    pub fleet_topic: Option<String>,
    /// The last notable event (a rejected version, an automatic rollback), for humans.
    pub last_event: Option<String>,
    /// Fingerprints of the keys a component must be signed with; empty when
    /// signatures are not required.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// The latest versions this host refused, newest last (at most 16).
    #[serde(default)]
    pub rejected: Vec<RejectedVersion>,
    /// How far this host has applied the claims changelog (applied lag), when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_changelog: Option<crate::lookup::ChangelogStatus>,
}

/// The answer to a successful deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployReport {
    pub deployed: VersionInfo,
    /// Whether it went to the fleet topic (every host swaps) or to this host only.
    pub fleet: bool,
    /// The checks it passed, in order, for the operator to read.
    pub checks: Vec<String>,
    /// Time to compile and check it, in milliseconds.
    pub check_ms: u64,
}

/// The answer to a successful rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReport {
    pub from: String,
    pub to: String,
    pub fleet: bool,
}

/// Why an admin operation was refused. The HTTP layer maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum AdminError {
    /// The plugin failed a check (not a component, wrong world, canary failure): 422.
    #[error("plugin rejected: {0}")]
    Rejected(String),
    /// The request cannot be done in this state (nothing to roll back to): 409.
    #[error("{0}")]
    Conflict(String),
    /// The fleet topic (or another dependency) is not reachable: 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request itself is malformed: 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The component's signature is missing or verifies under no trusted key: 403.
    #[error("plugin not trusted: {0}")]
    Untrusted(String),
    /// No admin token, or not the right one: 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Sent from a foreign origin (a browser page elsewhere): 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The version asked for is not known to this host: 404.
    #[error("not found: {0}")]
    NotFound(String),
}

/// The operations the admin API offers on a running host's plugins.
pub trait PluginAdmin: Send + Sync {
    /// Check a component (world version, compile, instantiate, canary records)
    /// and make it the active version: on every host through the fleet topic,
    /// or on this one. `name` overrides the name the plugin reports.
    fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, AdminError>;
    /// [`deploy`](Self::deploy) with the component's detached signature
    /// (base64 text or the raw 64 bytes), which a host requiring signed
    /// plugins verifies first. An implementation that checks no signatures
    /// deploys as `deploy` does.
    fn deploy_signed(
        &self,
        wasm: &[u8],
        name: Option<&str>,
        signature: Option<&[u8]>,
    ) -> Result<DeployReport, AdminError> {
        let _ = signature;
        self.deploy(wasm, name)
    }
    /// Every version this host knows, newest first.
    fn list(&self) -> Vec<VersionInfo>;
    /// Return to the version that was active before the current one.
    fn rollback(&self) -> Result<RollbackReport, AdminError>;
    /// Return to version `key` (`name@version`): the history walks back to
    /// it, or it goes on top when it is known but no longer in the history.
    /// An unknown version is [`AdminError::NotFound`].
    fn rollback_to(&self, key: &str) -> Result<RollbackReport, AdminError> {
        Err(AdminError::NotFound(format!(
            "{key}: this host rolls back only to the previous version"
        )))
    }
    fn status(&self) -> PluginStatus;
}
