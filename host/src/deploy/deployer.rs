//! The [`Deployer`]: plugin versions on a running host. It ties the version
//! store, the rollback policy and the fleet together, tells following
//! pipelines which plugin to run (a watch channel) and reads what they report
//! (a channel), all off the stream's thread.
//!
//! Writers (the admin API, the fleet topic's watcher, the watched folder, the
//! automatic rollback) change the *desired* version; a pipeline swaps only at
//! its next commit boundary. A version activated by a deploy goes to the
//! pipelines with its probation (the previous version and the policy): the
//! stream judges it and rolls back on its own at once; the reported rollback
//! is then made the fleet's history here. Compiling and checking a candidate happens on
//! the writer's thread, after the signature check of [`learn`](Deployer::learn)
//! (every writer's one way in, when `deploy.trusted-keys` is set). Stream events are drained by a monitor thread (every
//! [`MONITOR_EVERY`]) and by every admin call before it answers, so what it
//! answers includes everything the stream reported before the call.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::api::{AdminError, RejectedVersion};
use super::check::{Checked, default_canaries, load_candidate, sha256_hex};
use super::fleet::{Fleet, LocalOnly};
use super::signature::{TrustedKeys, normalize_signature};
use super::state::{Known, State, StreamRollback};
use super::versions::{Activated, HistoryError, VersionStore};
use crate::bindings::InputRecord;
use crate::clock::now_ms;
use crate::config::DeployConfig;
use crate::error::PluginError;
use crate::lookup::ClaimsLookup;
use crate::pipeline::{Desired, FeedControl, PluginFeed, Probation, RollbackPolicy, Running};
use crate::runtime::{DEFAULT_PLUGIN, Plugin, PluginEngine};

/// How often the monitor thread reads the stream's reports.
pub(crate) const MONITOR_EVERY: Duration = Duration::from_millis(20);

/// The plugin versions of one host (shared by the admin API, the fleet watcher
/// and the watched folder; pipelines hold only a [`PluginFeed`]).
pub struct Deployer {
    engine: PluginEngine,
    /// Canary records run against the real lookup.
    lookup: Arc<ClaimsLookup>,
    canaries: Vec<InputRecord>,
    policy: RollbackPolicy,
    state: Mutex<State>,
    /// Where the desired plugin goes to pipelines.
    desired: watch::Sender<Desired>,
    /// What pipelines report; drained by whoever needs it current.
    control: Mutex<FeedControl>,
    /// Where deployments go besides this host.
    pub(super) fleet: Arc<dyn Fleet>,
    /// How long deploy and rollback wait for the pipeline to swap before they
    /// answer (zero when the caller drives the pipeline itself).
    pub(super) wait_live: Duration,
    /// Whether the monitor thread runs (started with the first feed).
    monitor: Mutex<bool>,
    /// Held from reading the history to applying the next one, so two
    /// deploys (or a deploy and a rollback) at once each build on the other's
    /// history instead of one overwriting the other.
    changes: Mutex<()>,
    /// Whose signatures a new version must carry (none: not checked).
    pub(super) trust: TrustedKeys,
}

impl Deployer {
    /// The claims lookup the stream and the canaries use.
    pub(super) fn claims_lookup(&self) -> &Arc<ClaimsLookup> {
        &self.lookup
    }

    /// A deployer whose first (and active) version is `initial`.
    pub fn new(
        engine: PluginEngine,
        initial: Plugin,
        initial_bytes: &[u8],
        lookup: Arc<ClaimsLookup>,
        canaries: Vec<InputRecord>,
        config: &DeployConfig,
        fleet: Arc<dyn Fleet>,
    ) -> Self {
        let key = initial.key();
        let control = FeedControl::new(initial.clone());
        let known = Known {
            plugin: initial,
            sha256: sha256_hex(initial_bytes),
            bytes: Arc::from(initial_bytes),
            loaded_at_ms: now_ms(),
            signature: None,
            signed_by: None,
        };
        Self {
            engine,
            lookup,
            canaries,
            policy: config.into(),
            state: Mutex::new(State {
                running: Running::new(&key, now_ms()),
                store: VersionStore::new(key, known),
                on_probation: false,
                swaps: 0,
                rollbacks: 0,
                last_swap_pause: None,
                last_event: None,
                seq: 0,
                rejected: Vec::new(),
            }),
            desired: control.desired.clone(),
            control: Mutex::new(control),
            fleet,
            wait_live: Duration::ZERO,
            monitor: Mutex::new(false),
            changes: Mutex::new(()),
            trust: TrustedKeys::default(),
        }
    }

    /// Require every new version to be signed by one of `trust` (nothing
    /// changes when it holds no key).
    pub fn trusting(mut self, trust: TrustedKeys) -> Self {
        self.trust = trust;
        self
    }

    /// The initial version's signature (checked by the caller), published
    /// with it when it becomes the fleet's baseline, and the key it verified under.
    pub fn initial_signature(
        mut self,
        signature: Option<&[u8]>,
        signed_by: Option<String>,
    ) -> Self {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = state.store.desired_key().unwrap_or_default().to_owned();
        if let Some(known) = state.store.get_mut(&key) {
            known.signature = signature.and_then(normalize_signature);
            known.signed_by = signed_by;
        }
        self
    }

    /// A deployer for one host that starts on the plugin built with the host,
    /// with the built-in canary records (for benchmarks, tests and embedding).
    pub fn with_built_in(
        engine: PluginEngine,
        lookup: Arc<ClaimsLookup>,
        config: &DeployConfig,
    ) -> Result<Arc<Self>, PluginError> {
        let initial = engine.load_default()?;
        Ok(Arc::new(Self::new(
            engine,
            initial,
            DEFAULT_PLUGIN,
            lookup,
            default_canaries(),
            config,
            Arc::new(LocalOnly),
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ends a pipeline follows; starts the monitor thread the first time.
    pub fn feed(self: &Arc<Self>) -> PluginFeed {
        let mut started = self
            .monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*started {
            *started = start_monitor(Arc::downgrade(self));
        }
        drop(started);
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .feed()
    }

    /// Apply everything the pipelines reported so far; record the rollbacks the stream made.
    pub(super) fn drain(&self) {
        let mut rollbacks = Vec::new();
        {
            let control = self
                .control
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut state = self.lock();
            while let Ok(event) = control.events.try_recv() {
                rollbacks.extend(state.on_event(event));
            }
        }
        for rollback in rollbacks {
            self.rollback_automatically(rollback);
        }
    }

    /// One change of the history at a time (see `changes`).
    pub(super) fn one_change(&self) -> MutexGuard<'_, ()> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stream rolled back because the running version failed too often:
    /// make that the history here and in the fleet, unless another version
    /// was activated since.
    fn rollback_automatically(&self, rollback: StreamRollback) {
        let reason = rollback.reason.as_str();
        self.lock().rollbacks += 1;
        tracing::error!("{reason}");
        let _one = self.one_change();
        let history = {
            let state = self.lock();
            (rollback.judged && state.store.desired_key() == Some(rollback.from.as_str()))
                .then(|| state.store.history_back_to(&rollback.to))
        };
        let Some(history) = history else {
            self.note_event(format!(
                "{reason}; another version was activated meanwhile, so the history stays"
            ));
            return;
        };
        if let Err(e) = self.apply(history, reason) {
            self.note_event(format!("{reason}; but it could not be applied: {e}"));
        } else {
            self.lock().last_event = Some(reason.to_owned());
        }
    }

    /// Activate `history` everywhere this host's deployments reach.
    pub(super) fn apply(&self, history: Vec<String>, reason: &str) -> Result<(), AdminError> {
        self.fleet
            .publish_active(&history, reason)
            .map_err(AdminError::Unavailable)?;
        self.activate(history, reason)
    }

    /// The key of the version that should run.
    pub fn desired_key(&self) -> String {
        self.lock()
            .store
            .desired_key()
            .unwrap_or_default()
            .to_owned()
    }

    /// Compile and check a candidate and remember it (it does not run yet).
    /// A version is immutable: the same `name@version` with other bytes is refused.
    /// When this host requires signed plugins, `signature` is verified first.
    pub fn learn(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        signature: Option<&[u8]>,
    ) -> Result<(String, Checked), AdminError> {
        let signed_by = self
            .trust
            .verify(bytes, signature)
            .map_err(|e| AdminError::Untrusted(e.to_string()))?;
        let signature = signature.and_then(normalize_signature);
        let sha256 = sha256_hex(bytes);
        if let Some((key, checked)) = self.known_by_sha(&sha256, name) {
            // A version known unsigned (the baseline) keeps the signature it now comes with.
            if let Some(known) = self.lock().store.get_mut(&key)
                && known.signature.is_none()
                && signature.is_some()
            {
                known.signature = signature;
                known.signed_by = known.signed_by.take().or(signed_by);
            }
            return Ok((key, checked));
        }
        let candidate =
            load_candidate(&self.engine, bytes, sha256, name).map_err(AdminError::Rejected)?;
        let key = candidate.plugin.key();
        if let Some(known) = self.lock().store.get(&key)
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
        self.lock().store.learn(key.clone(), || Known {
            plugin: checked.plugin.clone(),
            sha256: checked.sha256.clone(),
            bytes: Arc::from(bytes),
            loaded_at_ms: now_ms(),
            signature,
            signed_by,
        });
        Ok((key, checked))
    }

    /// A version already checked here with these bytes (and this name, if one is given).
    fn known_by_sha(&self, sha256: &str, name: Option<&str>) -> Option<(String, Checked)> {
        let state = self.lock();
        let (key, known) = state.store.iter().find(|(_, k)| {
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
        self.lock().store.knows(key)
    }

    /// The component bytes of a known version.
    pub fn bytes_of(&self, key: &str) -> Option<Arc<[u8]>> {
        self.lock().store.get(key).map(|k| Arc::clone(&k.bytes))
    }

    /// The component bytes of a known version and its signature (base64), if it has one.
    pub(super) fn bytes_and_signature(&self, key: &str) -> Option<(Arc<[u8]>, Option<String>)> {
        let state = self.lock();
        let known = state.store.get(key)?;
        Some((Arc::clone(&known.bytes), known.signature.clone()))
    }

    /// A version refused from `from` (`fleet topic`, `watched folder`, `admin API`):
    /// logged at warn, shown as the last event and in `plugin status`'s rejected list.
    pub fn note_rejected(&self, what: &str, from: &str, reason: &str) {
        let event = format!("{what} from the {from} refused: {reason}");
        tracing::warn!("{event}");
        let mut state = self.lock();
        state.last_event = Some(event);
        state.reject(RejectedVersion {
            what: what.to_owned(),
            from: from.to_owned(),
            reason: reason.to_owned(),
            at_ms: now_ms(),
        });
    }

    /// Remember something an operator should see in `plugin status` (and log it).
    pub fn note_event(&self, event: String) {
        tracing::warn!("{event}");
        self.lock().last_event = Some(event);
    }

    /// Make `history` (its last entry the version to run) the desired state
    /// on this host. Refused when this host does not know that version.
    pub fn activate(&self, history: Vec<String>, reason: &str) -> Result<(), AdminError> {
        let mut state = self.lock();
        match state.store.activate(history).map_err(history_error)? {
            Activated::Unchanged => return Ok(()),
            Activated::Changed { forward } => state.on_probation = forward,
        }
        let key = state.store.desired_key().unwrap_or_default().to_owned();
        tracing::info!(version = %key, reason, "plugin version activated");
        state.last_event = Some(format!("{key} activated: {reason}"));
        state.seq += 1;
        // A deploy with a version to return to is watched (in the stream).
        let probation = state
            .on_probation
            .then(|| state.store.previous())
            .flatten()
            .and_then(|previous| state.store.get(previous))
            .map(|previous| Probation {
                previous: previous.plugin.clone(),
                policy: self.policy,
            });
        if let Some(known) = state.store.desired() {
            self.desired.send_replace(Desired {
                seq: state.seq,
                plugin: known.plugin.clone(),
                probation,
            });
        }
        Ok(())
    }

    /// The history after one step back, or why there is none.
    pub(super) fn history_after_rollback(&self) -> Result<Vec<String>, AdminError> {
        self.lock()
            .store
            .history_after_rollback()
            .map_err(history_error)
    }

    /// The history after activating `key`.
    pub(super) fn history_with(&self, key: &str) -> Vec<String> {
        self.lock().store.history_with(key)
    }

    /// The history after returning to `key`: cut after it when it is in the
    /// history, else with it on top; `None` when this host does not know it.
    pub(super) fn history_back_to(&self, key: &str) -> Option<Vec<String>> {
        let state = self.lock();
        state
            .store
            .knows(key)
            .then(|| state.store.history_back_to(key))
    }

    /// Wait until the pipeline runs `key` (for answers that say "it is live").
    pub fn wait_running(&self, key: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain();
            if self.lock().running.key == key {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn history_error(e: HistoryError) -> AdminError {
    match e {
        HistoryError::Empty => AdminError::BadRequest(e.to_string()),
        HistoryError::Unknown(_) | HistoryError::NothingBefore(_) => {
            AdminError::Conflict(e.to_string())
        }
    }
}

/// Drain the stream's reports every [`MONITOR_EVERY`] on a thread of its own,
/// until the deployer is dropped. Returns whether it started.
fn start_monitor(deployer: Weak<Deployer>) -> bool {
    std::thread::Builder::new()
        .name("deploy-monitor".into())
        .spawn(move || {
            while let Some(deployer) = deployer.upgrade() {
                deployer.drain();
                drop(deployer);
                std::thread::sleep(MONITOR_EVERY);
            }
        })
        .map_err(|e| tracing::error!("cannot start the deploy monitor thread: {e}"))
        .is_ok()
}
