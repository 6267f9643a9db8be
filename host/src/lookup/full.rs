//! The full cache (Flink's `lookup.cache = FULL`): the whole claims table in
//! memory, reloaded in the background every `full-reload-interval`. Lookups
//! never touch the store; a failed reload keeps serving the last good copy.
//!
//! Changes applied while running (the claims changelog) update the table in
//! place under its write lock, so a lookup sees a row before or after a
//! change, never between. A reload that read the table before a change and
//! finishes after it replays the changes made meanwhile onto what it read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
    stop: Mutex<bool>,
    wake: Condvar,
}

impl FullCache {
    /// Load the table now (an error here fails start-up), then reload every `interval`.
    pub fn start(fetcher: Arc<Fetcher>, interval: Duration) -> Result<Self, FetchError> {
        let first = load(&fetcher)?;
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(first)),
            during_reload: Mutex::new(None),
            fetcher,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let background = Arc::clone(&shared);
        let reloader = std::thread::Builder::new()
            .name("claims-full-reload".into())
            .spawn(move || reload_loop(&background, interval))
            .ok();
        Ok(Self { shared, reloader })
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
        let started = Instant::now();
        *lock(&shared.during_reload) = Some(Vec::new());
        let loaded = load(&shared.fetcher);
        match loaded {
            Ok(mut fresh) => {
                let rows = fresh.len();
                if let Ok(mut current) = shared.snapshot.write() {
                    // Under the write lock no change can slip between replay and swap.
                    let meanwhile = lock(&shared.during_reload).take().unwrap_or_default();
                    update(&mut fresh, &meanwhile);
                    *current = Arc::new(fresh);
                }
                shared.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    rows,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "claims table reloaded"
                );
            }
            Err(e) => {
                lock(&shared.during_reload).take();
                shared.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = ?e, "claims table reload failed; serving the previous copy");
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
