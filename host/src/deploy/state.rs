//! What a host knows about its plugins ([`State`]: the version store, the
//! running version and its counters, swaps, rollbacks, the last notable
//! event), and how the stream's reports change it. Held under the
//! deployer's lock; no I/O here. The stream judges a version on probation
//! itself (it reports [`StreamEvent::RolledBack`]); what follows here is the
//! bookkeeping: which history the rollback activates.

use std::sync::Arc;
use std::time::Duration;

use super::api::{RejectedVersion, VersionInfo};
use super::versions::VersionStore;
use crate::clock::now_ms;
use crate::pipeline::{Running, StreamEvent};
use crate::runtime::{Plugin, WIT_PACKAGE};

/// One version this host has checked and compiled.
pub(super) struct Known {
    pub plugin: Plugin,
    pub sha256: String,
    /// The component, to publish it to the fleet.
    pub bytes: Arc<[u8]>,
    pub loaded_at_ms: i64,
    /// Its detached signature (base64), passed on with it to the fleet.
    pub signature: Option<String>,
    /// The trusted key that signature verified under, if keys are required.
    pub signed_by: Option<String>,
}

/// A rollback the stream made, from `from` back to `to`, and why; `judged`
/// when `from` was the desired version on probation (else the history has
/// moved on and stays).
pub(super) struct StreamRollback {
    pub from: String,
    pub to: String,
    pub judged: bool,
    pub reason: String,
}

/// How many refused versions `plugin status` remembers.
const REJECTED_KEPT: usize = 16;

pub(super) struct State {
    pub store: VersionStore<Known>,
    /// The version the pipeline runs, and how it is doing.
    pub running: Running,
    /// Whether the desired version came from a deploy (watched by the policy
    /// in the stream, which may roll it back).
    pub on_probation: bool,
    pub swaps: u64,
    pub rollbacks: u64,
    pub last_swap_pause: Option<Duration>,
    pub last_event: Option<String>,
    /// The sequence number of the last desired version sent to pipelines.
    pub seq: u64,
    /// The latest refused versions, newest last (at most [`REJECTED_KEPT`]).
    pub rejected: Vec<RejectedVersion>,
}

impl State {
    /// Apply one report of the stream; returns the rollback the stream made,
    /// if it made one, for the deployer to record.
    pub(super) fn on_event(&mut self, event: StreamEvent) -> Option<StreamRollback> {
        match event {
            StreamEvent::Started { key } => {
                if self.running.key != *key {
                    self.running = Running::new(&key, now_ms());
                }
                None
            }
            StreamEvent::Swapped { key, pause } => {
                if self.running.key != *key {
                    tracing::info!(from = %self.running.key, to = &*key, pause_us = pause.as_micros() as u64, "plugin swapped at a commit boundary");
                    self.running = Running::new(&key, now_ms());
                    self.swaps += 1;
                    self.last_swap_pause = Some(pause);
                }
                None
            }
            StreamEvent::Batch {
                key,
                records,
                plugin_errors,
            } => {
                if self.running.key == *key {
                    self.running.count(records, plugin_errors);
                }
                None // a batch of the version before a swap
            }
            StreamEvent::RolledBack {
                from,
                to,
                reason,
                rerun,
            } => {
                self.running = Running::new(&to, now_ms());
                // The history goes back only from the version the stream
                // judged, while it is still the desired one on probation.
                let judged = self.on_probation && self.store.desired_key() == Some(&*from);
                self.on_probation &= !judged;
                Some(StreamRollback {
                    from: from.to_string(),
                    to: to.to_string(),
                    judged,
                    reason: format!("{reason}; {rerun} record(s) it failed re-run through {to}"),
                })
            }
        }
    }

    /// Remember a refused version for `plugin status`.
    pub(super) fn reject(&mut self, rejected: RejectedVersion) {
        if self.rejected.len() >= REJECTED_KEPT {
            self.rejected.remove(0);
        }
        self.rejected.push(rejected);
    }

    /// What the admin API shows of version `key`.
    pub(super) fn version_info(&self, key: &str) -> Option<VersionInfo> {
        let known = self.store.get(key)?;
        let info = known.plugin.info();
        Some(VersionInfo {
            key: key.to_owned(),
            name: info.name.clone(),
            version: info.version.clone(),
            world: format!("{WIT_PACKAGE}@{}", known.plugin.world()),
            sha256: known.sha256.clone(),
            size_bytes: known.bytes.len() as u64,
            loaded_at_ms: known.loaded_at_ms,
            active: self.running.key == key,
            signed_by: known.signed_by.clone(),
        })
    }
}
