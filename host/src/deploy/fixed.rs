//! [`FixedPlugin`]: the [`PluginAdmin`] of a file-mode run, which runs the
//! one plugin it started with. Its admin server serves `/metrics`, the status
//! page and the plugin's identity; deploys and rollbacks are refused with a
//! 409 saying to deploy to a Kafka-mode host.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::api::{
    AdminError, DeployReport, PluginAdmin, PluginStatus, RollbackReport, VersionInfo,
};
use super::check::sha256_hex;
use crate::clock::now_ms;
use crate::observe::StreamMeter;
use crate::pipeline::is_plugin_error;
use crate::runtime::{Plugin, WIT_PACKAGE};

/// The one plugin of a file-mode run, and the meter its records are counted in.
pub struct FixedPlugin {
    info: VersionInfo,
    meter: Arc<StreamMeter>,
}

impl FixedPlugin {
    /// `plugin`, loaded from `bytes`, counted in `meter`.
    pub fn new(plugin: &Plugin, bytes: &[u8], meter: Arc<StreamMeter>) -> Self {
        let about = plugin.info();
        let info = VersionInfo {
            key: plugin.key(),
            name: about.name.clone(),
            version: about.version.clone(),
            world: format!("{WIT_PACKAGE}@{}", plugin.world()),
            sha256: sha256_hex(bytes),
            size_bytes: bytes.len() as u64,
            loaded_at_ms: now_ms(),
            active: true,
            signed_by: None,
        };
        Self { info, meter }
    }

    fn refuse(what: &str) -> AdminError {
        AdminError::Conflict(format!(
            "a file-mode run keeps the plugin it started with: {what} a Kafka-mode host instead"
        ))
    }
}

impl PluginAdmin for FixedPlugin {
    fn deploy(&self, _wasm: &[u8], _name: Option<&str>) -> Result<DeployReport, AdminError> {
        Err(Self::refuse("deploy to"))
    }

    fn list(&self) -> Vec<VersionInfo> {
        vec![self.info.clone()]
    }

    fn rollback(&self) -> Result<RollbackReport, AdminError> {
        Err(Self::refuse("roll back"))
    }

    fn status(&self) -> PluginStatus {
        let processed = self.meter.records_in.load(Ordering::Relaxed);
        let plugin_errors: u64 = (self.meter.records_out().iter())
            .filter(|(_, status, _)| is_plugin_error(status))
            .map(|(_, _, n)| n)
            .sum();
        PluginStatus {
            active: self.info.clone(),
            previous: None,
            activated_at_ms: self.info.loaded_at_ms,
            events_processed: processed,
            plugin_errors,
            error_rate: if processed == 0 {
                0.0
            } else {
                plugin_errors as f64 / processed as f64
            },
            swaps: 0,
            rollbacks: 0,
            last_swap_pause_us: None,
            fleet_topic: None,
            last_event: None,
            trusted_keys: Vec::new(),
            rejected: Vec::new(),
            claims_changelog: None,
        }
    }
}
