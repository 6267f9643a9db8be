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

/// One HTTP/1.1 request written by hand, as a browser sends it after DNS
/// rebinding (`Host` and `Origin` name the page, not the address): status, body.
fn as_page(addr: &str, name: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    request_as_page("POST", addr, name, path, content_type, body)
}

fn request_as_page(
    method: &str,
    addr: &str,
    name: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let port = addr.rsplit_once(':').expect("host:port").1;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {name}:{port}\r\nOrigin: http://{name}:{port}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(body).expect("body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, answer)
}

/// A Kafka host on the default configuration (loopback, no token) and a page
/// whose name was re-pointed at 127.0.0.1: its deploy and claims writes,
/// same-origin for the browser, are refused, and so are its reads of the
/// metrics, plugins and status; the same deploy naming `localhost`, or a name
/// in `admin.allowed-hosts`, is taken, and the reads answer them.
#[test]
fn calls_under_a_foreign_host_name_are_refused_on_a_host_without_a_token() {
    let broker = test_broker();
    let dir = TempDir::new("rebinding-host");
    let topics = unique_topics("rebinding-host");
    create_topics(&broker, &topics, 1);
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    config.deploy.topic = "off".into();
    config.admin.allowed_hosts = vec!["enricher.internal".into()];
    let host = RunningHost::start(&config, false);
    let addr = host.admin.expect("admin API").to_string();
    let wasm = read(V2);
    let (status, answer) = as_page(
        &addr,
        "evil.example",
        "/v1/plugins",
        "application/wasm",
        &wasm,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("DNS rebinding"), "{answer}");
    let claims = b"claim_id,member_id,claim_amount\nCLM-EVIL,MBR-EVIL,1.00\n";
    let (status, answer) = as_page(&addr, "evil.example", "/v1/claims", "text/csv", claims);
    assert_eq!(status, 403, "{answer}");
    assert_eq!(host.deployer.list().len(), 1, "nothing deployed");
    for path in ["/metrics", "/v1/plugins", "/v1/status"] {
        let (status, answer) =
            request_as_page("GET", &addr, "evil.example", path, "text/plain", b"");
        assert_eq!(status, 403, "{path}: {answer}");
        assert!(answer.contains("DNS rebinding"), "{path}: {answer}");
        for name in ["localhost", "enricher.internal"] {
            let (status, answer) = request_as_page("GET", &addr, name, path, "text/plain", b"");
            assert_eq!(status, 200, "{path} as {name}: {answer}");
        }
    }

    let (status, answer) = as_page(&addr, "localhost", "/v1/plugins", "application/wasm", &wasm);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("payment-enrichment@0.2.0"), "{answer}");
    let (status, answer) = as_page(
        &addr,
        "enricher.internal",
        "/v1/plugins/rollback",
        "application/json",
        b"",
    );
    assert_eq!(status, 200, "a configured name: {answer}");
    host.stop();
}

/// A fleet whose plugin publish waits for the other deploy to get there too,
/// and whose activation publish takes a moment: two deploys then reach their
/// history at once, the interleaving that used to drop one of them.
struct LockstepFleet {
    both_here: std::sync::Barrier,
}

impl enricher::deploy::Fleet for LockstepFleet {
    fn topic(&self) -> Option<&str> {
        None
    }

    fn publish_plugin(
        &self,
        _: &str,
        _: Option<&str>,
        _: &[u8],
        _: Option<&str>,
    ) -> Result<(), String> {
        self.both_here.wait();
        Ok(())
    }

    fn publish_active(&self, _: &[String], _: &str) -> Result<(), String> {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }
}

/// Two deploys at once over HTTP: both are kept in the history (a rollback
/// from the second returns to the first, not to the version before both);
/// `rollback?to=NAME@VERSION` returns to that version, 404 for one this host
/// does not know, and any other parameter is a 400.
#[test]
fn two_deploys_at_once_both_stay_in_the_history_and_rollback_takes_a_target() {
    let dir = TempDir::new("deploys-at-once");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.deploy.topic = "off".into();
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::new().expect("engine");
    let initial = engine.load_default().expect("built-in plugin");
    let fleet = Arc::new(LockstepFleet {
        both_here: std::sync::Barrier::new(2),
    });
    let deployer = Arc::new(Deployer::new(
        engine,
        initial,
        enricher::runtime::DEFAULT_PLUGIN,
        lookup,
        enricher::deploy::default_canaries(),
        &config.deploy,
        fleet,
    ));
    let api = Arc::clone(&deployer) as Arc<dyn PluginAdmin>;
    let server = AdminServer::start(([127, 0, 0, 1], 0).into(), api, AdminOptions::default())
        .expect("admin API");
    let addr = server.local_addr().to_string();
    let deploys: Vec<_> = [V2, CHAOS]
        .into_iter()
        .map(|plugin| {
            let addr = addr.clone();
            std::thread::spawn(move || AdminClient::new(&addr).deploy(&read(plugin), None))
        })
        .collect();
    let keys: Vec<String> = deploys
        .into_iter()
        .map(|d| {
            d.join()
                .expect("deploy thread")
                .expect("deployed")
                .deployed
                .key
        })
        .collect();
    // No pipeline follows this deployer: what it would run is its desired version.
    let status = deployer.status();
    let last = deployer.desired_key();
    assert!(keys.contains(&last), "{keys:?} {last}");
    let first = keys.iter().find(|k| **k != last).expect("two keys").clone();
    assert_eq!(
        status.previous.as_deref(),
        Some(first.as_str()),
        "the deploy that went first is still in the history"
    );

    let rollback = |query: &str| {
        as_page(
            &addr,
            "localhost",
            &format!("/v1/plugins/rollback{query}"),
            "application/json",
            b"",
        )
    };
    let (status, answer) = rollback("?to=nope%401.0.0");
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = rollback("?target=payment-enrichment%400.1.1");
    assert_eq!(status, 400, "an unknown parameter: {answer}");
    assert!(answer.contains("target"), "{answer}");
    let (status, answer) = rollback("?to=no-version");
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        deployer.desired_key(),
        last,
        "nothing changed by the refusals"
    );
    let (status, answer) = rollback("?to=payment-enrichment%400.1.1");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(deployer.desired_key(), V1_KEY);
    // Without a target: one step back, as before.
    let report = AdminClient::new(&addr).rollback();
    assert!(
        report.is_err(),
        "nothing before the first version: {report:?}"
    );
}
