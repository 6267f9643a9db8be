//! Plugin versions on a running host: deploy, check, swap, roll back, and the
//! fleet topic that makes every host in a group follow.
//!
//! Layout:
//! - [`api`]: the operations the admin API offers and the shapes of their answers;
//! - [`check`]: what a new version must pass before it sees a live event;
//! - [`registry`]: known versions, the desired one, history, automatic rollback;
//! - [`operations`]: deploy / list / rollback / status on a registry;
//! - [`fleet`]: the compacted topic hosts share versions through;
//! - [`watch`]: local development: deploy `.wasm` files dropped into a folder.
//!
//! The pipeline swaps versions only at commit boundaries
//! (`Pipeline::at_commit_boundary`), never inside a batch or transaction.

pub mod api;
pub mod check;
pub mod fleet;
pub mod operations;
pub mod registry;
pub mod watch;

pub use api::PluginAdmin;
pub use fleet::{FleetPublisher, FleetWatcher};
pub use registry::PluginRegistry;
pub use watch::DirWatcher;
