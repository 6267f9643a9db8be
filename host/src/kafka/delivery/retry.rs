//! What each Kafka error leads to, as librdkafka classifies it: retriable →
//! call again (with backoff); abortable → abort and rewind; fatal → stop.

use std::time::Duration;

use rdkafka::error::KafkaError;

/// Attempts of a call Kafka calls retriable.
const MAX_ATTEMPTS: u32 = 8;

/// What to do with a Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Retry,
    AbortAndRewind,
    Stop,
}

/// librdkafka's classification of a transactional error.
pub(crate) fn classify(e: &KafkaError) -> Action {
    match e {
        KafkaError::Transaction(rd) if rd.is_fatal() => Action::Stop,
        KafkaError::Transaction(rd) if rd.txn_requires_abort() => Action::AbortAndRewind,
        KafkaError::Transaction(rd) if rd.is_retriable() => Action::Retry,
        _ => Action::Stop,
    }
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

/// Call `call`, retrying what [`classify`] calls retriable.
pub(super) fn with_retries(
    what: &str,
    call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    with_retries_as(what, classify, call)
}

/// Call `call`, retrying what `classify` calls retriable, with doubling pauses up to 2 s.
pub(super) fn with_retries_as(
    what: &str,
    classify: impl Fn(&KafkaError) -> Action,
    mut call: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        match call() {
            Ok(()) => return Ok(()),
            Err(e) => match classify(&e) {
                Action::Retry if attempt < MAX_ATTEMPTS => {
                    tracing::warn!("{what} failed ({e}), retrying (attempt {attempt})");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Action::Retry => {
                    return Err(Failure::Stop(format!(
                        "{what}: {e} (after {attempt} attempts)"
                    )));
                }
                Action::AbortAndRewind => return Err(Failure::Abort(format!("{what}: {e}"))),
                Action::Stop => return Err(Failure::Stop(format!("{what}: {e}"))),
            },
        }
    }
    Err(Failure::Stop(format!("{what}: gave up")))
}
