//! The plugin sandbox: a memory cap per instance (a `ResourceLimiter`) and a
//! CPU deadline per call (epoch interruption). Time spent in host calls, such
//! as a slow claims lookup, does not count against the plugin: a callback at
//! each epoch tick compares the time spent in WASM with the deadline.
//!
//! A plugin that exceeds either traps; the pipeline then discards the instance
//! and isolates the record that caused it (see `pipeline/mod.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Engine, ResourceLimiter, StoreLimits, StoreLimitsBuilder, UpdateDeadline};

use crate::config::PluginConfig;

/// How often the engine's epoch advances: the granularity of the CPU deadline.
pub const TICK: Duration = Duration::from_millis(10);

/// Limits applied to every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    pub max_memory_bytes: usize,
    pub cpu_deadline: Duration,
}

impl From<&PluginConfig> for SandboxLimits {
    fn from(c: &PluginConfig) -> Self {
        Self {
            max_memory_bytes: c.max_memory_bytes,
            cpu_deadline: c.cpu_deadline,
        }
    }
}

impl Default for SandboxLimits {
    fn default() -> Self {
        (&PluginConfig::default()).into()
    }
}

impl SandboxLimits {
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimitsBuilder::new()
            .memory_size(self.max_memory_bytes)
            .instances(16)
            .tables(64)
            .memories(16)
            .build()
    }
}

/// The memory cap of one instance (wasmtime asks it before each growth). A
/// growth past the cap is refused (`memory.grow` answers -1, as the spec
/// wants); a Rust plugin then aborts with `unreachable`, so the cap keeps a
/// note of the refusal and the trap's message can name the cap instead.
pub(crate) struct MemoryCap {
    max_bytes: usize,
    /// Instances, tables and memories per store.
    limits: StoreLimits,
    /// The size a refused growth asked for, during the current call.
    refused: Option<usize>,
}

impl MemoryCap {
    pub(crate) fn new(limits: &SandboxLimits) -> Self {
        Self {
            max_bytes: limits.max_memory_bytes,
            limits: limits.store_limits(),
            refused: None,
        }
    }

    /// A call begins: refusals of earlier calls are forgotten.
    pub(crate) fn reset(&mut self) {
        self.refused = None;
    }

    /// What to say of a trap in the current call, if a growth past the cap was refused in it.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.refused.map(|wanted| {
            format!(
                "memory cap reached: the plugin asked for {wanted} bytes of linear memory, \
                 over plugin.max-memory-bytes = {}",
                self.max_bytes
            )
        })
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        self.limits.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Advances the engine's epoch every [`TICK`] while any plugin may run.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The CPU clock of one call: wall time since the call began, minus host time.
#[derive(Debug, Clone, Copy)]
pub struct CallClock {
    started: Instant,
    host_time: Duration,
    deadline: Duration,
}

impl CallClock {
    pub fn new(deadline: Duration) -> Self {
        Self {
            started: Instant::now(),
            host_time: Duration::ZERO,
            deadline,
        }
    }

    /// A new call begins.
    pub fn restart(&mut self) {
        self.started = Instant::now();
        self.host_time = Duration::ZERO;
    }

    /// Time spent in a host function, which the plugin is not charged for.
    pub fn add_host_time(&mut self, d: Duration) {
        self.host_time += d;
    }

    fn wasm_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
    }

    /// Ticks until the deadline, for `set_epoch_deadline`.
    pub fn ticks_left(&self) -> u64 {
        let left = self.deadline.saturating_sub(self.wasm_time());
        (left.as_millis() / TICK.as_millis()).max(1) as u64
    }

    /// What the epoch callback answers: go on, or stop the plugin.
    pub fn on_tick(&self) -> UpdateDeadline {
        if self.wasm_time() >= self.deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Continue(self.ticks_left())
        }
    }
}
