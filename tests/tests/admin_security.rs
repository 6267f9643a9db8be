//! The admin API's security with the real deployer and real plugins: a plugin
//! whose own `info()` reports an unsafe name is refused (422) over HTTP; on
//! the real test broker, a host configured with a token refuses anonymous
//! writes, and fleet topic records naming unsafe plugins (produced straight
//! to the topic) are refused and reported, never applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::admin::{AdminClient, AdminOptions, AdminServer, ClientError};
use enricher::config::{DeliveryMode, Secret};
use enricher::deploy::{AdminError, Deployer, PluginAdmin};
use enricher::runtime::{PluginEngine, PluginSettings};
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::test_plugins::{CHAOS, V2};
use enricher_tests::*;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const V1_KEY: &str = "payment-enrichment@0.1.1";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A deployer (built-in plugin first, no fleet) whose plugins get `params`.
fn deployer(dir: &TempDir, params: &[(&str, &str)]) -> Arc<Deployer> {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.deploy.topic = "off".into();
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let settings = PluginSettings {
        params: Arc::new(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..PluginSettings::default()
    };
    let engine = PluginEngine::with_settings(settings).expect("engine");
    Deployer::with_built_in(engine, lookup, &config.deploy).expect("deployer")
}

#[test]
fn a_plugin_whose_info_reports_an_unsafe_name_or_version_is_refused_with_422() {
    for (param, value) in [
        ("report-name", "chaos\n\u{1b}[2Jowned"),
        ("report-version", "1.0\r\nINFO fake log line"),
        ("report-name", "../../etc"),
    ] {
        let dir = TempDir::new("unsafe-info");
        let deployer = deployer(&dir, &[(param, value)]);
        let api = Arc::clone(&deployer) as Arc<dyn PluginAdmin>;
        let server = AdminServer::start(([127, 0, 0, 1], 0).into(), api, AdminOptions::default())
            .expect("admin API");
        let client = AdminClient::new(&server.local_addr().to_string());
        match client.deploy(&read(CHAOS), None) {
            Err(ClientError::Refused(AdminError::Rejected(why))) => {
                assert!(why.contains(&format!("plugin {}", &param[7..])), "{why}");
                assert!(!why.contains(['\n', '\r', '\u{1b}']), "escaped: {why:?}");
            }
            other => panic!("{param}={value:?}: expected a 422 refusal, got {other:?}"),
        }
        assert_eq!(deployer.list().len(), 1, "nothing was added");
        assert_eq!(deployer.status().active.key, V1_KEY);
    }
    // The same plugin with a safe name is taken (the refusal is the name's).
    let dir = TempDir::new("safe-info");
    let deployer = deployer(&dir, &[("report-name", "chaos-2")]);
    let report = deployer.deploy(&read(CHAOS), None).expect("deployed");
    assert_eq!(report.deployed.name, "chaos-2");
}

/// Produce `(key, value)` records straight to `topic`.
fn produce_raw(broker: &str, topic: &str, records: &[(&str, &[u8])]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("message.max.bytes", "100000000")
        .create()
        .expect("producer");
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(*key).payload(*value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Wait until the host's last event contains `what`.
fn wait_event(deployer: &Deployer, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = deployer.status().last_event.unwrap_or_default();
        if event.contains(what) {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no event with {what:?}; last: {event:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fleet_records_naming_unsafe_plugins_are_refused_and_reported_not_applied() {
    let broker = test_broker();
    let dir = TempDir::new("fleet-names");
    let topics = unique_topics("fleet-names");
    create_topics(&broker, &topics, 1);
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    let fleet_topic = config
        .deploy
        .fleet_topic(&config.kafka.group_id)
        .expect("a fleet topic");
    let host = RunningHost::start(&config, false);
    let v2 = read(V2);
    let evil_key = "plugin/evil\u{1b}]0;pwned\u{7}@0.2.0";
    produce_raw(&broker, &fleet_topic, &[(evil_key, &v2)]);
    let event = wait_event(&host.deployer, "fleet plugin record refused");
    assert!(
        event.contains(r"evil\u{1b}"),
        "escaped in the report: {event:?}"
    );
    assert!(!event.contains('\u{1b}'), "{event:?}");
    let history =
        br#"{"history":["payment-enrichment@0.1.1","evil\nname@1"],"reason":"x","at_ms":0}"#;
    produce_raw(&broker, &fleet_topic, &[("active", history)]);
    let event = wait_event(&host.deployer, "fleet activation refused");
    assert!(event.contains(r"evil\nname"), "{event:?}");
    assert_eq!(host.deployer.list().len(), 1, "no version was learned");
    assert_eq!(host.deployer.desired_key(), V1_KEY, "nothing was activated");
    // A well-named version on the same path is still followed.
    produce_raw(
        &broker,
        &fleet_topic,
        &[("plugin/payment-enrichment@0.2.0", &v2)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.deployer.list().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the good version was never learned"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    host.stop();
}

#[test]
fn a_host_with_a_token_refuses_anonymous_writes_and_takes_the_token() {
    let broker = test_broker();
    let dir = TempDir::new("token-host");
    let topics = unique_topics("token-host");
    create_topics(&broker, &topics, 1);
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    config.deploy.topic = "off".into();
    let token = "a-token-for-this-test-only-42";
    config.admin.token = Some(Secret(token.into()));
    let host = RunningHost::start(&config, false);
    let addr = host.admin.expect("admin API").to_string();
    let anonymous = AdminClient::new(&addr);
    match anonymous.deploy(&read(V2), None) {
        Err(ClientError::Refused(AdminError::Unauthorized(_))) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(host.deployer.list().len(), 1, "nothing deployed");
    anonymous.status().expect("reads stay open");
    let admin = anonymous.with_token(Some(token.into()));
    let report = admin
        .deploy(&read(V2), None)
        .expect("deploy with the token");
    assert_eq!(report.deployed.key, "payment-enrichment@0.2.0");
    host.stop();
}
