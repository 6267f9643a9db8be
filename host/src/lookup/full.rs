//! The full cache (Flink's `lookup.cache = FULL`): the whole claims table in
//! memory, reloaded in the background every `full-reload-interval`. Lookups
//! never touch the store; a failed reload keeps serving the last good copy.
//!
//! Changes applied while running (the claims changelog) update the table in
//! place under its write lock, so a lookup sees a row before or after a
//! change, never between. A reload that read the table before a change and
//! finishes after it replays the changes made meanwhile onto what it read.
//!
//! The first load runs either before the stream starts ([`FullCache::start`])
//! or in the background ([`FullCache::start_background`], cache mode `auto`
//! on a large table): until it is [`FullCache::is_ready`], the lookup serves
//! from its partial cache; changes applied meanwhile are replayed onto the
//! loaded table like those of a reload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fetch::{FetchError, Fetcher};
use super::{ClaimChange, ClaimRow};

/// How long one full load may take before it counts as failed.
pub const FULL_LOAD_BUDGET: Duration = Duration::from_secs(600);

pub type Snapshot = HashMap<String, Arc<ClaimRow>>;

/// The table in memory, swapped whole on reload.
pub struct FullCache {
    shared: Arc<Shared>,
    reloader: Option<JoinHandle<()>>,
}

struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Changes applied while a reload runs (`Some` only then), replayed onto its result.
    during_reload: Mutex<Option<Vec<ClaimChange>>>,
    fetcher: Arc<Fetcher>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// A load has succeeded: the table is whole.
    ready: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl FullCache {
    /// Load the table now (an error here fails start-up), then reload every `interval`.
    pub fn start(fetcher: Arc<Fetcher>, interval: Duration) -> Result<Self, FetchError> {
        let first = load(&fetcher)?;
        let shared = Shared::new(first, fetcher, None, true);
        Ok(Self::spawn(shared, interval, false))
    }

    /// Start empty and load the table on the reload thread (then reload
    /// every `interval`); [`Self::is_ready`] once loaded. A failed first load
    /// is logged and tried again at the next reload.
    pub fn start_background(fetcher: Arc<Fetcher>, interval: Duration) -> Self {
        // Changes applied before the load is swapped in are logged from now.
        let shared = Shared::new(Snapshot::new(), fetcher, Some(Vec::new()), false);
        Self::spawn(shared, interval, true)
    }

    fn spawn(shared: Shared, interval: Duration, load_first: bool) -> Self {
        let shared = Arc::new(shared);
        let background = Arc::clone(&shared);
        let reloader = std::thread::Builder::new()
            .name("claims-full-reload".into())
            .spawn(move || {
                if load_first {
                    reload(&background, true);
                }
                reload_loop(&background, interval)
            })
            .ok();
        Self { shared, reloader }
    }

    /// Whether the whole table is in memory (always, after [`Self::start`]).
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// Read the table (under its read lock: a change waits until `read` returns).
    pub fn read<T>(&self, read: impl FnOnce(&Snapshot) -> T) -> T {
        match self.shared.snapshot.read() {
            Ok(s) => read(&s),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    /// Apply committed changes to the table in place.
    pub fn apply(&self, changes: &[ClaimChange]) {
        let mut current = match self.shared.snapshot.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Lookups read under the lock and keep no copy: no clone here.
        update(Arc::make_mut(&mut current), changes);
        let mut log = lock(&self.shared.during_reload);
        if let Some(log) = log.as_mut() {
            log.extend_from_slice(changes);
        }
    }

    /// (successful reloads, failed reloads) since start.
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.shared.reloads.load(Ordering::Relaxed),
            self.shared.reload_failures.load(Ordering::Relaxed),
        )
    }
}

impl Shared {
    fn new(
        first: Snapshot,
        fetcher: Arc<Fetcher>,
        during_reload: Option<Vec<ClaimChange>>,
        ready: bool,
    ) -> Self {
        Shared {
            snapshot: RwLock::new(Arc::new(first)),
            during_reload: Mutex::new(during_reload),
            fetcher,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            ready: AtomicBool::new(ready),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }
}

fn load(fetcher: &Fetcher) -> Result<Snapshot, FetchError> {
    let rows = fetcher.fetch_all(FULL_LOAD_BUDGET)?;
    Ok(rows
        .into_iter()
        .map(|(id, row)| (id, Arc::new(row)))
        .collect())
}

fn update(table: &mut Snapshot, changes: &[ClaimChange]) {
    for change in changes {
        match &change.row {
            Some(row) => {
                table.insert(change.claim_id.clone(), Arc::new(row.clone()));
            }
            None => {
                table.remove(&change.claim_id);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn reload_loop(shared: &Shared, interval: Duration) {
    loop {
        let until = Instant::now() + interval;
        let Ok(mut stop) = shared.stop.lock() else {
            return;
        };
        while !*stop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stop = match shared.wake.wait_timeout(stop, left) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
        if *stop {
            return;
        }
        drop(stop);
        reload(shared, false);
    }
}

/// Load the table, replay the changes applied meanwhile, swap it in. `first`:
/// the background start's first load (not counted as a reload).
fn reload(shared: &Shared, first: bool) {
    let started = Instant::now();
    lock(&shared.during_reload).get_or_insert_with(Vec::new);
    match load(&shared.fetcher) {
        Ok(mut fresh) => {
            let rows = fresh.len();
            if let Ok(mut current) = shared.snapshot.write() {
                // Under the write lock no change can slip between replay and swap.
                let meanwhile = lock(&shared.during_reload).take().unwrap_or_default();
                update(&mut fresh, &meanwhile);
                *current = Arc::new(fresh);
            }
            let was_ready = shared.ready.swap(true, Ordering::AcqRel);
            if !first {
                shared.reloads.fetch_add(1, Ordering::Relaxed);
            }
            let elapsed_ms = started.elapsed().as_millis() as u64;
            if was_ready {
                tracing::info!(rows, elapsed_ms, "claims table reloaded");
            } else {
                tracing::info!(
                    rows,
                    elapsed_ms,
                    "claims table loaded in the background; lookups serve from it now"
                );
            }
        }
        Err(e) => {
            lock(&shared.during_reload).take();
            shared.reload_failures.fetch_add(1, Ordering::Relaxed);
            if shared.ready.load(Ordering::Acquire) {
                tracing::warn!(error = ?e, "claims table reload failed; serving the previous copy");
            } else {
                tracing::warn!(error = ?e, "claims table load failed; lookups stay on the partial cache until a reload succeeds");
            }
        }
    }
}

impl Drop for FullCache {
    fn drop(&mut self) {
        if let Ok(mut stop) = self.shared.stop.lock() {
            *stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(reloader) = self.reloader.take() {
            let _ = reloader.join();
        }
    }
}
