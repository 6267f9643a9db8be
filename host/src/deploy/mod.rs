//! Plugin versions on a running host: deploy, check, swap, roll back, and the
//! fleet that makes every host in a group follow. All of it runs off the
//! stream's thread; pipelines only follow a [`PluginFeed`](crate::pipeline::PluginFeed).
//!
//! Layout:
//! - `api`: the operations the admin API offers ([`PluginAdmin`]) and the shapes of their answers;
//! - `check`: what a new version must pass before it sees a live event;
//! - `fixed`: the [`PluginAdmin`] of a file-mode run (one plugin, deploys refused);
//! - `names`: which plugin names and versions are safe, and escaping for printing;
//! - `signature`: signed plugins: keys, signing, the trusted keys that verify;
//! - `versions`: the version store (known versions, activation history), pure;
//! - `fleet`: where deployments go besides this host ([`Fleet`]; [`LocalOnly`]);
//! - `fleet_kafka`: the fleet as a compacted Kafka topic (publisher and watcher);
//! - `fleet_keeper`: that topic recreated when it vanished (a broker restarted without its data);
//! - `fleet_record`: a component on that topic: gzip-compressed, old raw records still read;
//! - `state`: what a host knows of its plugins, and how the stream's reports change it;
//! - `deployer`: [`Deployer`], which ties them together, feeds pipelines and reads their reports;
//! - `operations`: deploy / list / rollback / status for the admin API;
//! - `watch_dir`: local development: deploy `.wasm` files dropped into a folder.
//!
//! The admin HTTP API over [`PluginAdmin`] is its own module, [`crate::admin`].
//!
//! Pipelines swap versions only at commit boundaries
//! (`Pipeline::at_commit_boundary`), never inside a batch or transaction.
//! The one exception is the automatic rollback: the rollback policy
//! (`crate::pipeline::RollbackPolicy`) is judged in the stream, which goes
//! back to the previous version inside the batch and re-runs the records the
//! bad one failed; `state` and `deployer` then make it the history.

mod api;
mod check;
mod deployer;
mod fixed;
mod fleet;
mod fleet_kafka;
mod fleet_keeper;
mod fleet_record;
mod names;
mod operations;
pub mod signature;
mod state;
mod versions;
mod watch_dir;

pub use api::{
    AdminError, DeployReport, PluginAdmin, PluginStatus, RejectedVersion, RollbackReport,
    VersionInfo,
};
pub use check::{Candidate, canaries_from_file, default_canaries, load_candidate, sha256_hex};
pub use deployer::Deployer;
pub use fixed::FixedPlugin;
pub use fleet::{Fleet, LocalOnly};
pub use fleet_kafka::{FleetPublisher, FleetWatcher};
pub use names::{check_key, check_name, check_version, printable};
pub use watch_dir::DirWatcher;

/// The largest component a host takes, from the admin API or the fleet topic (64 MiB).
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;
