//! Reaching the broker at start. `run` asks for the cluster's metadata with a
//! short timeout, and while no broker answers it says which address it cannot
//! reach (at warn level, within seconds) and tries again after a doubling
//! pause (1 s up to 30 s), forever or until `kafka.startup-timeout`. SIGTERM
//! stops the wait at once (the flag is checked every 100 ms). The one-shot
//! commands (`topic`, `claims publish`, `redrive`, `generate --topic`) try
//! once, for up to [`CHECK_WINDOW`].
//!
//! A broker that is there but refuses the client for its settings (TLS: a
//! certificate the client does not trust, a plaintext client on a TLS
//! listener or the reverse; SASL: a wrong password, a mechanism the broker
//! does not offer) is not an outage: waiting cannot help, so every command
//! stops within a second or two, naming the cause. librdkafka tells the
//! metadata request only that it timed out (or "Broker transport failure");
//! the cause is in its log lines and error events, which the probe's context
//! reads (`settings_refused`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::KafkaRunError;
use super::clients::probe_config;
use super::settings_refused::{ProbeContext, Refusal};
use crate::config::KafkaConfig;

/// How long one metadata request may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// One metadata request is cut into slices this long, so a refusal logged
/// meanwhile stops the wait without waiting for the request's timeout.
const SLICE: Duration = Duration::from_millis(250);
/// How many queued events a slice serves at most (each a cheap call).
const QUEUE_SERVINGS: usize = 1000;
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// How often a pause looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);
/// How long a one-shot command waits for the broker to answer.
pub const CHECK_WINDOW: Duration = Duration::from_secs(10);

/// What one probe found.
enum Probe {
    /// A broker answered.
    Answered,
    /// The broker refused the client for its settings.
    Refused(Refusal),
    /// No broker answered within the time: librdkafka's last word on it.
    Silent(String),
}

/// The probe client: a metadata-only consumer with the user's settings.
fn probe_client(config: &KafkaConfig) -> Result<BaseConsumer<ProbeContext>, KafkaRunError> {
    let servers = &config.bootstrap_servers;
    let mut c = probe_config(config);
    c.set_log_level(RDKafkaLogLevel::Debug);
    c.create_with_context(ProbeContext::default())
        .map_err(|e| KafkaRunError::Client(format!("Kafka client for {servers}: {e}")))
}

/// Ask for the cluster's metadata for up to `limit`, in slices, serving
/// librdkafka's events between them; a refusal ends it at once.
fn probe(client: &BaseConsumer<ProbeContext>, limit: Duration, stop: &AtomicBool) -> Probe {
    let started = Instant::now();
    loop {
        let error = match client.fetch_metadata(None, SLICE) {
            Ok(meta) if !meta.brokers().is_empty() => return Probe::Answered,
            Ok(_) => "the cluster named no broker".to_owned(),
            Err(e) => e.to_string(),
        };
        // Log lines and error events arrive on the client's queue; `poll`
        // says `None` both for an empty queue and for a log line it served.
        for _ in 0..QUEUE_SERVINGS {
            let _ = client.poll(Duration::ZERO);
        }
        if let Some(refusal) = client.context().refusal() {
            return Probe::Refused(refusal);
        }
        if started.elapsed() >= limit || stop.load(Ordering::Relaxed) {
            return Probe::Silent(match client.context().last() {
                Some(said) => format!("{error}; librdkafka: {said}"),
                None => error,
            });
        }
    }
}

/// The error for a refusal by the brokers at `servers`.
fn refused(servers: &str, refusal: Refusal) -> KafkaRunError {
    KafkaRunError::Refused(format!(
        "cannot connect to Kafka at {servers} with these settings: {}; {}",
        refusal.what, refusal.hint
    ))
}

/// Wait until a broker of `config` answers. `Ok(false)`: `stop` was set
/// first. A broker refusing the client's settings is an error at once.
pub fn wait_for_broker(config: &KafkaConfig, stop: &AtomicBool) -> Result<bool, KafkaRunError> {
    let servers = &config.bootstrap_servers;
    let client = probe_client(config)?;
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        attempt += 1;
        let error = match probe(&client, ATTEMPT_TIMEOUT, stop) {
            Probe::Answered => {
                if attempt > 1 {
                    tracing::warn!(
                        %servers,
                        "Kafka at {servers} reachable after {:.1}s",
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(true);
            }
            Probe::Refused(refusal) => return Err(refused(servers, refusal)),
            Probe::Silent(error) => error,
        };
        let waited = started.elapsed();
        let limit = config.startup_timeout;
        if !limit.is_zero() && waited >= limit {
            return Err(KafkaRunError::GaveUp(format!(
                "Kafka at {servers} unreachable for {:.0}s ({error}); gave up after \
                 kafka.startup-timeout (ENRICHER_KAFKA_STARTUP_TIMEOUT) {limit:?}",
                waited.as_secs_f64()
            )));
        }
        tracing::warn!(
            %servers,
            attempt,
            "cannot reach Kafka at {servers} ({error}); retrying in {pause:?} \
             (kafka.bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS; Ctrl-C stops)"
        );
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            std::thread::sleep(TICK);
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// For a one-shot command: a broker of `config` answers within
/// [`CHECK_WINDOW`], or an error naming why not (a refusal at once).
pub fn check_broker(config: &KafkaConfig) -> Result<(), KafkaRunError> {
    let servers = &config.bootstrap_servers;
    let client = probe_client(config)?;
    match probe(&client, CHECK_WINDOW, &AtomicBool::new(false)) {
        Probe::Answered => Ok(()),
        Probe::Refused(refusal) => Err(refused(servers, refusal)),
        Probe::Silent(error) => Err(KafkaRunError::GaveUp(format!(
            "cannot reach Kafka at {servers} within {CHECK_WINDOW:?} ({error}) \
             (kafka.bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS)"
        ))),
    }
}
