//! The version store: every plugin version a host knows, by `name@version`,
//! and the activation history whose last entry is the version that should
//! run. Pure bookkeeping (no wasm, no Kafka, no clock), generic over what is
//! kept per version, so it is tested with plain values.
//!
//! A version is immutable: once known, its key keeps its bytes. The history
//! holds each key once, newest last, at most [`HISTORY_LEN`] long.

use std::collections::BTreeMap;

/// How many activations a rollback can walk back through.
pub(crate) const HISTORY_LEN: usize = 16;

/// What [`VersionStore::activate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activated {
    /// The history was already this one.
    Unchanged,
    /// Another history is in place; `forward` when it adds a version (a
    /// deploy) rather than walking back (a rollback).
    Changed { forward: bool },
}

/// Why a history cannot be activated or walked back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HistoryError {
    #[error("empty activation history")]
    Empty,
    #[error("{0} is not known to this host")]
    Unknown(String),
    #[error("nothing to roll back to: {0} is the only version activated")]
    NothingBefore(String),
}

/// Known versions (`V` per version) and the activation history.
#[derive(Debug, Clone)]
pub(crate) struct VersionStore<V> {
    versions: BTreeMap<String, V>,
    /// Activations, oldest first; the last is the desired version.
    history: Vec<String>,
}

impl<V> VersionStore<V> {
    /// A store whose first (and desired) version is `key`.
    pub(crate) fn new(key: String, first: V) -> Self {
        let mut versions = BTreeMap::new();
        versions.insert(key.clone(), first);
        Self {
            versions,
            history: vec![key],
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.versions.get(key)
    }

    /// For what is kept beside a version's bytes (its signature); the bytes stay.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.versions.get_mut(key)
    }

    pub(crate) fn knows(&self, key: &str) -> bool {
        self.versions.contains_key(key)
    }

    /// Remember `key` unless it is known already (versions are immutable).
    pub(crate) fn learn(&mut self, key: String, version: impl FnOnce() -> V) {
        self.versions.entry(key).or_insert_with(version);
    }

    /// Every known version, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.versions.iter()
    }

    /// The key of the version that should run.
    pub(crate) fn desired_key(&self) -> Option<&str> {
        self.history.last().map(String::as_str)
    }

    /// The version that should run (always known: only known keys are activated).
    pub(crate) fn desired(&self) -> Option<&V> {
        self.versions.get(self.desired_key()?)
    }

    /// What a rollback would return to.
    pub(crate) fn previous(&self) -> Option<&str> {
        let n = self.history.len();
        n.checked_sub(2)
            .and_then(|i| self.history.get(i))
            .map(String::as_str)
    }

    /// Make `history` (its last entry the version to run) the desired state.
    pub(crate) fn activate(&mut self, history: Vec<String>) -> Result<Activated, HistoryError> {
        let key = history.last().ok_or(HistoryError::Empty)?;
        if !self.versions.contains_key(key) {
            return Err(HistoryError::Unknown(key.clone()));
        }
        if self.history == history {
            return Ok(Activated::Unchanged);
        }
        let forward = !self.history.contains(key) || history.len() > self.history.len();
        self.history = history;
        Ok(Activated::Changed { forward })
    }

    /// The activations kept, oldest first (the last one runs).
    #[cfg(test)]
    pub(crate) fn history(&self) -> &[String] {
        &self.history
    }

    /// The history after one step back, or why there is none.
    pub(crate) fn history_after_rollback(&self) -> Result<Vec<String>, HistoryError> {
        let mut history = self.history.clone();
        let current = history.pop().unwrap_or_default();
        match history.last() {
            Some(_) => Ok(history),
            None => Err(HistoryError::NothingBefore(current)),
        }
    }

    /// The history after returning to `key`: cut after it when it is in the
    /// history, else with it on top.
    pub(crate) fn history_back_to(&self, key: &str) -> Vec<String> {
        match self.history.iter().position(|k| k == key) {
            Some(at) => self.history[..=at].to_vec(),
            None => self.history_with(key),
        }
    }

    /// The history after activating `key`: it goes on top (moved if it was there already).
    pub(crate) fn history_with(&self, key: &str) -> Vec<String> {
        let mut history = self.history.clone();
        history.retain(|k| k != key);
        history.push(key.to_owned());
        let excess = history.len().saturating_sub(HISTORY_LEN);
        history.drain(..excess);
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> VersionStore<&'static str> {
        let mut s = VersionStore::new("p@1".into(), "bytes-1");
        s.learn("p@2".into(), || "bytes-2");
        s
    }

    #[test]
    fn a_deploy_goes_on_top_and_a_rollback_walks_back() {
        let mut s = store();
        assert_eq!(s.desired_key(), Some("p@1"));
        let h = s.history_with("p@2");
        assert_eq!(s.activate(h), Ok(Activated::Changed { forward: true }));
        assert_eq!((s.desired(), s.previous()), (Some(&"bytes-2"), Some("p@1")));
        let back = s.history_after_rollback().expect("one step back");
        assert_eq!(s.activate(back), Ok(Activated::Changed { forward: false }));
        assert_eq!(s.desired_key(), Some("p@1"));
        assert_eq!(
            s.history_after_rollback(),
            Err(HistoryError::NothingBefore("p@1".into()))
        );
    }

    #[test]
    fn versions_are_immutable_and_unknown_ones_never_activate() {
        let mut s = store();
        s.learn("p@2".into(), || "other bytes");
        assert_eq!(s.get("p@2"), Some(&"bytes-2"));
        assert_eq!(
            s.activate(vec!["p@9".into()]),
            Err(HistoryError::Unknown("p@9".into()))
        );
        assert_eq!(s.activate(Vec::new()), Err(HistoryError::Empty));
        assert_eq!(s.activate(vec!["p@1".into()]), Ok(Activated::Unchanged));
    }

    #[test]
    fn returning_to_a_version_cuts_the_history_after_it_or_puts_it_on_top() {
        let mut s = store();
        s.learn("p@3".into(), || "bytes-3");
        for key in ["p@2", "p@3"] {
            let h = s.history_with(key);
            s.activate(h).expect("known");
        }
        assert_eq!(s.history_back_to("p@1"), ["p@1"]);
        assert_eq!(s.history_back_to("p@2"), ["p@1", "p@2"]);
        let back = s.history_back_to("p@1");
        s.activate(back).expect("known");
        assert_eq!(
            s.history_back_to("p@3"),
            ["p@1", "p@3"],
            "not in it: on top"
        );
    }

    #[test]
    fn the_history_keeps_each_key_once_and_is_bounded() {
        let mut s = store();
        for i in 0..40 {
            let key = format!("p@{}", i % 20 + 3);
            s.learn(key.clone(), || "b");
            let h = s.history_with(&key);
            s.activate(h).expect("known");
        }
        let h = s.history();
        assert_eq!(h.len(), HISTORY_LEN);
        let mut unique = h.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), h.len(), "{h:?}");
        assert_eq!(s.desired_key(), Some("p@22"));
    }
}
