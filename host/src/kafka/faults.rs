//! What the Kafka loop does about broker faults, besides waiting: each
//! iteration it beats the heartbeat, lets the [`BrokerWatch`] warn about a
//! stall, and publishes how many partitions it holds; it subscribes again
//! when a broker outage left it without partitions; and it recreates a
//! producer that went fatal (a broker that lost its state answers
//! `UnknownProducerId`), rewinding to the committed offsets, instead of
//! stopping. Fencing (another instance took the transactional id) still stops.
//! Outputs unacknowledged past `kafka.delivery-timeout` turn `/readyz` 503;
//! while no partitions are held it says, every few seconds, that it waits
//! for the consumer group (and tells the broker watch, whose stall warning
//! then names the group instead of blaming the broker).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaRunError;
use super::broker_watch::BrokerWatch;
use super::clients::producer_config;
use super::delivery::Delivery;
use super::records::{DeliveryTracker, EnricherProducer};
use crate::config::KafkaConfig;
use crate::health::Health;

/// How often the assignment is looked at.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// How long without partitions after a broker outage before subscribing
/// again; each further attempt waits longer (see `resubscribe_wait`), so a
/// group join the coordinator holds for a while (some brokers hold one for
/// half the session timeout) is not cut short again and again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(10);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(120);
/// How often "waiting for the consumer group" is said while it lasts.
const SAY_WAITING_EVERY: Duration = Duration::from_secs(10);
/// The readiness condition of outputs not acknowledged.
const OUTPUTS: &str = "outputs";
/// Pauses between attempts to recreate a fatal producer.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// The loop's view of faults: assignment, outages, the heartbeat.
pub(super) struct Faults {
    health: Health,
    watch: Arc<BrokerWatch>,
    next_look: Instant,
    /// Partitions held at the last look.
    assigned: usize,
    unassigned_since: Option<Instant>,
    /// Partitions were held at some look (the first assignment is not "again").
    ever_assigned: bool,
    /// The watch's outage count when partitions were last held.
    outages_when_assigned: u64,
    /// Subscriptions made again since partitions were last held.
    resubscribed: u32,
    /// The consumer group (named while waiting for it).
    group: String,
    /// When "waiting for the consumer group" was last said.
    said_waiting: Option<Instant>,
    /// The outputs condition is raised.
    outputs_late: bool,
}

/// How long to wait without partitions before the next subscription:
/// 10 s, then 30, 60, 120 s (at most).
fn resubscribe_wait(resubscribed: u32) -> Duration {
    match resubscribed {
        0 => RESUBSCRIBE_AFTER,
        n => (RESUBSCRIBE_AFTER * 3 * 2u32.saturating_pow(n.min(8) - 1)).min(RESUBSCRIBE_MAX),
    }
}

impl Faults {
    pub(super) fn new(health: Health, watch: Arc<BrokerWatch>, group: &str) -> Self {
        Self {
            group: group.to_owned(),
            said_waiting: None,
            outputs_late: false,
            health,
            watch,
            next_look: Instant::now(),
            assigned: 0,
            unassigned_since: None,
            ever_assigned: false,
            outages_when_assigned: 0,
            resubscribed: 0,
        }
    }

    pub(super) fn health(&self) -> &Health {
        &self.health
    }

    pub(super) fn broker_reachable(&self) -> bool {
        self.watch.reachable()
    }

    /// Outputs pending without a commit since `since` longer than `limit`
    /// (`kafka.delivery-timeout`) while the broker has answered again for a
    /// few seconds: the producer is stuck (a restarted broker that lost its
    /// state may leave an idempotent producer waiting for a producer id it
    /// never gets, without a fatal error). A broker that is down or paused
    /// never counts: the producer may still deliver once it is back.
    pub(super) fn producer_stuck(&self, since: Instant) -> bool {
        self.watch.producer_stuck(since.elapsed())
    }

    /// Raise or clear the readiness condition of outputs waiting for their
    /// acknowledgement since `since` (`None`: nothing pending) past `limit`.
    pub(super) fn note_outputs(&mut self, since: Option<Instant>, limit: Duration) {
        let late = since.is_some_and(|at| at.elapsed() > limit);
        if late == self.outputs_late {
            return;
        }
        self.outputs_late = late;
        let why = late.then(|| {
            format!(
                "outputs not acknowledged by the broker for more than {limit:?} \
                 (kafka.delivery-timeout): the producer cannot deliver"
            )
        });
        self.health.set_condition(OUTPUTS, why);
    }

    /// Once per loop iteration: cheap unless a look at the assignment is due.
    pub(super) fn tick<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, topics: &[&str]) {
        self.health.beat();
        self.watch.check_stall();
        let now = Instant::now();
        if now < self.next_look {
            return;
        }
        self.next_look = now + LOOK_EVERY;
        let n = consumer.assignment().map_or(0, |a| a.count());
        self.health.set_assigned(n);
        self.watch.set_waiting_for_group(n == 0);
        if n > 0 {
            self.said_waiting = None;
            if self.ever_assigned && self.assigned == 0 && self.unassigned_since.is_some() {
                tracing::warn!(partitions = n, "partitions assigned again");
            }
            self.ever_assigned = true;
            self.unassigned_since = None;
            self.outages_when_assigned = self.watch.outages();
            self.resubscribed = 0;
        } else {
            if self.assigned > 0 {
                tracing::warn!(was = self.assigned, "no partitions assigned any more");
            }
            let since = *self.unassigned_since.get_or_insert(now);
            self.say_waiting(since);
            let after_outage = self.watch.outages() > self.outages_when_assigned;
            if after_outage
                && self.watch.reachable()
                && since.elapsed() >= resubscribe_wait(self.resubscribed)
            {
                tracing::warn!(
                    ?topics,
                    "no partitions assigned {:.0}s after a broker outage: subscribing again",
                    since.elapsed().as_secs_f64()
                );
                consumer.unsubscribe();
                if let Err(e) = consumer.subscribe(topics) {
                    tracing::warn!("subscribing to {topics:?} again: {e}");
                }
                self.unassigned_since = Some(now);
                self.resubscribed = self.resubscribed.saturating_add(1);
            }
        }
        self.assigned = n;
    }

    /// Every few seconds without partitions: say that the member waits for
    /// its group (and why it may take long), not that the broker is silent.
    fn say_waiting(&mut self, since: Instant) {
        if since.elapsed() < SAY_WAITING_EVERY
            || self
                .said_waiting
                .is_some_and(|at| at.elapsed() < SAY_WAITING_EVERY)
        {
            return;
        }
        self.said_waiting = Some(Instant::now());
        tracing::warn!(
            group = %self.group,
            "waiting for consumer group {} to assign partitions ({:.0}s so far): a member that \
             died without leaving holds its partitions until its session (session.timeout.ms) \
             expires, unless it comes back under the same group.instance.id",
            self.group,
            since.elapsed().as_secs_f64()
        );
    }

    /// `error` stopped a step of the loop. If the producer went fatal (and
    /// was not fenced), recreate it, retrying until it works or `stop` is set,
    /// and rewind to the committed offsets; any other error is returned.
    pub(super) fn recover<C: ConsumerContext>(
        &self,
        error: KafkaRunError,
        delivery: &Arc<dyn Delivery<C>>,
        consumer: &BaseConsumer<C>,
        config: &KafkaConfig,
        stop: &AtomicBool,
    ) -> Result<(), KafkaRunError> {
        let Some((code, why)) = delivery.producer().client().fatal_error() else {
            return Err(error);
        };
        let what = format!("{code:?}: {why}");
        if is_fencing(code) {
            return Err(KafkaRunError::Fatal(format!(
                "producer: {what} (fenced: another instance uses this transactional id, or it is not authorized)"
            )));
        }
        self.recreate(
            &format!("the producer is fatal ({what})"),
            delivery,
            consumer,
            config,
            stop,
        );
        Ok(())
    }

    /// Make a new producer (retrying until it works or `stop` is set) and
    /// rewind to the committed offsets; `why` is logged and shown by `/readyz` meanwhile.
    pub(super) fn recreate<C: ConsumerContext>(
        &self,
        why: &str,
        delivery: &Arc<dyn Delivery<C>>,
        consumer: &BaseConsumer<C>,
        config: &KafkaConfig,
        stop: &AtomicBool,
    ) {
        tracing::warn!("{why}: recreating the producer and rewinding to the committed offsets");
        self.health.set_fatal(Some(why.to_owned()));
        let mut pause = FIRST_PAUSE;
        while !stop.load(Ordering::Relaxed) {
            self.health.beat();
            let attempt = producer_config(config)
                .create_with_context::<_, EnricherProducer>(DeliveryTracker::default())
                .map_err(|e| KafkaRunError::Client(e.to_string()))
                .and_then(|fresh| delivery.replace_producer(Arc::new(fresh), consumer));
            match attempt {
                Ok(()) => {
                    self.health.set_fatal(None);
                    tracing::warn!("producer recreated; uncommitted inputs are processed again");
                    return;
                }
                Err(e) => {
                    tracing::warn!("recreating the producer: {e}; retrying in {pause:?}")
                }
            }
            let until = Instant::now() + pause;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                self.health.beat();
                std::thread::sleep(Duration::from_millis(100));
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// Fatal errors that mean another instance took over: recreating would fight it.
pub(crate) fn is_fencing(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            // librdkafka's own code for a fenced transactional producer.
            | RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> (Faults, Health, Arc<BrokerWatch>) {
        let health = Health::default();
        let watch = Arc::new(
            BrokerWatch::new("a:1", Duration::from_secs(30), health.clone())
                .with_limits(Duration::from_secs(4), "g"),
        );
        (
            Faults::new(health.clone(), Arc::clone(&watch), "g"),
            health,
            watch,
        )
    }

    fn answering(watch: &BrokerWatch) {
        watch.saw_stats(br#"{"brokers":{"a:1/1":{"nodeid":1,"state":"UP","rxidle":1000}}}"#);
    }

    #[test]
    fn outputs_unacknowledged_past_the_delivery_timeout_make_it_not_ready() {
        let (mut faults, health, _) = faults();
        let limit = Duration::from_secs(4);
        faults.note_outputs(Some(Instant::now()), limit);
        assert!(health.condition(OUTPUTS).is_none(), "within the limit");
        faults.note_outputs(Some(Instant::now() - Duration::from_secs(5)), limit);
        let why = health.condition(OUTPUTS).expect("not ready");
        assert!(why.contains("kafka.delivery-timeout"), "{why}");
        faults.note_outputs(None, limit);
        assert!(health.condition(OUTPUTS).is_none(), "acknowledged: ready");
    }

    #[test]
    fn a_stuck_producer_is_given_up_seconds_after_the_broker_answers_not_a_minute() {
        let (faults, _, watch) = faults();
        let limit = Duration::from_secs(4);
        let pending_since = Instant::now() - Duration::from_secs(60);
        watch.saw_down("AllBrokersDown");
        assert!(!faults.producer_stuck(pending_since), "broker down: wait");
        answering(&watch);
        assert!(!faults.producer_stuck(pending_since), "just back: grace");
        std::thread::sleep(limit / 2 + Duration::from_millis(50));
        answering(&watch);
        assert!(
            faults.producer_stuck(pending_since),
            "answering 2 s: give up"
        );
        assert!(
            !faults.producer_stuck(Instant::now()),
            "recent outputs are not stuck"
        );
    }

    #[test]
    fn each_resubscription_waits_longer_up_to_two_minutes() {
        let waits: Vec<u64> = (0..6).map(|n| resubscribe_wait(n).as_secs()).collect();
        assert_eq!(waits, [10, 30, 60, 120, 120, 120]);
        assert_eq!(resubscribe_wait(u32::MAX), RESUBSCRIBE_MAX);
    }
}
