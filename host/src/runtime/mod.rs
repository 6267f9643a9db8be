//! The plugin runtime: everything between a component's bytes and a batch's
//! outputs. It knows nothing of deployments or delivery.
//!
//! - [`engine`](PluginEngine): the wasmtime engine and linker; loading,
//!   checking and pre-instantiating a component;
//! - `compile_cache`: compiled components on disk, keyed by the component
//!   and the engine configuration; `cache_seal`: why an entry may be loaded
//!   (a private folder, an HMAC under this host's key);
//! - `plugin`: a loaded [`Plugin`] and its [`PluginInstance`]s, which run batches;
//! - `world`: which form a component is (raw bytes or typed) and which WIT
//!   package version it was built against, and whether this host runs it;
//! - `sandbox`: the memory cap and CPU deadline of every instance;
//! - `settings`: what every instance gets from the operator;
//! - `imports`: the host side of the world's imports (one file per
//!   interface), and the WASI a plugin is granted (nothing nondeterministic).

mod cache_seal;
mod compile_cache;
mod engine;
mod imports;
mod plugin;
mod sandbox;
mod settings;
mod world;

pub use engine::{DEFAULT_PLUGIN, PluginEngine, RAW_PLUGIN, read_component};
pub use plugin::{Plugin, PluginInstance};
pub use sandbox::SandboxLimits;
pub use settings::PluginSettings;
pub use world::{PACKAGE as WIT_PACKAGE, PluginForm, WitVersion};
