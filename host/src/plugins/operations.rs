//! The admin operations on a host's plugins ([`PluginAdmin`]): deploy, list,
//! roll back, status. With a fleet topic attached, deploy and rollback are
//! published there so every host follows; this host also applies them at
//! once, without waiting for its own copy of the record.

use super::api::{
    AdminError, DeployReport, PluginAdmin, PluginStatus, RollbackReport, VersionInfo,
};
use super::registry::PluginRegistry;

impl PluginRegistry {
    /// Activate `history` everywhere this host's deployments reach.
    pub fn apply(&self, history: Vec<String>, reason: &str) -> Result<(), AdminError> {
        if let Some(fleet) = self.fleet.get() {
            fleet
                .publish_active(&history, reason)
                .map_err(AdminError::Unavailable)?;
        }
        self.activate(history, reason)
    }

    /// Roll back because the running version failed too often (see `observe`).
    pub fn rollback_automatically(&self, history: Vec<String>, reason: &str) {
        self.lock().rollbacks += 1;
        tracing::error!("{reason}");
        if let Err(e) = self.apply(history, reason) {
            self.note_event(format!("{reason}; but it could not be applied: {e}"));
        } else {
            self.lock().last_event = Some(reason.to_owned());
        }
    }
}

impl PluginAdmin for PluginRegistry {
    fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, AdminError> {
        if wasm.is_empty() {
            return Err(AdminError::BadRequest(
                "no component in the request body".into(),
            ));
        }
        let (key, checked) = self.learn(wasm, name)?;
        if let Some(fleet) = self.fleet.get() {
            fleet
                .publish_plugin(&key, name, wasm)
                .map_err(AdminError::Unavailable)?;
        }
        let history = self.history_with(&key);
        self.apply(history, &format!("deployed {key}"))?;
        if !self.wait_running(&key, self.wait_live) {
            tracing::info!(version = %key, "deployed; it goes live at the next commit boundary");
        }
        let state = self.lock();
        let deployed = self
            .version_info(&state, &key)
            .ok_or_else(|| AdminError::Conflict(format!("{key} vanished while deploying")))?;
        Ok(DeployReport {
            deployed,
            fleet: self.fleet.get().is_some(),
            checks: checked.checks,
            check_ms: checked.took.as_millis() as u64,
        })
    }

    fn list(&self) -> Vec<VersionInfo> {
        let state = self.lock();
        let mut list: Vec<VersionInfo> = state
            .versions
            .keys()
            .filter_map(|key| self.version_info(&state, key))
            .collect();
        list.sort_by(|a, b| b.loaded_at_ms.cmp(&a.loaded_at_ms).then(a.key.cmp(&b.key)));
        list
    }

    fn rollback(&self) -> Result<RollbackReport, AdminError> {
        let from = self.desired_key();
        let history = self.history_after_rollback()?;
        let to = history.last().cloned().unwrap_or_default();
        self.apply(history, &format!("rolled back from {from} by an operator"))?;
        self.lock().rollbacks += 1;
        self.wait_running(&to, self.wait_live);
        Ok(RollbackReport {
            from,
            to,
            fleet: self.fleet.get().is_some(),
        })
    }

    fn status(&self) -> PluginStatus {
        let state = self.lock();
        let running = &state.running;
        let active = self
            .version_info(&state, &running.key)
            .unwrap_or_else(|| VersionInfo {
                key: running.key.clone(),
                name: String::new(),
                version: String::new(),
                world: String::new(),
                sha256: String::new(),
                size_bytes: 0,
                loaded_at_ms: 0,
                active: true,
            });
        // What a rollback would return to.
        let n = state.history.len();
        let previous = n.checked_sub(2).and_then(|i| state.history.get(i)).cloned();
        PluginStatus {
            active,
            previous,
            activated_at_ms: running.activated_at_ms,
            events_processed: running.processed,
            plugin_errors: running.plugin_errors,
            error_rate: running.plugin_errors as f64 / running.processed.max(1) as f64,
            swaps: state.swaps,
            rollbacks: state.rollbacks,
            last_swap_pause_us: state.last_swap_pause.map(|d| d.as_micros() as u64),
            fleet_topic: self.fleet.get().map(|f| f.topic().to_owned()),
            last_event: state.last_event.clone(),
        }
    }
}
