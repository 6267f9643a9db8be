//! Signed plugins on the real test broker (nisshi), with real hosts running
//! the real plugin components: a host configured with trusted keys
//! (`deploy.trusted-keys`) deploys only components signed by one of them,
//! whether they come through the admin API or straight from the fleet topic,
//! or from a watched folder, and refuses a `--plugin` file without a valid
//! signature at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::admin::{AdminClient, ClientError};
use enricher::app::StartError;
use enricher::config::{Config, DeliveryMode};
use enricher::deploy::signature::{
    PrivateKey, SignatureError, TrustedKeys, fingerprint, generate_key, key_pems, sign,
    signature_path,
};
use enricher::deploy::{
    AdminError, Deployer, DirWatcher, LocalOnly, PluginAdmin, PluginStatus, default_canaries,
};
use enricher::runtime::{DEFAULT_PLUGIN, PluginEngine};
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::test_plugins::V2;
use enricher_tests::*;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const V1_KEY: &str = "payment-enrichment@0.1.1";
const V2_KEY: &str = "payment-enrichment@0.2.0";

/// A key pair whose public half is written to `dir/<name>.pub`.
fn key_in(dir: &TempDir, name: &str) -> (PrivateKey, PathBuf) {
    let key = generate_key().expect("randomness");
    let (_, public) = key_pems(&key).expect("pem");
    let path = dir.join(&format!("{name}.pub"));
    std::fs::write(&path, public).expect("write the public key");
    (key, path)
}

/// A host config with its admin API on a free port, trusting `trusted`.
fn trusting_config(dir: &TempDir, broker: &str, topics: &[String; 3], trusted: &Path) -> Config {
    let mut config = host_config(dir, broker, topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    config.deploy.trusted_keys = vec![trusted.to_owned()];
    config
}

fn untrusted(result: Result<enricher::deploy::DeployReport, ClientError>) -> String {
    match result {
        Err(ClientError::Refused(AdminError::Untrusted(why))) => why,
        other => panic!("expected an untrusted refusal, got {other:?}"),
    }
}

#[test]
fn the_admin_api_deploys_only_components_signed_by_a_trusted_key() {
    let broker = test_broker();
    let dir = TempDir::new("signed-api");
    let topics = unique_topics("signed-api");
    create_topics(&broker, &topics, 3);
    let (mine, mine_pub) = key_in(&dir, "mine");
    let (other, _) = key_in(&dir, "other");
    let config = trusting_config(&dir, &broker, &topics, &mine_pub);
    let host = RunningHost::start(&config, false);
    let admin = AdminClient::new(&host.admin.expect("admin API").to_string());
    let v2 = std::fs::read(V2).expect("v2 plugin");

    let why = untrusted(admin.deploy(&v2, None));
    assert!(why.contains("not signed"), "{why}");
    let by_other = sign(&other, &v2);
    let why = untrusted(admin.deploy_signed(&v2, None, Some(by_other.as_bytes())));
    assert!(why.contains("verifies under none"), "{why}");
    // A signature of other bytes (a changed component) does not verify either.
    let of_other_bytes = sign(&mine, b"another component");
    untrusted(admin.deploy_signed(&v2, None, Some(of_other_bytes.as_bytes())));
    assert_eq!(admin.status().expect("status").active.key, V1_KEY);
    assert!(
        !host.deployer.knows(V2_KEY),
        "a refused component is not kept"
    );

    let signature = sign(&mine, &v2);
    let report = admin
        .deploy_signed(&v2, None, Some(signature.as_bytes()))
        .expect("a signed deploy");
    assert_eq!(report.deployed.key, V2_KEY);
    let mine_fp = fingerprint(&mine.verifying_key());
    assert_eq!(report.deployed.signed_by.as_deref(), Some(mine_fp.as_str()));
    assert!(host.wait_running(V2_KEY, Duration::from_secs(30)));
    let status = admin.status().expect("status");
    assert_eq!(status.trusted_keys, vec![mine_fp]);

    // The signature travels with the component on the fleet topic.
    let fleet = config
        .deploy
        .fleet_topic(&config.kafka.group_id)
        .expect("a fleet topic");
    let records = read_all(&broker, &fleet, false);
    let published = records
        .iter()
        .find(|r| r.key.as_deref() == Some(format!("plugin/{V2_KEY}").as_bytes()))
        .expect("v2 on the fleet topic");
    assert_eq!(published.header("signature"), Some(signature.as_bytes()));
    host.stop();
}

/// Produce a plugin record to the fleet topic as any client with write
/// access could, then the `active` record naming it.
fn produce_to_fleet(broker: &str, topic: &str, wasm: &[u8], signature: Option<&str>) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("compression.type", "gzip")
        .set("message.max.bytes", (70u32 << 20).to_string())
        .create()
        .expect("producer");
    let key = format!("plugin/{V2_KEY}");
    let mut record = BaseRecord::<str, [u8]>::to(topic).key(&key).payload(wasm);
    if let Some(signature) = signature {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: "signature",
            value: Some(signature.as_bytes()),
        }));
    }
    producer.send(record).map_err(|(e, _)| e).expect("send");
    let active =
        format!(r#"{{"history":["{V1_KEY}","{V2_KEY}"],"reason":"from outside","at_ms":0}}"#);
    producer
        .send(
            BaseRecord::<str, str>::to(topic)
                .key("active")
                .payload(&active),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The plugin version of every output record.
fn output_versions(broker: &str, topics: &[String; 3]) -> Vec<String> {
    read_outputs(broker, &topics[1], &topics[2])
        .iter()
        .flatten()
        .map(|r| String::from_utf8_lossy(r.header("plugin-version").unwrap_or(b"?")).into_owned())
        .collect()
}

#[test]
fn a_forged_record_on_the_fleet_topic_is_refused_and_a_signed_one_is_applied() {
    let broker = test_broker();
    let dir = TempDir::new("signed-fleet");
    let topics = unique_topics("signed-fleet");
    create_topics(&broker, &topics, 3);
    let (mine, mine_pub) = key_in(&dir, "mine");
    let (other, _) = key_in(&dir, "other");
    let config = trusting_config(&dir, &broker, &topics, &mine_pub);
    let fleet = config
        .deploy
        .fleet_topic(&config.kafka.group_id)
        .expect("a fleet topic");
    let host = RunningHost::start(&config, false);
    let v2 = std::fs::read(V2).expect("v2 plugin");
    let status = || -> PluginStatus { host.deployer.status() };

    // Unsigned, then signed by a key the host does not trust.
    produce_to_fleet(&broker, &fleet, &v2, None);
    wait_for(
        "the unsigned record refused",
        Duration::from_secs(30),
        || !status().rejected.is_empty(),
    );
    produce_to_fleet(&broker, &fleet, &v2, Some(&sign(&other, &v2)));
    wait_for(
        "the wrongly signed record refused",
        Duration::from_secs(30),
        || status().rejected.len() >= 2,
    );
    let rejected = status().rejected;
    assert!(
        rejected
            .iter()
            .all(|r| r.what == V2_KEY && r.from == "fleet topic")
    );
    assert!(rejected[0].reason.contains("not signed"), "{rejected:?}");
    assert!(
        rejected[1].reason.contains("verifies under none"),
        "{rejected:?}"
    );
    assert!(
        !host.deployer.knows(V2_KEY),
        "a forged component is never kept"
    );
    assert_eq!(host.deployer.desired_key(), V1_KEY);

    // It never ran: every event so far is enriched by v1.
    produce_values(
        &broker,
        &topics[0],
        &(0..20)
            .map(|i| event(&format!("PAY-F{i}"), "CLM-001", "10.00"))
            .collect::<Vec<_>>(),
    );
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        20,
        Duration::from_secs(60),
    );
    let before = output_versions(&broker, &topics);
    assert!(
        before.iter().all(|v| v.contains("0.1.1")),
        "outputs before the signed record: {before:?}"
    );

    // Properly signed, produced the same way: applied.
    produce_to_fleet(&broker, &fleet, &v2, Some(&sign(&mine, &v2)));
    assert!(
        host.wait_running(V2_KEY, Duration::from_secs(30)),
        "the signed record is applied: {:?}",
        status().last_event
    );
    let mine_fp = fingerprint(&mine.verifying_key());
    assert_eq!(status().active.signed_by.as_deref(), Some(mine_fp.as_str()));
    produce_values(
        &broker,
        &topics[0],
        &(0..20)
            .map(|i| event(&format!("PAY-S{i}"), "CLM-001", "10.00"))
            .collect::<Vec<_>>(),
    );
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        40,
        Duration::from_secs(60),
    );
    let after = output_versions(&broker, &topics);
    assert!(after.iter().any(|v| v.contains("0.2.0")), "{after:?}");
    host.stop();
}

#[test]
fn a_plugin_file_without_a_valid_signature_is_refused_at_start() {
    let dir = TempDir::new("signed-start");
    let (mine, mine_pub) = key_in(&dir, "mine");
    let (other, _) = key_in(&dir, "other");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let plugin = dir.join("v2.wasm");
    let v2 = std::fs::read(V2).expect("v2 plugin");
    std::fs::write(&plugin, &v2).expect("copy the plugin");
    let mut config = config_for(&db);
    config.plugin.path = Some(plugin.clone());
    config.deploy.trusted_keys = vec![mine_pub];

    let refusal = |config: &Config| match enricher::app::build_pipeline(config) {
        Err(StartError::Unsigned { plugin: p, error }) => {
            assert_eq!(p, plugin.display().to_string());
            error
        }
        Err(e) => panic!("expected an unsigned refusal, got {e}"),
        Ok(_) => panic!("expected an unsigned refusal, the host started"),
    };
    assert_eq!(refusal(&config), SignatureError::Missing);
    std::fs::write(signature_path(&plugin), sign(&other, &v2)).expect("write .sig");
    assert_eq!(refusal(&config), SignatureError::Untrusted(1));
    std::fs::write(signature_path(&plugin), sign(&mine, &v2)).expect("write .sig");
    let pipeline = enricher::app::build_pipeline(&config).expect("a signed plugin starts");
    assert_eq!(pipeline.plugin().key(), V2_KEY);

    // No trusted keys (the default): the unsigned file starts as before.
    std::fs::remove_file(signature_path(&plugin)).expect("remove .sig");
    config.deploy.trusted_keys.clear();
    enricher::app::build_pipeline(&config).expect("signatures are off by default");
}

#[test]
fn the_watched_folder_deploys_a_file_only_once_its_signature_verifies() {
    let dir = TempDir::new("signed-watch");
    let (mine, mine_pub) = key_in(&dir, "mine");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::with_settings((&config.plugin).into()).expect("engine");
    let initial = engine.load_default().expect("the built-in plugin");
    let trusted = TrustedKeys::load(&[mine_pub]).expect("trusted key");
    let deployer = Arc::new(
        Deployer::new(
            engine,
            initial,
            DEFAULT_PLUGIN,
            lookup,
            default_canaries(),
            &config.deploy,
            Arc::new(LocalOnly),
        )
        .trusting(trusted),
    );
    let watched = dir.join("plugins");
    std::fs::create_dir_all(&watched).expect("plugins folder");
    let every = Duration::from_millis(100);
    let _watcher =
        DirWatcher::start(watched.clone(), Arc::clone(&deployer), every).expect("watcher");
    let v2 = std::fs::read(V2).expect("v2 plugin");
    let file = watched.join("v2.wasm");
    std::fs::write(&file, &v2).expect("drop v2 in");
    wait_for("the unsigned file refused", Duration::from_secs(30), || {
        !deployer.status().rejected.is_empty()
    });
    let rejected = deployer.status().rejected;
    assert_eq!(rejected[0].from, "watched folder");
    assert!(rejected[0].reason.contains("not signed"), "{rejected:?}");
    assert!(!deployer.knows(V2_KEY));
    std::fs::write(signature_path(&file), sign(&mine, &v2)).expect("its signature");
    wait_for("the signed file deployed", Duration::from_secs(60), || {
        deployer.desired_key() == V2_KEY
    });
}
