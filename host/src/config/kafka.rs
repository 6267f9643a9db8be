//! The Kafka part of the configuration: topics, consumer group, delivery mode
//! and transaction cadence, plus librdkafka settings passed through verbatim.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::layers::invalid;
use super::values::duration_text;
use crate::error::ConfigError;

/// Environment variable of each Kafka setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap-servers"),
    ("PAYMENT_EVENTS_TOPIC", "kafka.payment-events-topic"),
    ("ENRICHED_PAYMENTS_TOPIC", "kafka.enriched-payments-topic"),
    ("FAILED_PAYMENTS_TOPIC", "kafka.failed-payments-topic"),
    ("KAFKA_GROUP_ID", "kafka.group-id"),
    ("ENRICHER_DELIVERY", "kafka.delivery"),
    ("KAFKA_TRANSACTIONAL_ID", "kafka.transactional-id"),
    ("ENRICHER_COMMIT_INTERVAL", "kafka.commit-interval"),
    ("ENRICHER_COMMIT_MAX_RECORDS", "kafka.commit-max-records"),
    ("ENRICHER_KAFKA_STARTUP_TIMEOUT", "kafka.startup-timeout"),
    ("ENRICHER_KAFKA_STALL_WARNING", "kafka.stall-warning"),
    ("ENRICHER_LIVENESS_TIMEOUT", "kafka.liveness-timeout"),
];

/// How outputs and input offsets are committed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum DeliveryMode {
    /// Transactions: outputs and input offsets commit together (Kafka, Redpanda).
    ExactlyOnce,
    /// Idempotent producer; offsets committed after the outputs are acknowledged.
    /// A crash may duplicate, never lose (for brokers without transactions).
    AtLeastOnce,
}

impl DeliveryMode {
    /// `exactly-once` (`exactly_once`, `eos`) or `at-least-once` (`at_least_once`, `alo`), in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "exactly-once" | "exactly_once" | "eos" => Some(Self::ExactlyOnce),
            "at-least-once" | "at_least_once" | "alo" => Some(Self::AtLeastOnce),
            _ => None,
        }
    }
}

impl TryFrom<String> for DeliveryMode {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or("expected exactly-once or at-least-once")
    }
}

/// Kafka source and sinks (Kafka mode of `enricher run`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaConfig {
    /// env `KAFKA_BOOTSTRAP_SERVERS`
    pub bootstrap_servers: String,
    /// env `PAYMENT_EVENTS_TOPIC`
    pub payment_events_topic: String,
    /// env `ENRICHED_PAYMENTS_TOPIC`
    pub enriched_payments_topic: String,
    /// env `FAILED_PAYMENTS_TOPIC`
    pub failed_payments_topic: String,
    /// Consumer group; run more instances with the same group to scale out. env `KAFKA_GROUP_ID`
    pub group_id: String,
    /// env `ENRICHER_DELIVERY`
    pub delivery: DeliveryMode,
    /// Stable per instance, so a restarted instance fences its zombie.
    /// Default: `<group-id>-<hostname>`. env `KAFKA_TRANSACTIONAL_ID`
    pub transactional_id: Option<String>,
    /// A transaction (or an offset commit) is cut at least this often. env `ENRICHER_COMMIT_INTERVAL`
    #[serde(with = "duration_text")]
    pub commit_interval: Duration,
    /// ... or after this many input records. env `ENRICHER_COMMIT_MAX_RECORDS`
    pub commit_max_records: usize,
    /// How long `run` keeps retrying an unreachable broker at start before it
    /// gives up; `0s` retries forever (with a warning per attempt).
    /// env `ENRICHER_KAFKA_STARTUP_TIMEOUT`
    #[serde(with = "duration_text")]
    pub startup_timeout: Duration,
    /// A broker unreachable, or silent, this long logs a stall warning
    /// (repeated each period while it lasts). env `ENRICHER_KAFKA_STALL_WARNING`
    #[serde(with = "duration_text")]
    pub stall_warning: Duration,
    /// `/healthz` turns 503 when the stream loop has not beaten its heartbeat
    /// this long (longer than the longest Kafka call, 30 s). env `ENRICHER_LIVENESS_TIMEOUT`
    #[serde(with = "duration_text")]
    pub liveness_timeout: Duration,
    /// Any librdkafka setting, passed through verbatim to consumer and producer.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "localhost:9092".into(),
            payment_events_topic: "payment-events".into(),
            enriched_payments_topic: "enriched-payments".into(),
            failed_payments_topic: "failed-payments".into(),
            group_id: "payment-enricher".into(),
            delivery: DeliveryMode::ExactlyOnce,
            transactional_id: None,
            // 100 ms bounds the latency a read_committed consumer sees while a
            // commit costs a few ms: ~10 commits/s per instance.
            commit_interval: Duration::from_millis(100),
            commit_max_records: 20_000,
            startup_timeout: Duration::ZERO,
            stall_warning: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(60),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.commit_interval.is_zero() {
            return Err(invalid("kafka.commit-interval", "must be positive"));
        }
        if self.commit_max_records == 0 {
            return Err(invalid("kafka.commit-max-records", "must be positive"));
        }
        if self.stall_warning.is_zero() {
            return Err(invalid("kafka.stall-warning", "must be positive"));
        }
        if self.liveness_timeout.is_zero() {
            return Err(invalid("kafka.liveness-timeout", "must be positive"));
        }
        if self.group_id.trim().is_empty() {
            return Err(invalid("kafka.group-id", "must not be empty"));
        }
        Ok(())
    }

    /// The transactional id: the configured one, or `<group-id>-<hostname>`.
    pub fn transactional_id(&self) -> String {
        self.transactional_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "enricher".into());
            format!("{}-{host}", self.group_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn delivery_mode_and_cadence_come_from_env() {
        let mut c = Config::default();
        let env = |name: &str| match name {
            "ENRICHER_DELIVERY" => Some("at-least-once".to_string()),
            "ENRICHER_COMMIT_INTERVAL" => Some("250ms".to_string()),
            "KAFKA_GROUP_ID" => Some("g2".to_string()),
            _ => None,
        };
        c.apply_env(env).expect("applies");
        let k = &c.kafka;
        assert_eq!(k.delivery, DeliveryMode::AtLeastOnce);
        assert_eq!(k.commit_interval, Duration::from_millis(250));
        assert!(k.transactional_id().starts_with("g2-"));
        let err = c.apply_env(|n: &str| (n == "ENRICHER_DELIVERY").then(|| "maybe".to_string()));
        assert!(
            err.expect_err("bad mode")
                .to_string()
                .contains("ENRICHER_DELIVERY")
        );
    }
}
