//! What each Kafka error leads to, as librdkafka classifies it: retriable →
//! call again (with backoff); abortable → abort and rewind; fatal → stop.

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;

use crate::kafka::broker_watch::BrokerWatch;
use crate::kafka::faults::is_fencing;

/// Attempts of a call Kafka calls retriable.
const MAX_ATTEMPTS: u32 = 8;

/// What to do with a Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Retry,
    AbortAndRewind,
    Stop,
}

/// librdkafka's classification of a transactional error, except that being
/// fenced always stops: librdkafka may call a fenced `TxnOffsetCommit`
/// abortable (seen with Tansu), and the abort that follows can only time out,
/// eight times 30 s, while the fenced instance holds its partitions.
pub(crate) fn classify(e: &KafkaError) -> Action {
    match e {
        _ if fenced(e) => Action::Stop,
        KafkaError::Transaction(rd) if rd.is_fatal() => Action::Stop,
        KafkaError::Transaction(rd) if rd.txn_requires_abort() => Action::AbortAndRewind,
        KafkaError::Transaction(rd) if rd.is_retriable() => Action::Retry,
        _ => Action::Stop,
    }
}

/// Whether `e` says another producer took this transactional id.
fn fenced(e: &KafkaError) -> bool {
    e.rdkafka_error_code().is_some_and(is_fencing)
}

/// How a call ended after its retries.
pub(super) enum Failure {
    Abort(String),
    Stop(String),
}

impl Failure {
    pub(super) fn into_message(self) -> String {
        match self {
            Failure::Abort(why) | Failure::Stop(why) => why,
        }
    }
}

/// Call `call`, retrying what [`classify`] calls retriable; each retry counts in `retries`.
pub(super) fn with_retries(
    what: &str,
    watch: &BrokerWatch,
    retries: &mut u64,
    call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    with_retries_as(what, classify, watch, retries, call)
}

/// Call `call`, retrying what `classify` calls retriable, with doubling pauses
/// up to 2 s; each retry counts in `retries`. Between attempts `watch` hears
/// how long the call has been failing: this loop may run inside the rebalance
/// callback, where nothing else notices a stalled broker.
pub(super) fn with_retries_as(
    what: &str,
    classify: impl Fn(&KafkaError) -> Action,
    watch: &BrokerWatch,
    retries: &mut u64,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        match call() {
            Ok(()) => return Ok(()),
            Err(e) => match classify(&e) {
                Action::Retry if attempt < MAX_ATTEMPTS => {
                    *retries += 1;
                    tracing::warn!("{what} failed ({e}), retrying (attempt {attempt})");
                    watch.check_waiting(what, started.elapsed());
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Action::Retry => {
                    return Err(Failure::Stop(format!(
                        "{what}: {e} (after {attempt} attempts)"
                    )));
                }
                Action::AbortAndRewind => return Err(Failure::Abort(format!("{what}: {e}"))),
                Action::Stop if fenced(&e) => {
                    return Err(Failure::Stop(format!(
                        "{what}: {e} (fenced: another instance uses this transactional id, or it is not authorized)"
                    )));
                }
                Action::Stop => return Err(Failure::Stop(format!("{what}: {e}"))),
            },
        }
    }
    Err(Failure::Stop(format!("{what}: gave up")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> BrokerWatch {
        BrokerWatch::new(
            "a:1",
            Duration::from_secs(30),
            crate::health::Health::default(),
        )
    }

    #[test]
    fn each_retry_is_counted_and_an_abort_is_not_a_retry() {
        let watch = watch();
        let mut retries = 0;
        let mut failures_left = 2;
        let result = with_retries_as(
            "flaky call",
            |_| Action::Retry,
            &watch,
            &mut retries,
            || {
                if failures_left == 0 {
                    return Ok(());
                }
                failures_left -= 1;
                Err(KafkaError::Canceled)
            },
        );
        assert!(result.is_ok());
        assert_eq!(retries, 2);

        let mut retries = 0;
        let result = with_retries_as(
            "abortable call",
            |_| Action::AbortAndRewind,
            &watch,
            &mut retries,
            || Err(KafkaError::Canceled),
        );
        assert!(matches!(result, Err(Failure::Abort(_))));
        assert_eq!(retries, 0, "an abort is not a retry");
    }
}
