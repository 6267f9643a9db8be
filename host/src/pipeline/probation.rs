//! A freshly deployed version on probation in the stream: the previous
//! version kept warm beside it, the counts since it went live, and where in
//! a batch its rate is judged.
//!
//! A batch is run in slices while the version is watched: the first slices
//! end exactly where the version reaches `rollback-min-records`, so the rate
//! is judged inside the batch (not after a whole batch of failures); after
//! that, at the end of each batch, until `rollback-window` records have
//! passed and the version has proven itself (the warm previous is dropped).
//! Pure counting and slicing; running and re-running records is `rerun`'s.

use super::follow::Probation;
use super::policy::{RollbackPolicy, Running};
use crate::runtime::{Plugin, PluginInstance};

/// The running version on probation, and the one to return to.
pub(super) struct OnProbation {
    /// The version a rollback returns to.
    pub previous: Plugin,
    /// Its instance, made before it is needed (`None`: made when it is).
    pub warm: Option<PluginInstance>,
    /// Where the version stands.
    pub judge: Judge,
}

impl OnProbation {
    /// Version `key`, just swapped in, watched under `probation`.
    pub(super) fn new(key: &str, probation: Probation, warm: Option<PluginInstance>) -> Self {
        Self {
            previous: probation.previous,
            warm,
            judge: Judge::new(key, probation.policy),
        }
    }
}

/// The counts of a version on probation, and where its batches are judged.
pub(super) struct Judge {
    policy: RollbackPolicy,
    running: Running,
}

/// What the counts so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Still watched.
    Watching,
    /// Past the window without failing: no longer on probation.
    Proven,
    /// It fails too often: roll back, and why.
    RollBack(String),
}

impl Judge {
    pub(super) fn new(key: &str, policy: RollbackPolicy) -> Self {
        Self {
            policy,
            running: Running::new(key, 0),
        }
    }

    /// How many of the `left` records of a batch the next slice takes: up to
    /// where the version reaches the minimum for a verdict, then the rest.
    pub(super) fn slice_len(&self, left: usize) -> usize {
        let to_min = self
            .policy
            .min_records
            .saturating_sub(self.running.processed);
        match usize::try_from(to_min) {
            Ok(0) | Err(_) => left,
            Ok(n) => left.min(n),
        }
    }

    /// Count a slice of `records`, `plugin_errors` of them failed by the plugin.
    pub(super) fn observe(&mut self, records: u64, plugin_errors: u64) -> Verdict {
        let policy = self.policy;
        if let Some(reason) = policy.observe(&mut self.running, records, plugin_errors, true) {
            return Verdict::RollBack(reason);
        }
        if self.running.processed >= policy.window {
            Verdict::Proven
        } else {
            Verdict::Watching
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slices of one batch of `batch` records and their verdicts, every
    /// record failing or none, until a verdict other than watching.
    fn slices(min_records: u64, window: u64, batch: usize, failing: bool) -> Vec<(usize, Verdict)> {
        let policy = RollbackPolicy {
            error_rate: 0.05,
            window,
            min_records,
        };
        let mut judge = Judge::new("p@2", policy);
        let mut left = batch;
        let mut out = Vec::new();
        while left > 0 {
            let n = judge.slice_len(left);
            let verdict = judge.observe(n as u64, if failing { n as u64 } else { 0 });
            out.push((n, verdict.clone()));
            left -= n;
            if verdict != Verdict::Watching {
                break;
            }
        }
        out
    }

    #[test]
    fn a_failing_version_is_judged_after_min_records_inside_the_batch() {
        let got = slices(100, 10_000, 1_000, true);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 100, "the first slice ends at the minimum");
        assert!(
            matches!(&got[0].1, Verdict::RollBack(why) if why.contains("100 plugin errors in 100")),
            "{got:?}"
        );
    }

    #[test]
    fn a_healthy_version_runs_the_rest_of_the_batch_in_one_slice_and_proves_itself() {
        let got = slices(100, 10_000, 1_000, false);
        assert_eq!(
            got,
            vec![(100, Verdict::Watching), (900, Verdict::Watching)]
        );
        let got = slices(100, 500, 1_000, false);
        assert_eq!(got, vec![(100, Verdict::Watching), (900, Verdict::Proven)]);
    }

    #[test]
    fn small_batches_are_counted_across_batches_up_to_the_minimum() {
        let policy = RollbackPolicy {
            error_rate: 0.05,
            window: 10_000,
            min_records: 100,
        };
        let mut judge = Judge::new("p@2", policy);
        for _ in 0..3 {
            assert_eq!(judge.slice_len(30), 30);
            assert_eq!(judge.observe(30, 30), Verdict::Watching);
        }
        assert_eq!(judge.slice_len(30), 10, "ten more reach the minimum");
        assert!(matches!(judge.observe(10, 10), Verdict::RollBack(_)));
    }
}
