//! Waiting for the broker at start: `run` asks for the cluster's metadata
//! with a short timeout, and while no broker answers it says which address it
//! cannot reach (at warn level, within seconds) and tries again after a
//! doubling pause (1 s up to 30 s), forever or until `kafka.startup-timeout`.
//! SIGTERM stops the wait at once (the flag is checked every 100 ms).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::KafkaRunError;
use super::clients::probe_config;
use crate::config::KafkaConfig;

/// How long one metadata request may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// How often a pause looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);

/// Wait until a broker of `config` answers. `Ok(false)`: `stop` was set first.
pub fn wait_for_broker(config: &KafkaConfig, stop: &AtomicBool) -> Result<bool, KafkaRunError> {
    let servers = &config.bootstrap_servers;
    let client: BaseConsumer = probe_config(config)
        .create()
        .map_err(|e| KafkaRunError::Client(format!("Kafka client for {servers}: {e}")))?;
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        attempt += 1;
        let error = match client.fetch_metadata(None, ATTEMPT_TIMEOUT) {
            Ok(meta) if !meta.brokers().is_empty() => {
                if attempt > 1 {
                    tracing::warn!(
                        %servers,
                        "Kafka at {servers} reachable after {:.1}s",
                        started.elapsed().as_secs_f64()
                    );
                }
                return Ok(true);
            }
            Ok(_) => "the cluster named no broker".to_owned(),
            Err(e) => e.to_string(),
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
