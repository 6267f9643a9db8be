//! Components on the fleet's plugin topic (the real test broker, nisshi):
//! the Python plugin (~18 MB, CPython inside, over the topic's 16 MiB record
//! limit) goes out compressed and every host of the group runs it, a host
//! started later too; a plugin record written before compression (the
//! component as is, no `encoding` header) is still read and followed.

use std::time::Duration;

use enricher::admin::AdminClient;
use enricher::config::{Config, DeliveryMode};
use enricher::deploy::{FleetPublisher, PluginAdmin};
use enricher_tests::kafka::*;
use enricher_tests::polyglot::{self, Lang};
use enricher_tests::swap::*;
use enricher_tests::test_plugins::V2;
use enricher_tests::*;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const V2_KEY: &str = "payment-enrichment@0.2.0";
/// The fleet topic's record limit (`max.message.bytes` of the topic the host creates).
const MAX_PLUGIN_BYTES: usize = 16 << 20;

fn fleet_config(label: &str, dir: &TempDir, broker: &str) -> Config {
    let topics = unique_topics(label);
    create_topics(broker, &topics, 1);
    let mut config = host_config(dir, broker, &topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    config
}

fn fleet_topic(config: &Config) -> String {
    config
        .deploy
        .fleet_topic(&config.kafka.group_id)
        .expect("a fleet topic")
}

#[test]
fn a_python_plugin_over_the_record_limit_is_deployed_to_every_host_compressed() {
    let python = std::fs::read(polyglot::plugin(Lang::Python)).expect("python plugin");
    assert!(
        python.len() > MAX_PLUGIN_BYTES,
        "the premise: the component ({} bytes) is over the record limit",
        python.len()
    );
    let broker = test_broker();
    let dir = TempDir::new("fleet-python");
    let config = fleet_config("fleet-python", &dir, &broker);
    let a = RunningHost::start(&config, false);
    let b = RunningHost::start(&config, false);
    let admin = AdminClient::new(&a.admin.expect("admin API").to_string());
    let report = admin.deploy(&python, None).expect("deploy");
    assert!(report.fleet, "deployed through the fleet topic");
    assert_eq!(report.deployed.key, Lang::Python.key());
    for (name, host) in [("a", &a), ("b", &b)] {
        assert!(
            host.wait_running(&Lang::Python.key(), Duration::from_secs(120)),
            "host {name} runs the Python plugin"
        );
    }
    let late = enricher::app::build_kafka_host(&config).expect("late host");
    assert_eq!(late.deployer.desired_key(), Lang::Python.key());
    assert_eq!(late.pipeline.plugin().key(), Lang::Python.key());
    drop(late);
    a.stop();
    b.stop();

    // On the topic: the record is compressed, marked, and within the limit.
    let records = read_all(&broker, &fleet_topic(&config), false);
    let key = format!("plugin/{}", Lang::Python.key());
    let record = records
        .iter()
        .find(|r| r.key.as_deref() == Some(key.as_bytes()))
        .expect("the Python plugin's record");
    assert_eq!(record.header("encoding"), Some(&b"gzip"[..]));
    assert!(
        record.value.len() <= MAX_PLUGIN_BYTES && record.value.len() < python.len(),
        "{} bytes on the topic for a {}-byte component",
        record.value.len(),
        python.len()
    );
}

#[test]
fn a_plugin_record_from_before_compression_is_still_read() {
    let broker = test_broker();
    let dir = TempDir::new("fleet-old-record");
    let config = fleet_config("fleet-old-record", &dir, &broker);
    let topic = fleet_topic(&config);
    drop(
        FleetPublisher::connect(&config.kafka, &topic, config.deploy.topic_shape())
            .expect("fleet topic created"),
    );
    // What the publisher wrote before: the component as is, no headers.
    let v2 = std::fs::read(V2).expect("v2");
    let active =
        format!(r#"{{"history":["{V2_KEY}"],"reason":"deployed before compression","at_ms":0}}"#);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .set("message.max.bytes", (MAX_PLUGIN_BYTES + 65536).to_string())
        .create()
        .expect("producer");
    let plugin_key = format!("plugin/{V2_KEY}");
    for (key, value) in [
        (plugin_key.as_str(), &v2[..]),
        ("active", active.as_bytes()),
    ] {
        producer
            .send(
                BaseRecord::<str, [u8]>::to(&topic)
                    .key(key)
                    .payload(value)
                    .partition(0),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let host = enricher::app::build_kafka_host(&config).expect("host");
    assert_eq!(
        host.deployer.desired_key(),
        V2_KEY,
        "the host follows the old record: {:?}",
        host.deployer.status().rejected
    );
    assert_eq!(host.pipeline.plugin().key(), V2_KEY);
}
