//! The host side of the world's imports: what a plugin's `claims.lookup`,
//! `logging.log` and `config.get` calls do. [`HostState`] is the per-instance
//! store data.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{claims_api, config_api, logging_api, payments};
use crate::lookup::{ClaimRow, ClaimsLookup, LookupAnswer};
use crate::plugin::PluginSettings;
use crate::sandbox::CallClock;

/// Store data of one plugin instance.
pub struct HostState {
    /// The claims lookup the `claims` import is served from (shared by all instances).
    lookup: Option<Arc<ClaimsLookup>>,
    /// The plugin's name, for log lines.
    plugin_name: String,
    /// The operator's `[plugin.params]`, answered by `config.get`.
    params: Arc<BTreeMap<String, String>>,
    /// A WASI context that grants nothing: std guests import WASI even when unused.
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory cap (wasmtime asks it before each growth).
    pub limits: StoreLimits,
    /// CPU time of the current call, host calls excluded.
    pub clock: CallClock,
}

impl HostState {
    pub fn new(
        lookup: Option<Arc<ClaimsLookup>>,
        plugin_name: String,
        settings: &PluginSettings,
    ) -> Self {
        Self {
            lookup,
            plugin_name,
            params: Arc::clone(&settings.params),
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: settings.limits.store_limits(),
            clock: CallClock::new(settings.limits.cpu_deadline),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn to_wit_claim(row: &ClaimRow) -> claims_api::Claim {
    claims_api::Claim {
        member_id: row.member_id.clone(),
        claim_amount: claims_api::Decimal {
            // DECIMAL(10,2) always fits: |mantissa| < 10^10.
            unscaled: i64::try_from(row.claim_amount.mantissa()).unwrap_or(i64::MAX),
            scale: u8::try_from(row.claim_amount.scale()).unwrap_or(u8::MAX),
        },
        claim_status: row.claim_status.clone(),
        created_at_micros: row.created_at_micros,
    }
}

impl claims_api::Host for HostState {
    fn lookup(&mut self, claim_ids: Vec<String>) -> Vec<claims_api::LookupResult> {
        use claims_api::{LookupError, LookupResult};
        let Some(lookup) = &self.lookup else {
            let why = "no claims store is attached to this instance".to_owned();
            return claim_ids
                .iter()
                .map(|_| LookupResult::Failed(LookupError::Unavailable(why.clone())))
                .collect();
        };
        let started = std::time::Instant::now();
        let answers = lookup.lookup(&claim_ids);
        self.clock.add_host_time(started.elapsed());
        answers
            .into_iter()
            .map(|answer| match answer {
                LookupAnswer::Found(row) => LookupResult::Found(to_wit_claim(&row)),
                LookupAnswer::NotFound => LookupResult::NotFound,
                LookupAnswer::Unavailable(why) => {
                    LookupResult::Failed(LookupError::Unavailable(why))
                }
                LookupAnswer::Timeout(why) => LookupResult::Failed(LookupError::Timeout(why)),
            })
            .collect()
    }
}

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

impl config_api::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.params.get(&key).cloned()
    }
}

impl payments::enrichment::types::Host for HostState {}
