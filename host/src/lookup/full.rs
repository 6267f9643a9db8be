//! The full cache (Flink's `lookup.cache = FULL`): the whole claims table in
//! memory, reloaded in the background every `full-reload-interval`. Lookups
//! never touch the store; a failed reload keeps serving the last good copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ClaimRow;
use super::fetch::{FetchError, Fetcher};

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

    /// The current copy of the table.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.shared.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
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
        match load(&shared.fetcher) {
            Ok(fresh) => {
                let rows = fresh.len();
                if let Ok(mut current) = shared.snapshot.write() {
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
