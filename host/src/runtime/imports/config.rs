//! `config.get`: the operator's `[plugin.params]`, read-only.

use super::HostState;
use crate::bindings::config_api;

impl config_api::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.params.get(&key).cloned()
    }
}
