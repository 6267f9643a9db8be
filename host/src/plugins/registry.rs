//! The plugin versions a running host knows, which one should run, and the
//! history a rollback walks back through.
//!
//! Writers (the admin API, the fleet topic's watcher, the automatic rollback)
//! change the *desired* version and bump a sequence number; the pipeline
//! reads that number at each commit boundary and swaps only there (see
//! `Pipeline::at_commit_boundary`), so a batch or transaction is always
//! processed by exactly one version. Compiling and checking a candidate
//! happens on the writer's thread, never on the stream's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::api::{AdminError, VersionInfo};
use super::check::{Checked, load_candidate, sha256_hex};
use super::fleet::FleetPublisher;
use crate::bindings::InputRecord;
use crate::config::DeployConfig;
use crate::lookup::ClaimsLookup;
use crate::pipeline::now_ms;
use crate::plugin::{Plugin, PluginEngine};

/// How many activations a rollback can walk back through.
pub const HISTORY_LEN: usize = 16;

/// One version this host has checked and compiled.
pub(super) struct Known {
    pub plugin: Plugin,
    pub sha256: String,
    /// The component, to publish it to the fleet topic.
    pub bytes: Arc<[u8]>,
    pub loaded_at_ms: i64,
}

/// When a freshly activated version is rolled back on its own.
#[derive(Debug, Clone, Copy)]
pub(super) struct RollbackPolicy {
    pub error_rate: f64,
    pub window: u64,
    pub min_records: u64,
}

/// The version the pipeline runs, and how it is doing.
pub(super) struct Running {
    pub key: String,
    pub activated_at_ms: i64,
    pub processed: u64,
    pub plugin_errors: u64,
}

impl Running {
    /// `key` goes live now, with nothing processed yet.
    fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            activated_at_ms: now_ms(),
            processed: 0,
            plugin_errors: 0,
        }
    }
}

pub(super) struct State {
    pub versions: BTreeMap<String, Known>,
    /// Activations, oldest first; the last is the desired version.
    pub history: Vec<String>,
    pub running: Running,
    pub swaps: u64,
    pub rollbacks: u64,
    pub last_swap_pause: Option<Duration>,
    pub last_event: Option<String>,
    /// Whether the desired version came from a deploy (watched for automatic
    /// rollback), not from a rollback: a rollback is never rolled back on its
    /// own, so bad data cannot walk the fleet back through every version.
    pub on_probation: bool,
}

/// The plugin versions of one host (shared by the pipeline, the admin API and the fleet watcher).
pub struct PluginRegistry {
    pub(super) engine: PluginEngine,
    /// Canary records run against the real lookup.
    pub(super) lookup: Arc<ClaimsLookup>,
    pub(super) canaries: Vec<InputRecord>,
    pub(super) policy: RollbackPolicy,
    pub(super) state: Mutex<State>,
    /// Bumped on every change of the desired version.
    desired_seq: AtomicU64,
    /// The fleet topic, in Kafka mode with `deploy.topic` set.
    pub(super) fleet: OnceLock<FleetPublisher>,
    /// The version the registry started with (never forgotten).
    first: Plugin,
    /// How long deploy and rollback wait for the pipeline to swap before they
    /// answer (zero when the caller drives the pipeline itself).
    pub(super) wait_live: Duration,
}

impl PluginRegistry {
    /// A registry whose first (and active) version is `initial`.
    pub fn new(
        engine: PluginEngine,
        initial: Plugin,
        initial_bytes: &[u8],
        lookup: Arc<ClaimsLookup>,
        canaries: Vec<InputRecord>,
        config: &DeployConfig,
    ) -> Self {
        let key = initial.key();
        let first = initial.clone();
        let mut versions = BTreeMap::new();
        versions.insert(
            key.clone(),
            Known {
                plugin: initial,
                sha256: sha256_hex(initial_bytes),
                bytes: Arc::from(initial_bytes),
                loaded_at_ms: now_ms(),
            },
        );
        Self {
            engine,
            lookup,
            canaries,
            policy: RollbackPolicy {
                error_rate: config.rollback_error_rate,
                window: config.rollback_window,
                min_records: config.rollback_min_records,
            },
            state: Mutex::new(State {
                versions,
                history: vec![key.clone()],
                running: Running::new(&key),
                swaps: 0,
                rollbacks: 0,
                last_swap_pause: None,
                last_event: None,
                on_probation: false,
            }),
            desired_seq: AtomicU64::new(0),
            fleet: OnceLock::new(),
            first,
            wait_live: Duration::ZERO,
        }
    }

    /// A registry that starts on the plugin built with the host, with the
    /// built-in canary records (for benchmarks, tests and embedding).
    pub fn with_built_in(
        engine: PluginEngine,
        lookup: Arc<ClaimsLookup>,
        config: &DeployConfig,
    ) -> Result<Arc<Self>, crate::error::PluginError> {
        let initial = engine.load_default()?;
        let canaries = super::check::default_canaries();
        Ok(Arc::new(Self::new(
            engine,
            initial,
            crate::plugin::DEFAULT_PLUGIN,
            lookup,
            canaries,
            config,
        )))
    }

    /// Deploy and rollback answer once the pipeline (on another thread) runs
    /// the new version, or after `wait`, so their answer can say it is live.
    pub fn answer_when_live(mut self, wait: Duration) -> Self {
        self.wait_live = wait;
        self
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every write is one assignment).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Deployments go through `fleet` from now on (every host swaps).
    pub fn attach_fleet(&self, fleet: FleetPublisher) {
        let _ = self.fleet.set(fleet);
    }

    /// Changes whenever another version should run.
    pub fn desired_seq(&self) -> u64 {
        self.desired_seq.load(Ordering::Acquire)
    }

    /// The version that should run now, and the sequence number it goes with.
    pub fn desired(&self) -> (u64, Plugin) {
        let state = self.lock();
        let seq = self.desired_seq();
        // `activate` only accepts known versions, so the first lookup answers.
        let plugin = state
            .history
            .last()
            .and_then(|key| state.versions.get(key))
            .map(|k| k.plugin.clone())
            .unwrap_or_else(|| self.first.clone());
        (seq, plugin)
    }

    /// The key of the version that should run.
    pub fn desired_key(&self) -> String {
        self.lock().history.last().cloned().unwrap_or_default()
    }

    /// A pipeline starts running `key` (not a swap).
    pub fn note_started(&self, key: &str) {
        let mut state = self.lock();
        if state.running.key != key {
            state.running = Running::new(key);
        }
    }

    /// The pipeline swapped to `key` at a commit boundary; the swap held the stream for `pause`.
    pub fn note_swapped(&self, key: &str, pause: Duration) {
        let mut state = self.lock();
        if state.running.key == key {
            return;
        }
        tracing::info!(from = %state.running.key, to = key, pause_us = pause.as_micros() as u64, "plugin swapped at a commit boundary");
        state.running = Running::new(key);
        state.swaps += 1;
        state.last_swap_pause = Some(pause);
    }

    /// Compile and check a candidate and remember it (it does not run yet).
    /// A version is immutable: the same `name@version` with other bytes is refused.
    pub fn learn(&self, bytes: &[u8], name: Option<&str>) -> Result<(String, Checked), AdminError> {
        let sha256 = sha256_hex(bytes);
        if let Some(known) = self.known_by_sha(&sha256, name) {
            return Ok(known);
        }
        let candidate =
            load_candidate(&self.engine, bytes, sha256, name).map_err(AdminError::Rejected)?;
        let key = candidate.plugin.key();
        if let Some(known) = self.lock().versions.get(&key)
            && known.sha256 != candidate.sha256
        {
            return Err(AdminError::Conflict(format!(
                "{key} is already deployed with other bytes (sha256 {}…); give the new build a new version",
                &known.sha256[..12]
            )));
        }
        let checked = candidate
            .run_canaries(&self.lookup, &self.canaries)
            .map_err(AdminError::Rejected)?;
        self.lock()
            .versions
            .entry(key.clone())
            .or_insert_with(|| Known {
                plugin: checked.plugin.clone(),
                sha256: checked.sha256.clone(),
                bytes: Arc::from(bytes),
                loaded_at_ms: now_ms(),
            });
        Ok((key, checked))
    }

    /// A version already checked here with these bytes (and this name, if one is given).
    fn known_by_sha(&self, sha256: &str, name: Option<&str>) -> Option<(String, Checked)> {
        let state = self.lock();
        let (key, known) = state.versions.iter().find(|(_, k)| {
            k.sha256 == sha256 && name.is_none_or(|n| k.plugin.info().name == n.trim())
        })?;
        Some((
            key.clone(),
            Checked {
                plugin: known.plugin.clone(),
                sha256: known.sha256.clone(),
                checks: vec![format!("already checked on this host as {key}")],
                took: Duration::ZERO,
            },
        ))
    }

    pub fn knows(&self, key: &str) -> bool {
        self.lock().versions.contains_key(key)
    }

    /// The component bytes of a known version.
    pub fn bytes_of(&self, key: &str) -> Option<Arc<[u8]>> {
        self.lock().versions.get(key).map(|k| Arc::clone(&k.bytes))
    }

    /// Remember something an operator should see in `plugin status` (and log it).
    pub fn note_event(&self, event: String) {
        tracing::warn!("{event}");
        self.lock().last_event = Some(event);
    }

    /// Make `history` (its last entry the version to run) the desired state.
    /// Refused when this host does not know that version.
    pub fn activate(&self, history: Vec<String>, reason: &str) -> Result<(), AdminError> {
        let Some(key) = history.last().cloned() else {
            return Err(AdminError::BadRequest("empty activation history".into()));
        };
        let mut state = self.lock();
        if !state.versions.contains_key(&key) {
            return Err(AdminError::Conflict(format!(
                "{key} is not known to this host"
            )));
        }
        if state.history == history {
            return Ok(());
        }
        tracing::info!(version = %key, reason, "plugin version activated");
        state.last_event = Some(format!("{key} activated: {reason}"));
        state.on_probation = !state.history.contains(&key) || history.len() > state.history.len();
        state.history = history;
        drop(state);
        self.desired_seq.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The history after one step back, or why there is none.
    pub fn history_after_rollback(&self) -> Result<Vec<String>, AdminError> {
        let state = self.lock();
        let mut history = state.history.clone();
        history.pop();
        match history.last() {
            Some(_) => Ok(history),
            None => Err(AdminError::Conflict(format!(
                "nothing to roll back to: {} is the only version activated",
                state.history.last().map_or("?", |k| k.as_str())
            ))),
        }
    }

    /// The history after activating `key`: it goes on top (moved if it was there already).
    pub fn history_with(&self, key: &str) -> Vec<String> {
        let mut history = self.lock().history.clone();
        history.retain(|k| k != key);
        history.push(key.to_owned());
        let excess = history.len().saturating_sub(HISTORY_LEN);
        history.drain(..excess);
        history
    }

    /// Count what the running version did with a batch; returns the history a
    /// rollback should activate when its plugin-error rate crosses the threshold
    /// within the window after it went live.
    pub fn observe(&self, records: u64, plugin_errors: u64) -> Option<(Vec<String>, String)> {
        let mut state = self.lock();
        let before = state.running.processed;
        state.running.processed += records;
        state.running.plugin_errors += plugin_errors;
        let r = &state.running;
        let in_window = before < self.policy.window;
        let rate = r.plugin_errors as f64 / r.processed.max(1) as f64;
        if !in_window
            || !state.on_probation
            || r.processed < self.policy.min_records
            || rate <= self.policy.error_rate
            || state.history.last() != Some(&r.key)
            || state.history.len() < 2
        {
            return None;
        }
        let reason = format!(
            "automatic rollback: {} had {} plugin errors in {} records ({:.1}% > {:.1}%)",
            r.key,
            r.plugin_errors,
            r.processed,
            rate * 100.0,
            self.policy.error_rate * 100.0
        );
        state.on_probation = false;
        let mut history = state.history.clone();
        history.pop();
        Some((history, reason))
    }

    pub(super) fn version_info(&self, state: &State, key: &str) -> Option<VersionInfo> {
        let known = state.versions.get(key)?;
        let info = known.plugin.info();
        Some(VersionInfo {
            key: key.to_owned(),
            name: info.name.clone(),
            version: info.version.clone(),
            world: format!("{}@{}", crate::plugin::WIT_PACKAGE, known.plugin.world()),
            sha256: known.sha256.clone(),
            size_bytes: known.bytes.len() as u64,
            loaded_at_ms: known.loaded_at_ms,
            active: state.running.key == key,
        })
    }

    /// Wait until the pipeline runs `key` (for answers that say "it is live").
    pub fn wait_running(&self, key: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.lock().running.key == key {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}
