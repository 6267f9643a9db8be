//! The admin operations on a host's plugins ([`PluginAdmin`] for
//! [`Deployer`]): deploy, list, roll back, status. Deploy and rollback go to
//! the fleet first (every host follows), and this host applies them at once,
//! without waiting for its own copy of the record.

use super::api::{
    AdminError, DeployReport, PluginAdmin, PluginStatus, RollbackReport, VersionInfo,
};
use super::deployer::Deployer;

impl PluginAdmin for Deployer {
    fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, AdminError> {
        self.deploy_signed(wasm, name, None)
    }

    fn deploy_signed(
        &self,
        wasm: &[u8],
        name: Option<&str>,
        signature: Option<&[u8]>,
    ) -> Result<DeployReport, AdminError> {
        if wasm.is_empty() {
            return Err(AdminError::BadRequest(
                "no component in the request body".into(),
            ));
        }
        self.drain();
        let (key, checked) = self.learn(wasm, name, signature)?;
        let signature = self.bytes_and_signature(&key).and_then(|(_, s)| s);
        self.fleet
            .publish_plugin(&key, name, wasm, signature.as_deref())
            .map_err(AdminError::Unavailable)?;
        {
            // From the history as the last change left it: a deploy running
            // beside this one goes in before or after it, never instead.
            let _one = self.one_change();
            let history = self.history_with(&key);
            self.apply(history, &format!("deployed {key}"))?;
        }
        if !self.wait_running(&key, self.wait_live) {
            tracing::info!(version = %key, "deployed; it goes live at the next commit boundary");
        }
        let state = self.lock();
        let deployed = state
            .version_info(&key)
            .ok_or_else(|| AdminError::Conflict(format!("{key} vanished while deploying")))?;
        Ok(DeployReport {
            deployed,
            fleet: self.fleet.topic().is_some(),
            checks: checked.checks,
            check_ms: checked.took.as_millis() as u64,
        })
    }

    fn list(&self) -> Vec<VersionInfo> {
        self.drain();
        let state = self.lock();
        let mut list: Vec<VersionInfo> = state
            .store
            .iter()
            .map(|(key, _)| key)
            .filter_map(|key| state.version_info(key))
            .collect();
        list.sort_by(|a, b| b.loaded_at_ms.cmp(&a.loaded_at_ms).then(a.key.cmp(&b.key)));
        list
    }

    fn rollback(&self) -> Result<RollbackReport, AdminError> {
        self.drain();
        let (from, to) = {
            let _one = self.one_change();
            let from = self.desired_key();
            let history = self.history_after_rollback()?;
            let to = history.last().cloned().unwrap_or_default();
            self.apply(history, &format!("rolled back from {from} by an operator"))?;
            (from, to)
        };
        self.lock().rollbacks += 1;
        self.wait_running(&to, self.wait_live);
        Ok(RollbackReport {
            from,
            to,
            fleet: self.fleet.topic().is_some(),
        })
    }

    fn rollback_to(&self, key: &str) -> Result<RollbackReport, AdminError> {
        self.drain();
        let (from, to) = {
            let _one = self.one_change();
            let from = self.desired_key();
            let history = self.history_back_to(key).ok_or_else(|| {
                AdminError::NotFound(format!("{key} is not a version this host knows"))
            })?;
            if from == key {
                return Err(AdminError::Conflict(format!("{key} is already active")));
            }
            self.apply(
                history,
                &format!("rolled back from {from} to {key} by an operator"),
            )?;
            (from, key.to_owned())
        };
        self.lock().rollbacks += 1;
        self.wait_running(&to, self.wait_live);
        Ok(RollbackReport {
            from,
            to,
            fleet: self.fleet.topic().is_some(),
        })
    }

    fn status(&self) -> PluginStatus {
        self.drain();
        let state = self.lock();
        let running = &state.running;
        let active = state
            .version_info(&running.key)
            .unwrap_or_else(|| VersionInfo {
                key: running.key.clone(),
                name: String::new(),
                version: String::new(),
                world: String::new(),
                sha256: String::new(),
                size_bytes: 0,
                loaded_at_ms: 0,
                active: true,
                signed_by: None,
            });
        // What a rollback would return to.
        let previous = state.store.previous().map(str::to_owned);
        PluginStatus {
            active,
            previous,
            activated_at_ms: running.activated_at_ms,
            events_processed: running.processed,
            plugin_errors: running.plugin_errors,
            error_rate: running.error_rate(),
            swaps: state.swaps,
            rollbacks: state.rollbacks,
            last_swap_pause_us: state.last_swap_pause.map(|d| d.as_micros() as u64),
            fleet_topic: self.fleet.topic().map(str::to_owned),
            last_event: state.last_event.clone(),
            trusted_keys: self.trust.fingerprints(),
            rejected: state.rejected.clone(),
            claims_changelog: self.claims_lookup().changelog(),
        }
    }
}
