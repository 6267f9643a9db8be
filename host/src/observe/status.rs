//! The one-line status a Kafka-mode run logs every `observe.status-interval`:
//! records in (total, and the rate since the last line), consumer lag,
//! records routed to `failed` since the last line by reason, and the claims
//! changelog's lag when one is applied, and members of the consumer group
//! that are not enricher hosts when there are any (lag "unknown" while the
//! broker does not answer):
//!
//! ```text
//! status: 120000 in (+12000, 400/s), lag 35 record(s), failed +3 (CLAIM_NOT_FOUND 2, PLUGIN_TRAP 1), changelog lag 0 record(s) (0.0 s)
//! ```
//!
//! A thread of its own reads the [`StreamMeter`]'s atomics; the stream thread
//! does nothing for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::StreamMeter;

/// The changelog's lag `(records, seconds)` when one is applied, or why it
/// is unknown (the topic cannot be read).
pub type ChangelogLag = Box<dyn Fn() -> Option<Result<(u64, f64), String>> + Send>;

/// What the last line said, to report the change since.
pub struct StatusLine {
    meter: Arc<StreamMeter>,
    at: Instant,
    records_in: u64,
    failed: BTreeMap<String, u64>,
}

impl StatusLine {
    pub fn new(meter: Arc<StreamMeter>) -> Self {
        let mut line = Self {
            at: Instant::now(),
            records_in: 0,
            failed: BTreeMap::new(),
            meter,
        };
        line.records_in = line
            .meter
            .records_in
            .load(std::sync::atomic::Ordering::Relaxed);
        line.failed = line.failed_now();
        line
    }

    fn failed_now(&self) -> BTreeMap<String, u64> {
        self.meter
            .records_out()
            .into_iter()
            .filter(|(output, _, _)| *output == "failed")
            .map(|(_, status, n)| (status, n))
            .collect()
    }

    /// The next line: changes since the previous one (or since [`StatusLine::new`]).
    pub fn next(&mut self, changelog: Option<Result<(u64, f64), String>>) -> String {
        let now = Instant::now();
        let records_in = self
            .meter
            .records_in
            .load(std::sync::atomic::Ordering::Relaxed);
        let added = records_in.saturating_sub(self.records_in);
        let rate = added as f64 / (now - self.at).as_secs_f64().max(1e-9);
        let failed = self.failed_now();
        let mut reasons = Vec::new();
        let mut failed_added = 0;
        for (status, n) in &failed {
            let delta = n.saturating_sub(self.failed.get(status).copied().unwrap_or(0));
            if delta > 0 {
                failed_added += delta;
                reasons.push(format!("{status} {delta}"));
            }
        }
        let lag = self.meter.lag();
        let lag = if lag.is_empty() {
            "lag unknown".to_owned()
        } else {
            let total: i64 = lag.iter().map(|(_, _, n)| (*n).max(0)).sum();
            format!("lag {total} record(s)")
        };
        let mut line = format!(
            "status: {records_in} in (+{added}, {rate:.0}/s), {lag}, failed +{failed_added}"
        );
        if !reasons.is_empty() {
            line.push_str(&format!(" ({})", reasons.join(", ")));
        }
        match changelog {
            Some(Ok((records, seconds))) => line.push_str(&format!(
                ", changelog lag {records} record(s) ({seconds:.1} s)"
            )),
            Some(Err(why)) => line.push_str(&format!(", changelog lag unknown ({why})")),
            None => {}
        }
        if let Some(note) = self.meter.group_note() {
            line.push_str(&format!(", {note}"));
        }
        (self.at, self.records_in, self.failed) = (now, records_in, failed);
        line
    }
}

/// Logs a [`StatusLine`] every interval (at info level, target
/// `enricher::status`) until dropped.
pub struct StatusLog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StatusLog {
    pub fn start(meter: Arc<StreamMeter>, every: Duration, changelog: ChangelogLag) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("status-line".into())
            .spawn(move || {
                let mut line = StatusLine::new(meter);
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let text = line.next(changelog());
                    tracing::info!(target: "enricher::status", "{text}");
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for StatusLog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_line_reports_the_changes_since_the_last_one() {
        let meter = Arc::new(StreamMeter::default());
        meter.records_in.fetch_add(10, Ordering::Relaxed);
        meter.count_out(false, "CLAIM_NOT_FOUND", 1);
        let mut line = StatusLine::new(Arc::clone(&meter));
        meter.records_in.fetch_add(5, Ordering::Relaxed);
        meter.count_out(true, "SUCCESS", 2);
        meter.count_out(false, "CLAIM_NOT_FOUND", 2);
        meter.count_out(false, "PLUGIN_TRAP", 1);
        meter.set_lag(vec![("in".into(), 0, 7), ("in".into(), 1, 3)]);
        let text = line.next(Some(Ok((4, 1.5))));
        assert!(text.starts_with("status: 15 in (+5, "), "{text}");
        assert!(text.contains("lag 10 record(s)"), "{text}");
        assert!(
            text.contains("failed +3 (CLAIM_NOT_FOUND 2, PLUGIN_TRAP 1)"),
            "{text}"
        );
        assert!(
            text.ends_with("changelog lag 4 record(s) (1.5 s)"),
            "{text}"
        );
        let text = line.next(None);
        assert!(text.starts_with("status: 15 in (+0, 0/s)"), "{text}");
        assert!(text.contains("failed +0"), "{text}");
        assert!(!text.contains("changelog"), "{text}");
        meter.set_lag(Vec::new());
        meter.set_group_note(Some(
            "group payment-enricher: 1 member not an enricher host (audit-1)".into(),
        ));
        let text = line.next(Some(Err("cannot read claims-changelog".into())));
        assert!(text.contains("lag unknown"), "{text}");
        assert!(
            text.contains("changelog lag unknown (cannot read claims-changelog)"),
            "{text}"
        );
        assert!(text.ends_with("not an enricher host (audit-1)"), "{text}");
    }
}
