//! What every plugin instance gets from the operator: its sandbox limits and
//! the `[plugin.params]` answered by the `config` import.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sandbox::SandboxLimits;
use crate::config::PluginConfig;

/// What every instance gets: its sandbox limits and the operator's parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSettings {
    pub limits: SandboxLimits,
    /// `[plugin.params]`, answered by the `config` import.
    pub params: Arc<BTreeMap<String, String>>,
}

impl From<&PluginConfig> for PluginSettings {
    fn from(c: &PluginConfig) -> Self {
        Self {
            limits: c.into(),
            params: Arc::new(c.params.clone()),
        }
    }
}
