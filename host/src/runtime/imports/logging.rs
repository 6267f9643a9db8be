//! `logging.log`: a plugin's log lines go to the host's `tracing` logs under
//! the target `plugin`, tagged with the plugin's name.

use super::HostState;
use crate::bindings::logging_api;

impl logging_api::Host for HostState {
    fn log(&mut self, level: logging_api::Level, message: String) {
        use logging_api::Level;
        let plugin = self.plugin_name.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}
