//! The WASI p2 a plugin gets. A `wasm32-wasip2` guest built with std imports
//! WASI interfaces even when it never uses them, so they are linked; but the
//! world promises a plugin no clock beyond its batch context and a
//! deterministic run, so this context grants nothing that would break that:
//!
//! - no preopened files, no environment variables, no arguments, no stdin;
//!   stdout and stderr go nowhere;
//! - no network (no address is allowed; name lookups refused);
//! - both clocks read a fixed instant (the Unix epoch; monotonic 0) and
//!   never move;
//! - `random` and `insecure-random` are a fixed-seed stream: the same bytes
//!   in every instance, every run.
//!
//! `tests/tests/sandbox.rs` checks each point from inside a real plugin.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::Linker;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::HostState;

/// The seed of a plugin's `random` streams (a plugin must not rely on them being secret).
const RANDOM_SEED: u64 = 0;

/// A clock stopped at its zero.
struct StoppedClock;

impl HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A WASI context that grants nothing and answers the same every time.
pub(super) fn deterministic_ctx() -> WasiCtx {
    WasiCtx::builder()
        .wall_clock(StoppedClock)
        .monotonic_clock(StoppedClock)
        .secure_random(StdRng::seed_from_u64(RANDOM_SEED))
        .insecure_random(StdRng::seed_from_u64(RANDOM_SEED))
        .insecure_random_seed(u128::from(RANDOM_SEED))
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .build()
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
