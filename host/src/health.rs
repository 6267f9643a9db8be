//! What the probes `/healthz` and `/readyz` answer, published by the stream
//! without waiting: the stream loop beats a heartbeat and stores its state
//! (partitions assigned or input open, broker reachable, a fatal client being
//! recreated) in atomics; the admin thread reads them. A [`Health`] is a cheap
//! clone of one shared state.
//!
//! - liveness: the process answers and its stream thread is not stuck (a
//!   heartbeat within `liveness_timeout` once the stream has started);
//! - readiness: partitions assigned (Kafka) or the input open (file mode), a
//!   plugin loaded, no client fatal, the broker reachable, and the claims
//!   store answering (a probe the admin thread runs itself, see [`StoreProbe`]),
//!   and no named condition raised: outputs not acknowledged, a silent broker,
//!   a missing input topic, members of the group that are not enricher hosts,
//!   an internal topic that could not be recreated ([`Health::set_condition`]),
//!   or a check another part registered (the claims changelog, [`Health::add_check`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Asks the claims store a trivial question; `Err` says why it cannot answer.
pub type StoreProbe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A readiness check another part registers: `Some(why)` when not ready.
/// Called on the admin thread; it must not block.
pub type ReadyCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Where the records come from, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Kafka,
    File,
}

struct Inner {
    source: Source,
    /// The heartbeat and the clock of [`Health::liveness_at`] count from here.
    origin: Instant,
    liveness_timeout: Duration,
    /// The stream loop has started (before it, nothing can be stuck).
    started: AtomicBool,
    /// Milliseconds from `origin` of the loop's last heartbeat.
    last_beat_ms: AtomicU64,
    /// Partitions assigned to this member (Kafka); -1 before the first look.
    assigned: AtomicI64,
    /// File mode: the input is open.
    input_open: AtomicBool,
    plugin_loaded: AtomicBool,
    broker_reachable: AtomicBool,
    /// Why a client is fatal (it is being recreated), if one is.
    fatal: Mutex<Option<String>>,
    /// Named conditions that make the host not ready, each with its reason.
    conditions: Mutex<BTreeMap<&'static str, String>>,
    checks: Mutex<Vec<ReadyCheck>>,
    store: Option<StoreProbe>,
}

/// The shared health state of one host.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").finish_non_exhaustive()
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new(Source::Kafka, Duration::from_secs(60), None)
    }
}

impl Health {
    /// A host reading `source`; a stream without a heartbeat for
    /// `liveness_timeout` is stuck; `store` probes the claims store.
    pub fn new(source: Source, liveness_timeout: Duration, store: Option<StoreProbe>) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                origin: Instant::now(),
                liveness_timeout,
                started: AtomicBool::new(false),
                last_beat_ms: AtomicU64::new(0),
                assigned: AtomicI64::new(-1),
                input_open: AtomicBool::new(false),
                plugin_loaded: AtomicBool::new(false),
                broker_reachable: AtomicBool::new(source == Source::File),
                fatal: Mutex::new(None),
                conditions: Mutex::new(BTreeMap::new()),
                checks: Mutex::new(Vec::new()),
                store,
            }),
        }
    }

    fn now_ms(&self) -> u64 {
        self.inner.origin.elapsed().as_millis() as u64
    }

    /// The stream loop is alive (call once per iteration; two atomic stores).
    pub fn beat(&self) {
        self.inner
            .last_beat_ms
            .store(self.now_ms(), Ordering::Relaxed);
        self.inner.started.store(true, Ordering::Relaxed);
    }

    pub fn set_assigned(&self, partitions: usize) {
        let n = i64::try_from(partitions).unwrap_or(i64::MAX);
        self.inner.assigned.store(n, Ordering::Relaxed);
    }

    pub fn set_input_open(&self, open: bool) {
        self.inner.input_open.store(open, Ordering::Relaxed);
    }

    pub fn set_plugin_loaded(&self, loaded: bool) {
        self.inner.plugin_loaded.store(loaded, Ordering::Relaxed);
    }

    pub fn set_broker_reachable(&self, reachable: bool) {
        self.inner
            .broker_reachable
            .store(reachable, Ordering::Relaxed);
    }

    /// A client went fatal (`Some(why)`) or was recreated (`None`).
    pub fn set_fatal(&self, why: Option<String>) {
        *self
            .inner
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = why;
    }

    /// Raise (`Some(why)`) or clear (`None`) the condition `name`: while
    /// raised, `/readyz` is 503 and names `why`. Returns whether it changed.
    pub fn set_condition(&self, name: &'static str, why: Option<String>) -> bool {
        let mut conditions = self
            .inner
            .conditions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match why {
            Some(why) => conditions.insert(name, why.clone()).as_ref() != Some(&why),
            None => conditions.remove(name).is_some(),
        }
    }

    /// The reason of condition `name`, if raised.
    pub fn condition(&self, name: &str) -> Option<String> {
        self.inner
            .conditions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Ask `check` at every readiness question from now on.
    pub fn add_check(&self, check: ReadyCheck) {
        self.inner
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(check);
    }

    /// Liveness now.
    pub fn liveness(&self) -> Result<(), String> {
        self.liveness_at(self.now_ms())
    }

    /// Liveness at `now_ms` (milliseconds from this handle's creation): the
    /// stream, once started, beat within the liveness timeout.
    pub fn liveness_at(&self, now_ms: u64) -> Result<(), String> {
        if !self.inner.started.load(Ordering::Relaxed) {
            return Ok(());
        }
        let last = self.inner.last_beat_ms.load(Ordering::Relaxed);
        let silent = Duration::from_millis(now_ms.saturating_sub(last));
        if silent > self.inner.liveness_timeout {
            return Err(format!(
                "the stream thread is stuck: no heartbeat for {:.1}s (limit {:?}, kafka.liveness-timeout)",
                silent.as_secs_f64(),
                self.inner.liveness_timeout
            ));
        }
        Ok(())
    }

    /// Readiness from the published state (without the store probe): every
    /// reason it is not ready, none when it is.
    pub fn readiness(&self) -> Vec<String> {
        let i = &self.inner;
        let mut reasons = Vec::new();
        if let Err(why) = self.liveness() {
            reasons.push(why);
        }
        match i.source {
            Source::Kafka => {
                let assigned = i.assigned.load(Ordering::Relaxed);
                if assigned <= 0 {
                    reasons.push("no partitions assigned".to_owned());
                }
                if !i.broker_reachable.load(Ordering::Relaxed) {
                    reasons.push("the Kafka broker is not reachable".to_owned());
                }
            }
            Source::File => {
                if !i.input_open.load(Ordering::Relaxed) {
                    reasons.push("the input is not open".to_owned());
                }
            }
        }
        if !i.plugin_loaded.load(Ordering::Relaxed) {
            reasons.push("no plugin loaded".to_owned());
        }
        if let Some(why) = i
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            reasons.push(format!(
                "a Kafka client is fatal and being recreated: {why}"
            ));
        }
        reasons.extend(
            i.conditions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .cloned(),
        );
        let checks = i
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        reasons.extend(checks.iter().filter_map(|check| check()));
        reasons
    }

    /// Where this host's records come from.
    pub fn source(&self) -> Source {
        self.inner.source
    }

    /// Partitions assigned (-1 before the stream looked).
    pub fn assigned(&self) -> i64 {
        self.inner.assigned.load(Ordering::Relaxed)
    }

    /// The claims store probe, if there is one (the caller runs it off the stream).
    pub fn store_probe(&self) -> Option<StoreProbe> {
        self.inner.store.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_kafka() -> Health {
        let h = Health::new(Source::Kafka, Duration::from_secs(30), None);
        h.set_plugin_loaded(true);
        h.set_broker_reachable(true);
        h.set_assigned(3);
        h.beat();
        h
    }

    #[test]
    fn a_stream_without_a_heartbeat_past_the_bound_is_stuck() {
        let h = Health::new(Source::Kafka, Duration::from_secs(30), None);
        assert!(h.liveness_at(10_000_000).is_ok(), "not started: not stuck");
        h.beat();
        let beat = h.inner.last_beat_ms.load(Ordering::Relaxed);
        assert!(h.liveness_at(beat + 29_000).is_ok());
        assert!(h.liveness_at(beat + 30_000).is_ok(), "at the bound: alive");
        let stuck = h.liveness_at(beat + 31_000).expect_err("stuck");
        assert!(stuck.contains("stuck"), "{stuck}");
        assert!(stuck.contains("31.0s"), "{stuck}");
        // A new beat makes it live again.
        h.beat();
        let beat = h.inner.last_beat_ms.load(Ordering::Relaxed);
        assert!(h.liveness_at(beat + 1_000).is_ok());
    }

    #[test]
    fn readiness_names_each_missing_condition() {
        let h = ready_kafka();
        assert_eq!(h.readiness(), Vec::<String>::new());
        h.set_assigned(0);
        h.set_broker_reachable(false);
        h.set_fatal(Some("UnknownProducerId".into()));
        let reasons = h.readiness().join("; ");
        assert!(reasons.contains("no partitions assigned"), "{reasons}");
        assert!(reasons.contains("not reachable"), "{reasons}");
        assert!(reasons.contains("UnknownProducerId"), "{reasons}");
        h.set_assigned(1);
        h.set_broker_reachable(true);
        h.set_fatal(None);
        assert!(h.readiness().is_empty());
        h.set_plugin_loaded(false);
        assert_eq!(h.readiness(), vec!["no plugin loaded".to_owned()]);
    }

    #[test]
    fn a_raised_condition_or_a_failing_check_makes_it_not_ready_and_is_named() {
        let h = ready_kafka();
        assert!(h.set_condition("outputs", Some("outputs not acknowledged for 12s".into())));
        assert!(!h.set_condition("outputs", Some("outputs not acknowledged for 12s".into())));
        assert_eq!(
            h.readiness(),
            vec!["outputs not acknowledged for 12s".to_owned()]
        );
        assert!(h.set_condition("outputs", None));
        assert!(h.readiness().is_empty());
        let broken = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&broken);
        h.add_check(Arc::new(move || {
            flag.load(Ordering::Relaxed)
                .then(|| "the claims changelog cannot be read".to_owned())
        }));
        assert_eq!(
            h.readiness(),
            vec!["the claims changelog cannot be read".to_owned()]
        );
        broken.store(false, Ordering::Relaxed);
        assert!(h.readiness().is_empty());
    }

    #[test]
    fn file_mode_is_ready_while_its_input_is_open() {
        let h = Health::new(Source::File, Duration::from_secs(30), None);
        h.set_plugin_loaded(true);
        assert_eq!(h.readiness(), vec!["the input is not open".to_owned()]);
        h.set_input_open(true);
        assert!(h.readiness().is_empty());
    }
}
