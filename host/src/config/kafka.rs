//! The Kafka part of the configuration: topics, consumer group, delivery mode
//! and transaction cadence, plus librdkafka settings passed through verbatim.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::layers::invalid;
use super::values::duration_text;
use crate::error::ConfigError;

/// How the client id (and the static member id) of every enricher host's
/// stream consumer begins: `enricher-<instance-id>`.
pub const OUR_MEMBER_PREFIX: &str = "enricher-";

/// Environment variable of each Kafka setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap-servers"),
    ("PAYMENT_EVENTS_TOPIC", "kafka.payment-events-topic"),
    ("ENRICHED_PAYMENTS_TOPIC", "kafka.enriched-payments-topic"),
    ("FAILED_PAYMENTS_TOPIC", "kafka.failed-payments-topic"),
    ("KAFKA_RETRY_TOPIC", "kafka.retry-topic"),
    ("KAFKA_GROUP_ID", "kafka.group-id"),
    ("ENRICHER_DELIVERY", "kafka.delivery"),
    ("KAFKA_TRANSACTIONAL_ID", "kafka.transactional-id"),
    ("ENRICHER_INSTANCE_ID", "kafka.instance-id"),
    ("ENRICHER_COMMIT_INTERVAL", "kafka.commit-interval"),
    ("ENRICHER_COMMIT_MAX_RECORDS", "kafka.commit-max-records"),
    ("ENRICHER_KAFKA_STARTUP_TIMEOUT", "kafka.startup-timeout"),
    ("ENRICHER_KAFKA_STALL_WARNING", "kafka.stall-warning"),
    ("ENRICHER_LIVENESS_TIMEOUT", "kafka.liveness-timeout"),
    ("ENRICHER_KAFKA_DELIVERY_TIMEOUT", "kafka.delivery-timeout"),
    (
        "ENRICHER_KAFKA_STATIC_MEMBERSHIP",
        "kafka.static-membership",
    ),
];

/// Variables that set one librdkafka property each (for Kubernetes Secrets):
/// (name, property).
pub(super) const PROPERTY_ENV: &[(&str, &str)] = &[
    ("KAFKA_SASL_USERNAME", "sasl.username"),
    ("KAFKA_SASL_PASSWORD", "sasl.password"),
];

/// `KAFKA_PROPERTY_<KEY>` sets any librdkafka property: see [`property_of_env`].
pub(super) const PROPERTY_ENV_PREFIX: &str = "KAFKA_PROPERTY_";

/// The librdkafka property an environment variable sets, if it sets one:
/// `KAFKA_SASL_USERNAME` and `KAFKA_SASL_PASSWORD`, or `KAFKA_PROPERTY_<KEY>`
/// where `<KEY>` is the property upper-cased with `.` written `_` (and a
/// literal `_` written `__`): `KAFKA_PROPERTY_SSL_CA_LOCATION` sets
/// `ssl.ca.location`.
pub(super) fn property_of_env(name: &str) -> Option<String> {
    if let Some(&(_, property)) = PROPERTY_ENV.iter().find(|(n, _)| *n == name) {
        return Some(property.to_owned());
    }
    let key = name.strip_prefix(PROPERTY_ENV_PREFIX)?;
    if key.is_empty() {
        return None;
    }
    let property = key
        .to_ascii_lowercase()
        .split("__")
        .map(|part| part.replace('_', "."))
        .collect::<Vec<_>>()
        .join("_");
    Some(property)
}

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
    /// Where CLAIM_NOT_FOUND payments wait for their next attempt when
    /// `lookup.retry-not-found` is on (created at start if missing). env `KAFKA_RETRY_TOPIC`
    pub retry_topic: String,
    /// Consumer group; run more instances with the same group to scale out. env `KAFKA_GROUP_ID`
    pub group_id: String,
    /// env `ENRICHER_DELIVERY`
    pub delivery: DeliveryMode,
    /// Stable per instance, so a restarted instance fences its zombie.
    /// Default: `<group-id>-<instance-id>`. env `KAFKA_TRANSACTIONAL_ID`
    pub transactional_id: Option<String>,
    /// Names this member of the group (its transactional id, its commit units).
    /// Default: the hostname, or `<hostname>-<n>` for the n-th instance of the
    /// group running at once on this machine. env `ENRICHER_INSTANCE_ID`
    pub instance_id: Option<String>,
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
    /// Outputs waiting this long for the broker's acknowledgement, or a
    /// broker silent this long, turn `/readyz` 503; outputs unacknowledged
    /// this long while the broker answers again (a broker restarted without
    /// its state) make the host recreate its producer and process the
    /// uncommitted inputs again. env `ENRICHER_KAFKA_DELIVERY_TIMEOUT`
    #[serde(with = "duration_text")]
    pub delivery_timeout: Duration,
    /// Join the group as a static member (`group.instance.id` =
    /// `enricher-<instance-id>`), so a restarted instance takes its partitions
    /// back at once instead of waiting for its dead predecessor's session to
    /// expire. Off: a dynamic member (a stopped instance's partitions move at
    /// once, a restart waits). env `ENRICHER_KAFKA_STATIC_MEMBERSHIP`
    pub static_membership: bool,
    /// Any librdkafka setting, passed through verbatim to every Kafka client
    /// (TLS, SASL...). Env `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` and
    /// `KAFKA_PROPERTY_<KEY>` add to (and override) the file's keys.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "localhost:9092".into(),
            payment_events_topic: "payment-events".into(),
            enriched_payments_topic: "enriched-payments".into(),
            failed_payments_topic: "failed-payments".into(),
            retry_topic: "payment-events-retry".into(),
            group_id: "payment-enricher".into(),
            delivery: DeliveryMode::ExactlyOnce,
            transactional_id: None,
            instance_id: None,
            // 100 ms bounds the latency a read_committed consumer sees while a
            // commit costs a few ms: ~10 commits/s per instance.
            commit_interval: Duration::from_millis(100),
            commit_max_records: 20_000,
            startup_timeout: Duration::ZERO,
            stall_warning: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(10),
            static_membership: true,
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
        if self.retry_topic.trim().is_empty() {
            return Err(invalid("kafka.retry-topic", "must not be empty"));
        }
        if self.stall_warning.is_zero() {
            return Err(invalid("kafka.stall-warning", "must be positive"));
        }
        if self.delivery_timeout.is_zero() {
            return Err(invalid("kafka.delivery-timeout", "must be positive"));
        }
        if self.liveness_timeout.is_zero() {
            return Err(invalid("kafka.liveness-timeout", "must be positive"));
        }
        if self.group_id.trim().is_empty() {
            return Err(invalid("kafka.group-id", "must not be empty"));
        }
        Ok(())
    }

    /// The transactional id: the configured one, or `<group-id>-<instance-id>`.
    pub fn transactional_id(&self) -> String {
        self.transactional_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.group_id, self.instance_id()))
    }

    /// The consumer's `group.instance.id` with static membership on (none
    /// when off): `enricher-<instance-id>`, the same after a restart.
    pub fn group_instance_id(&self) -> Option<String> {
        self.static_membership
            .then(|| format!("{OUR_MEMBER_PREFIX}{}", self.instance_id()))
    }

    /// This instance's id: the configured one, or one this machine's
    /// instances of the group do not share (see [`super::instance`]).
    pub fn instance_id(&self) -> String {
        match self.instance_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => super::instance::default_instance_id(&self.group_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn property_variables_name_librdkafka_keys() {
        let p = |n: &str| property_of_env(n);
        assert_eq!(
            p("KAFKA_PROPERTY_SSL_CA_LOCATION").as_deref(),
            Some("ssl.ca.location")
        );
        assert_eq!(
            p("KAFKA_PROPERTY_SECURITY_PROTOCOL").as_deref(),
            Some("security.protocol")
        );
        assert_eq!(p("KAFKA_PROPERTY_A__B_C").as_deref(), Some("a_b.c"));
        assert_eq!(p("KAFKA_SASL_USERNAME").as_deref(), Some("sasl.username"));
        assert_eq!(p("KAFKA_SASL_PASSWORD").as_deref(), Some("sasl.password"));
        assert_eq!(p("KAFKA_PROPERTY_"), None);
        assert_eq!(p("KAFKA_GROUP_ID"), None);
    }

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
        c.apply_env(|n: &str| (n == "ENRICHER_INSTANCE_ID").then(|| "pod-3".to_string()))
            .expect("applies");
        assert_eq!(c.kafka.transactional_id(), "g2-pod-3");
        let err = c.apply_env(|n: &str| (n == "ENRICHER_DELIVERY").then(|| "maybe".to_string()));
        assert!(
            err.expect_err("bad mode")
                .to_string()
                .contains("ENRICHER_DELIVERY")
        );
    }
}
