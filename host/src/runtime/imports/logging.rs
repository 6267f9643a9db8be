//! `logging.log`: a plugin's log lines go to the host's `tracing` logs under
//! the target `plugin`, tagged with the plugin's name; rate-limited per
//! instance (a plugin logging every record cannot flood the log), each line
//! that passes after a pause saying how many were held back.

use super::HostState;
use crate::bindings::logging_api;

impl logging_api::Host for HostState {
    fn log(&mut self, level: logging_api::Level, message: String) {
        use logging_api::Level;
        let Some(held_back) = self.log_limit.admit(std::time::Instant::now()) else {
            return;
        };
        let plugin = self.plugin_name.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, held_back, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, held_back, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, held_back, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, held_back, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, held_back, "{message}"),
        }
    }
}
