//! librdkafka settings for every Kafka client the host makes: the stream's
//! consumer and producer, the fleet topic's producer and reader, the admin
//! client that creates topics, the tail reader and the `generate --topic`
//! producer. Each starts from [`client_config`] (`bootstrap.servers` and every
//! key of `kafka.properties`, which include the `KAFKA_SASL_*` and
//! `KAFKA_PROPERTY_*` variables), so TLS and SASL settings reach all of them.
//! Our defaults come first, then the user's keys, then the keys correctness
//! depends on, which users cannot undo. Also: how every client logs
//! librdkafka's global errors.

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;

use crate::config::{DeliveryMode, KafkaConfig};

pub use crate::config::OUR_MEMBER_PREFIX;

/// The prefixes a member of the group shows when it is an enricher host
/// (its client id, member id or group instance id begins with one): ours,
/// and the `client.id` the user set, if any.
pub(crate) fn our_member_prefixes(config: &KafkaConfig) -> Vec<String> {
    let mut prefixes = vec![OUR_MEMBER_PREFIX.to_owned()];
    if let Some(id) = config.properties.get("client.id")
        && !id.trim().is_empty()
    {
        prefixes.push(id.trim().to_owned());
    }
    prefixes
}

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers);
    c
}

fn with_user_properties(mut c: ClientConfig, config: &KafkaConfig) -> ClientConfig {
    for (key, value) in &config.properties {
        c.set(key, value);
    }
    c
}

/// What every client shares: the brokers and every user property (security
/// settings among them). Other client builders start from this one.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    with_user_properties(base(config), config)
}

/// The admin client (topic creation).
pub(crate) fn admin_config(config: &KafkaConfig) -> ClientConfig {
    client_config(config)
}

/// The tail reader: every partition assigned by hand, nothing committed.
pub(crate) fn tail_config(config: &KafkaConfig, read_committed: bool) -> ClientConfig {
    let mut c = base(config);
    c.set("fetch.wait.max.ms", "10");
    let mut c = with_user_properties(c, config);
    c.set("group.id", format!("enricher-tail-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        );
    c
}

/// The load generator's producer (`generate --topic`, `enricher-bench kafka`).
pub fn load_producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = base(config);
    c.set("linger.ms", "5");
    let mut c = with_user_properties(c, config);
    c.set("enable.idempotence", "true");
    c
}

/// A client that only asks for metadata (waiting for the broker at start).
pub(crate) fn probe_config(config: &KafkaConfig) -> ClientConfig {
    client_config(config)
}

/// The consumer: a group member that never commits on its own, named
/// `enricher-<instance-id>` (client id, and with static membership its
/// `group.instance.id`), so the group watch tells our members from others.
pub fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = base(config);
    let name = format!("{OUR_MEMBER_PREFIX}{}", config.instance_id());
    c.set("client.id", &name);
    if let Some(instance) = config.group_instance_id() {
        c.set("group.instance.id", instance);
    }
    c.set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        // Bounded prefetch: the consumer queue cannot grow without limit.
        .set("queued.max.messages.kbytes", "16384")
        // Brokers that hold a fetch for its full wait (not only until data
        // arrives) would add up to this much latency per hop.
        .set("fetch.wait.max.ms", "20")
        // Broker states every second, for the broker watch (stalls, readiness),
        // and consumer lag per partition for `/metrics` (`GroupContext::stats`).
        .set("statistics.interval.ms", "1000");
    let mut c = with_user_properties(c, config);
    c.set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Only committed transactions of upstream producers are enriched.
        .set("isolation.level", "read_committed");
    c
}

/// The producer: idempotent always; transactional in exactly-once mode.
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = base(config);
    c.set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "262144");
    let mut c = with_user_properties(c, config);
    c.set("enable.idempotence", "true").set("acks", "all");
    if config.delivery == DeliveryMode::ExactlyOnce {
        c.set("transactional.id", config.transactional_id());
    }
    c
}

/// Largest plugin record the fleet topic carries: a component compressed by
/// the publisher (`deploy::fleet_record`), so the component itself may be larger.
pub const MAX_PLUGIN_BYTES: usize = 16 << 20;

/// The producer of the fleet's plugin topic: idempotent, every write acknowledged.
pub fn plugin_producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(config);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        // Components come compressed already (`deploy::fleet_record`).
        .set("compression.type", "none")
        .set("message.max.bytes", (MAX_PLUGIN_BYTES + 65536).to_string())
        .set("linger.ms", "0");
    c
}

/// The reader of the fleet's plugin topic: assigned every partition from the
/// start, never a group member, never commits.
pub fn plugin_consumer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(config);
    c.set("group.id", format!("{}-plugins", config.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set(
            "fetch.message.max.bytes",
            (MAX_PLUGIN_BYTES + 65536).to_string(),
        )
        .set("fetch.max.bytes", (2 * MAX_PLUGIN_BYTES).to_string())
        .set(
            "receive.message.max.bytes",
            (2 * MAX_PLUGIN_BYTES + 65536).to_string(),
        )
        .set("isolation.level", "read_committed");
    c
}

/// Largest record the producer will send (librdkafka's `message.max.bytes`).
pub fn max_message_bytes(config: &KafkaConfig) -> usize {
    config
        .properties
        .get("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// librdkafka's global errors, minus the end-of-partition events we asked for.
pub(crate) fn log_client_error(error: KafkaError, reason: &str) {
    match error {
        KafkaError::PartitionEOF(_) => {}
        KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF) => {}
        e => tracing::warn!("kafka client: {e}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_topic_clients_accept_their_settings() {
        let k = KafkaConfig::default();
        let consumer: Result<rdkafka::consumer::BaseConsumer, _> =
            plugin_consumer_config(&k).create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
        let producer: Result<rdkafka::producer::BaseProducer, _> =
            plugin_producer_config(&k).create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    /// Every client the host makes, by its builder.
    fn every_client(k: &KafkaConfig) -> Vec<(&'static str, ClientConfig)> {
        vec![
            ("stream consumer", consumer_config(k)),
            ("stream producer", producer_config(k)),
            ("fleet producer", plugin_producer_config(k)),
            ("fleet reader", plugin_consumer_config(k)),
            ("topic admin", admin_config(k)),
            ("tail reader", tail_config(k, true)),
            ("load producer", load_producer_config(k)),
        ]
    }

    #[test]
    fn every_client_gets_the_security_properties() {
        let mut k = KafkaConfig {
            bootstrap_servers: "broker-1:9093".into(),
            ..KafkaConfig::default()
        };
        let security = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "svc-enricher"),
            ("sasl.password", "marker-secret"),
            ("ssl.ca.location", "/etc/kafka/ca.pem"),
        ];
        for (key, value) in security {
            k.properties.insert(key.into(), value.into());
        }
        for (client, c) in every_client(&k) {
            assert_eq!(
                c.get("bootstrap.servers"),
                Some("broker-1:9093"),
                "{client}"
            );
            for (key, value) in security {
                assert_eq!(c.get(key), Some(value), "{client} lacks {key}");
            }
        }
    }

    #[test]
    fn every_client_refuses_the_same_bad_property() {
        let mut k = KafkaConfig::default();
        k.properties
            .insert("enricher.not-a-property".into(), "1".into());
        let errors: Vec<(&str, String)> = every_client(&k)
            .into_iter()
            .map(|(client, c)| {
                let made: Result<rdkafka::consumer::BaseConsumer, _> = c.create();
                (
                    client,
                    made.err().map(|e| e.to_string()).unwrap_or_default(),
                )
            })
            .collect();
        for (client, error) in &errors {
            assert!(
                error.contains("enricher.not-a-property"),
                "{client} was built without the user's properties: {error:?}"
            );
        }
    }

    #[test]
    fn user_properties_pass_through_but_cannot_break_delivery() {
        let mut k = KafkaConfig::default();
        k.properties
            .insert("compression.type".into(), "zstd".into());
        k.properties
            .insert("enable.auto.commit".into(), "true".into());
        k.properties
            .insert("enable.idempotence".into(), "false".into());
        let consumer = consumer_config(&k);
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("isolation.level"), Some("read_committed"));
        let producer = producer_config(&k);
        assert_eq!(producer.get("compression.type"), Some("zstd"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert!(producer.get("transactional.id").is_some());
        k.delivery = DeliveryMode::AtLeastOnce;
        assert!(producer_config(&k).get("transactional.id").is_none());
    }

    #[test]
    fn the_consumer_is_a_static_member_named_after_the_instance_unless_turned_off() {
        let mut k = KafkaConfig {
            instance_id: Some("pod-3".into()),
            ..KafkaConfig::default()
        };
        let c = consumer_config(&k);
        assert_eq!(c.get("group.instance.id"), Some("enricher-pod-3"));
        assert_eq!(c.get("client.id"), Some("enricher-pod-3"));
        k.static_membership = false;
        assert_eq!(consumer_config(&k).get("group.instance.id"), None);
        k.properties
            .insert("group.instance.id".into(), "mine".into());
        assert_eq!(consumer_config(&k).get("group.instance.id"), Some("mine"));
    }
}
