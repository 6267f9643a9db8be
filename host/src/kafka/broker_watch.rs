//! Whether the stream consumer can reach its brokers, from librdkafka's own
//! view: its statistics (every second: each broker's state and how long since
//! it last received a byte) and its global errors (`AllBrokersDown`). Logs
//! each change at warn level (unreachable, reachable again, stalled) and
//! publishes reachability to the [`Health`], and a broker connected but
//! silent past `kafka.delivery-timeout` (a frozen broker) as a readiness
//! condition. It also knows since when the broker answers again (the
//! producer's recovery waits for that, not for a fixed time) and whether the
//! consumer is waiting for its group (a stall then names the group, not the
//! broker). Fed on the stream thread (the
//! consumer's poll serves both callbacks), and asked by the commit-side retry
//! loops while they wait ([`BrokerWatch::check_waiting`]); reading it never blocks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::health::Health;

/// The part of librdkafka's statistics JSON read here.
#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    brokers: HashMap<String, BrokerStats>,
}

#[derive(Deserialize)]
struct BrokerStats {
    /// -1 for a bootstrap address whose broker id is not known yet.
    nodeid: i32,
    state: String,
    /// Microseconds since the last byte received (-1: never).
    rxidle: i64,
}

/// What a statistics sample says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    /// Some broker is connected and has sent something within the returned time.
    Up {
        silent: Duration,
    },
    Down,
}

/// Read one statistics JSON document; `None` if it is not one.
pub(crate) fn sample(json: &[u8]) -> Option<Sample> {
    let stats: Stats = serde_json::from_slice(json).ok()?;
    let up = stats
        .brokers
        .values()
        .filter(|b| b.state == "UP" && (b.nodeid >= 0 || stats.brokers.len() == 1));
    let silent = up
        .map(|b| Duration::from_micros(u64::try_from(b.rxidle).unwrap_or(0)))
        .min();
    Some(match silent {
        Some(silent) => Sample::Up { silent },
        None => Sample::Down,
    })
}

struct State {
    /// Since when no broker is reachable (None: reachable).
    down_since: Option<Instant>,
    /// Why, as librdkafka last said.
    why: String,
    /// When the last stall warning was logged (one per `stall` period).
    warned_at: Option<Instant>,
    /// Since when the broker answers (reachable and heard from within
    /// [`ANSWER_WINDOW`]), as of the last statistics.
    answering_since: Option<Instant>,
}

/// A broker heard from within this is answering (statistics come every second;
/// a consumer's fetch comes back within `fetch.wait.max.ms`, 20 ms). Short, so
/// that a frozen broker stops counting as answering within about two seconds,
/// before outputs waiting on it could be taken for a stuck producer.
pub(crate) const ANSWER_WINDOW: Duration = Duration::from_millis(1500);

/// How long the broker must answer again before a producer whose outputs
/// wait unacknowledged is given up on: a producer that works delivers within this.
const RECOVERY_GRACE: Duration = Duration::from_secs(3);

/// The readiness condition of a silent broker.
const SILENT: &str = "broker-silent";

/// Broker reachability of one client, logged and published.
pub(crate) struct BrokerWatch {
    servers: String,
    stall: Duration,
    health: Health,
    state: Mutex<State>,
    /// Transitions to unreachable so far.
    outages: AtomicU64,
    /// Milliseconds without a byte from the broker, at the last statistics.
    silent_ms: AtomicU64,
    /// Silent this long: not ready (`kafka.delivery-timeout`).
    silence_limit: Duration,
    /// The consumer holds no partitions and waits for its group.
    waiting_for_group: AtomicBool,
    /// The consumer group, named when the wait is for it.
    group: String,
}

impl BrokerWatch {
    pub(crate) fn new(servers: &str, stall: Duration, health: Health) -> Self {
        Self {
            servers: servers.to_owned(),
            stall,
            health,
            state: Mutex::new(State {
                down_since: None,
                why: String::new(),
                warned_at: None,
                answering_since: None,
            }),
            outages: AtomicU64::new(0),
            silent_ms: AtomicU64::new(0),
            silence_limit: Duration::MAX,
            waiting_for_group: AtomicBool::new(false),
            group: String::new(),
        }
    }

    /// A broker silent for `limit` makes the host not ready; stalls while
    /// waiting for `group` name the group.
    pub(crate) fn with_limits(mut self, limit: Duration, group: &str) -> Self {
        self.silence_limit = limit;
        self.group = group.to_owned();
        self
    }

    /// The consumer holds no partitions (`true`) or holds some again.
    pub(crate) fn set_waiting_for_group(&self, waiting: bool) {
        self.waiting_for_group.store(waiting, Ordering::Relaxed);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// librdkafka says no broker can be reached.
    pub(crate) fn saw_down(&self, why: &str) {
        let mut s = self.state();
        s.why = why.to_owned();
        s.answering_since = None;
        if s.down_since.is_none() {
            s.down_since = Some(Instant::now());
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                servers = %self.servers,
                "Kafka broker(s) at {} unreachable: {why}; the stream waits and retries",
                self.servers
            );
            self.health.set_broker_reachable(false);
        }
    }

    /// A statistics document arrived.
    pub(crate) fn saw_stats(&self, json: &[u8]) {
        match sample(json) {
            Some(Sample::Up { silent }) => {
                let ms = u64::try_from(silent.as_millis()).unwrap_or(u64::MAX);
                self.silent_ms.store(ms, Ordering::Relaxed);
                self.up(silent);
                let waiting = self.waiting_for_group.load(Ordering::Relaxed);
                if silent > self.stall && waiting {
                    // A join the coordinator holds (it waits for members that
                    // left without a word to rejoin or time out): not the broker's fault.
                    self.maybe_warn(&format!(
                        "waiting to join consumer group {} for {:.0}s: the coordinator at {} \
                         holds the join until every member it knows rejoins or its session \
                         (session.timeout.ms) expires",
                        self.group,
                        silent.as_secs_f64(),
                        self.servers
                    ));
                } else if silent > self.stall {
                    self.maybe_warn_stall(&format!(
                        "connected, but nothing received from the broker for {:.0}s",
                        silent.as_secs_f64()
                    ));
                }
                let frozen = (silent > self.silence_limit && !waiting).then(|| {
                    format!(
                        "the Kafka broker at {} has not answered for {:.0}s \
                         (kafka.delivery-timeout {:?}): the lag is unknown",
                        self.servers,
                        silent.as_secs_f64(),
                        self.silence_limit
                    )
                });
                self.health.set_condition(SILENT, frozen);
            }
            Some(Sample::Down) => self.saw_down("no broker connection is up"),
            None => {}
        }
    }

    fn up(&self, silent: Duration) {
        let mut s = self.state();
        if silent < ANSWER_WINDOW {
            s.answering_since.get_or_insert_with(Instant::now);
        } else {
            s.answering_since = None;
        }
        if let Some(since) = s.down_since.take() {
            tracing::warn!(
                servers = %self.servers,
                "Kafka broker(s) at {} reachable again after {:.1}s",
                self.servers,
                since.elapsed().as_secs_f64()
            );
            s.warned_at = None;
        }
        self.health.set_broker_reachable(true);
    }

    /// Called by the loop each iteration: a broker down longer than the stall
    /// time logs a warning (again each stall period while it lasts).
    pub(crate) fn check_stall(&self) {
        let (down_for, why) = {
            let s = self.state();
            match s.down_since {
                Some(since) => (since.elapsed(), s.why.clone()),
                None => return,
            }
        };
        if down_for > self.stall {
            self.maybe_warn_stall(&format!(
                "unreachable for {:.0}s ({why})",
                down_for.as_secs_f64()
            ));
        }
    }

    /// Called while a call to the broker has been failing or waiting for
    /// `waited` (the commit before a revocation, inside librdkafka's rebalance
    /// callback, where neither statistics nor the loop's [`check_stall`] come):
    /// longer than the stall time logs the stall warning too.
    ///
    /// [`check_stall`]: BrokerWatch::check_stall
    pub(crate) fn check_waiting(&self, what: &str, waited: Duration) {
        self.check_stall();
        if waited > self.silence_limit {
            // Statistics do not come while the stream waits here: say it now.
            self.health.set_condition(
                SILENT,
                Some(format!(
                    "the Kafka broker at {} has not answered {what} for {:.0}s \
                     (kafka.delivery-timeout {:?}): the lag is unknown",
                    self.servers,
                    waited.as_secs_f64(),
                    self.silence_limit
                )),
            );
        }
        if waited > self.stall {
            self.maybe_warn_stall(&format!(
                "not answering: {what} waiting for {:.0}s",
                waited.as_secs_f64()
            ));
        }
    }

    fn maybe_warn_stall(&self, what: &str) {
        self.maybe_warn(&format!(
            "Kafka stalled: broker(s) at {} {what} (kafka.stall-warning {:?})",
            self.servers, self.stall
        ));
    }

    /// Log `text` at warn level, once per stall period.
    fn maybe_warn(&self, text: &str) {
        let mut s = self.state();
        if s.warned_at.is_some_and(|at| at.elapsed() < self.stall) {
            return;
        }
        s.warned_at = Some(Instant::now());
        tracing::warn!(servers = %self.servers, "{text}");
    }

    /// How many times the brokers became unreachable.
    pub(crate) fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Whether a broker is reachable and has sent something within `within`.
    pub(crate) fn answering(&self, within: Duration) -> bool {
        let silent = Duration::from_millis(self.silent_ms.load(Ordering::Relaxed));
        self.reachable() && silent < within
    }

    /// How long the broker has been answering without a break (zero: it is not).
    pub(crate) fn answering_for(&self) -> Duration {
        self.state()
            .answering_since
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Outputs unacknowledged for `waited`, longer than the delivery timeout,
    /// while the broker has answered again for a few seconds (3 s, at most
    /// half the timeout): the producer is stuck (a restarted broker that lost
    /// its state may leave an idempotent producer waiting for a producer id it
    /// never gets, without a fatal error). A broker down or paused never counts.
    pub(crate) fn producer_stuck(&self, waited: Duration) -> bool {
        waited > self.silence_limit
            && self.answering_for() >= RECOVERY_GRACE.min(self.silence_limit / 2)
    }

    /// Whether a broker is reachable as far as this client knows.
    pub(crate) fn reachable(&self) -> bool {
        self.state().down_since.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(brokers: &str) -> Vec<u8> {
        format!(r#"{{"name":"c","brokers":{{{brokers}}}}}"#).into_bytes()
    }

    #[test]
    fn statistics_say_up_only_with_a_connected_broker() {
        let up = doc(r#""a:1/bootstrap":{"nodeid":-1,"state":"INIT","rxidle":-1},
               "a:1/1":{"nodeid":1,"state":"UP","rxidle":2500000}"#);
        assert_eq!(
            sample(&up),
            Some(Sample::Up {
                silent: Duration::from_millis(2500)
            })
        );
        let down = doc(r#""a:1/1":{"nodeid":1,"state":"CONNECT","rxidle":-1}"#);
        assert_eq!(sample(&down), Some(Sample::Down));
        assert_eq!(sample(b"not json"), None);
    }

    #[test]
    fn a_call_waiting_past_the_stall_time_warns_once_per_period() {
        let watch = BrokerWatch::new("a:1", Duration::from_millis(50), Health::default());
        watch.check_waiting("commit offsets", Duration::from_millis(10));
        assert!(watch.state().warned_at.is_none(), "not stalled yet");
        watch.check_waiting("commit offsets", Duration::from_millis(60));
        let first = watch.state().warned_at.expect("warned");
        watch.check_waiting("commit offsets", Duration::from_millis(70));
        assert_eq!(watch.state().warned_at, Some(first), "once per period");
    }

    #[test]
    fn a_silent_broker_is_not_ready_and_answering_is_timed_from_its_return() {
        let health = Health::default();
        let watch = BrokerWatch::new("a:1", Duration::from_secs(30), health.clone())
            .with_limits(Duration::from_secs(5), "g");
        watch.saw_stats(&doc(
            r#""a:1/1":{"nodeid":1,"state":"UP","rxidle":6000000}"#,
        ));
        let reasons = health.readiness().join("; ");
        assert!(reasons.contains("has not answered for 6s"), "{reasons}");
        assert_eq!(watch.answering_for(), Duration::ZERO);
        watch.saw_stats(&doc(r#""a:1/1":{"nodeid":1,"state":"UP","rxidle":1000}"#));
        assert!(health.condition(SILENT).is_none());
        std::thread::sleep(Duration::from_millis(20));
        assert!(watch.answering_for() >= Duration::from_millis(20));
        watch.saw_down("AllBrokersDown");
        assert_eq!(watch.answering_for(), Duration::ZERO);
        // Waiting for the group, a silent broker is the group's wait, not a freeze.
        watch.set_waiting_for_group(true);
        watch.saw_stats(&doc(
            r#""a:1/1":{"nodeid":1,"state":"UP","rxidle":6000000}"#,
        ));
        assert!(health.condition(SILENT).is_none());
    }

    #[test]
    fn down_then_up_is_published_to_health() {
        let health = Health::default();
        let watch = BrokerWatch::new("a:1", Duration::from_secs(30), health.clone());
        watch.saw_down("AllBrokersDown");
        assert!(!watch.reachable());
        assert!(
            health
                .readiness()
                .iter()
                .any(|r| r.contains("not reachable"))
        );
        watch.saw_stats(&doc(r#""a:1/1":{"nodeid":1,"state":"UP","rxidle":1000}"#));
        assert!(watch.reachable());
        assert!(
            !health
                .readiness()
                .iter()
                .any(|r| r.contains("not reachable"))
        );
    }
}
