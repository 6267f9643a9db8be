//! How a pipeline learns which plugin to run, and tells what it did, without
//! knowing who decides: it reads a watch channel of the desired plugin (a
//! sequence number and an `Arc`'d plugin) at commit boundaries, and sends a
//! [`StreamEvent`] per batch and per swap on a channel that never blocks.
//! Whoever holds the other ends (version management, in `deploy/`) runs on
//! its own threads.
//!
//! A desired version that comes from a deploy carries its [`Probation`]: the
//! version to return to and the policy. The stream judges it per batch (see
//! `probation`) and, when it fails, runs the previous version at once and
//! reports [`StreamEvent::RolledBack`]; the history and the fleet are the
//! deciding side's to change.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use tokio::sync::watch;

use super::policy::RollbackPolicy;
use crate::runtime::Plugin;

/// The plugin that should run, and a number that changes with every decision.
#[derive(Clone)]
pub struct Desired {
    pub seq: u64,
    pub plugin: Plugin,
    /// Set when `plugin` comes from a deploy with a version to return to.
    pub probation: Option<Probation>,
}

/// How a freshly deployed version is watched, and what it falls back to.
#[derive(Clone)]
pub struct Probation {
    /// The version a rollback returns to (kept warm while the new one is watched).
    pub previous: Plugin,
    pub policy: RollbackPolicy,
}

/// What the stream reports (the receiver counts, checks and may roll back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A pipeline began running `key` (not a swap).
    Started { key: Arc<str> },
    /// The pipeline swapped to `key` at a commit boundary; the swap held the stream for `pause`.
    Swapped { key: Arc<str>, pause: Duration },
    /// `key` processed a batch of `records`, `plugin_errors` of them failed by the plugin itself.
    Batch {
        key: Arc<str>,
        records: u64,
        plugin_errors: u64,
    },
    /// `from` failed its probation (`reason`): the stream went back to `to`
    /// at once, and ran `rerun` records that had failed under `from`, not yet
    /// committed, through `to` instead.
    RolledBack {
        from: Arc<str>,
        to: Arc<str>,
        reason: String,
        rerun: u64,
    },
}

/// The pipeline's ends: read the desired plugin, report events.
pub struct PluginFeed {
    pub(super) desired: watch::Receiver<Desired>,
    pub(super) events: Sender<StreamEvent>,
}

/// The deciding side's ends.
pub struct FeedControl {
    /// Send a new [`Desired`] (its `seq` bumped) to switch every following pipeline.
    pub desired: watch::Sender<Desired>,
    /// What the pipelines report, in order.
    pub events: Receiver<StreamEvent>,
    /// Hand this to more pipelines ([`FeedControl::feed`]).
    events_tx: Sender<StreamEvent>,
}

impl FeedControl {
    /// Channels whose first desired plugin is `initial`.
    pub fn new(initial: Plugin) -> Self {
        let (desired, _) = watch::channel(Desired {
            seq: 0,
            plugin: initial,
            probation: None,
        });
        let (events_tx, events) = channel();
        Self {
            desired,
            events,
            events_tx,
        }
    }

    /// The ends a pipeline follows.
    pub fn feed(&self) -> PluginFeed {
        PluginFeed {
            desired: self.desired.subscribe(),
            events: self.events_tx.clone(),
        }
    }
}

impl PluginFeed {
    /// Report, never blocking; nobody listening is fine.
    pub(super) fn report(&self, event: StreamEvent) {
        let _ = self.events.send(event);
    }
}
