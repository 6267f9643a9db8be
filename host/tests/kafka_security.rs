//! Kafka over TLS and SASL with the real binary and real brokers (nisshi
//! 0.8.1, at-least-once: it has no transactions), set as a user sets them:
//! `KAFKA_PROPERTY_SECURITY_PROTOCOL`, `KAFKA_PROPERTY_SSL_CA_LOCATION`,
//! `KAFKA_PROPERTY_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`.
//!
//! Over TLS, SASL/SCRAM-SHA-256, SASL/SCRAM-SHA-512 and SASL_SSL (SCRAM-SHA-512
//! over TLS), every Kafka command works: `topic create`, `claims publish`
//! before and during a run, `enricher run` in Kafka mode enriching events from
//! `generate --topic` and applying the published claims (the changelog
//! consumer), a plugin deployed through the fleet topic, `topic tail`, and
//! `redrive` enriching a payment that had failed before its claim was
//! published. nisshi offers SCRAM-SHA-256 and SCRAM-SHA-512 only (no PLAIN).
//!
//! Then the settings that cannot work: a wrong password, a certificate the
//! client does not trust, plaintext against the TLS listener, and PLAIN
//! against the SCRAM listener. Every command exits non-zero within
//! [`FAIL_FAST`] (instead of retrying in silence), its error naming the cause.
//!
//! The brokers come from scripts/test (scripts/kafka-up --tls, --sasl and
//! --sasl --tls): `ENRICHER_TEST_KAFKA_TLS` and its CA
//! `ENRICHER_TEST_KAFKA_TLS_CA` (beside it, `other-ca.crt` signed nothing),
//! `ENRICHER_TEST_KAFKA_SASL`, `ENRICHER_TEST_KAFKA_SASL_SSL` and its CA
//! `ENRICHER_TEST_KAFKA_SASL_SSL_CA`, and the SASL user
//! `ENRICHER_TEST_KAFKA_SASL_USER` (`name:password`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[path = "support/mod.rs"]
mod support;

use support::kafka::{fresh_topics, stream_env};
use support::{Dir, enricher, generated_db, ok, path, stderr_ok, text, wait_until};

/// A command refused for its security settings must exit within this.
const FAIL_FAST: Duration = Duration::from_secs(15);

/// One broker and the librdkafka settings that reach it.
#[derive(Clone)]
struct Secured {
    label: &'static str,
    servers: String,
    properties: Vec<(&'static str, String)>,
}

impl Secured {
    /// The settings as a user sets them: `sasl.username` and
    /// `sasl.password` as `KAFKA_SASL_*`, the rest as `KAFKA_PROPERTY_<KEY>`.
    fn env(&self) -> Vec<(String, String)> {
        self.properties
            .iter()
            .map(|(key, value)| {
                let name = match *key {
                    "sasl.username" => "KAFKA_SASL_USERNAME".to_owned(),
                    "sasl.password" => "KAFKA_SASL_PASSWORD".to_owned(),
                    key => format!("KAFKA_PROPERTY_{}", key.to_uppercase().replace('.', "_")),
                };
                (name, value.clone())
            })
            .collect()
    }

    /// The same with `key` set to `value`.
    fn with(mut self, key: &'static str, value: &str) -> Self {
        self.properties.retain(|(k, _)| *k != key);
        self.properties.push((key, value.to_owned()));
        self
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "no {name}: run scripts/test, or start the brokers with scripts/kafka-up --tls, \
             --sasl and --sasl --tls (see its header) and set the ENRICHER_TEST_KAFKA_* variables"
        )
    })
}

fn tls() -> Secured {
    Secured {
        label: "tls",
        servers: var("ENRICHER_TEST_KAFKA_TLS"),
        properties: vec![
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", var("ENRICHER_TEST_KAFKA_TLS_CA")),
        ],
    }
}

fn sasl_user() -> Vec<(&'static str, String)> {
    let user = var("ENRICHER_TEST_KAFKA_SASL_USER");
    let (name, password) = user
        .split_once(':')
        .expect("ENRICHER_TEST_KAFKA_SASL_USER is name:password");
    vec![
        ("sasl.username", name.to_owned()),
        ("sasl.password", password.to_owned()),
    ]
}

fn sasl(label: &'static str, mechanism: &str) -> Secured {
    let mut properties = vec![
        ("security.protocol", "SASL_PLAINTEXT".to_owned()),
        ("sasl.mechanism", mechanism.to_owned()),
    ];
    properties.extend(sasl_user());
    Secured {
        label,
        servers: var("ENRICHER_TEST_KAFKA_SASL"),
        properties,
    }
}

fn sasl_ssl(mechanism: &str) -> Secured {
    let mut properties = vec![
        ("security.protocol", "SASL_SSL".to_owned()),
        ("ssl.ca.location", var("ENRICHER_TEST_KAFKA_SASL_SSL_CA")),
        ("sasl.mechanism", mechanism.to_owned()),
    ];
    properties.extend(sasl_user());
    Secured {
        label: "sasl-ssl",
        servers: var("ENRICHER_TEST_KAFKA_SASL_SSL"),
        properties,
    }
}

/// A scratch folder, its claims database, fresh topics and the broker.
struct Scenario {
    dir: Dir,
    db: PathBuf,
    /// input, enriched, failed, claims changelog, fleet (plugins)
    topics: [String; 5],
    broker: Secured,
}

impl Scenario {
    fn new(broker: Secured) -> Self {
        let dir = Dir::new(&format!("kafka-security-{}", broker.label));
        // The claims `generate --seed 7 --claims 100` refers to.
        let db = generated_db(&dir.0, 100, 7);
        let topics = fresh_topics(
            &format!("sec-{}", broker.label),
            ["in", "enriched", "failed", "changelog", "plugins"],
        );
        Self {
            dir,
            db,
            topics,
            broker,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        stream_env(&mut cmd, &self.broker.servers, &self.topics);
        cmd.envs(self.broker.env())
            .env("CLAIMS_CHANGELOG_TOPIC", &self.topics[3])
            .env("ENRICHER_PLUGIN_TOPIC", &self.topics[4])
            .env("ENRICHER_DELIVERY", "at-least-once")
            .env("DUCKDB_URL", &self.db)
            // A regression fails in bounded time instead of waiting for ever.
            .env("ENRICHER_KAFKA_STARTUP_TIMEOUT", "30s");
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.command(args))
    }

    fn summary(&self, args: &[&str]) -> String {
        stderr_ok(self.command(args))
    }

    /// `topic tail TOPIC --values`, as JSON.
    fn tail(&self, topic: &str) -> Vec<serde_json::Value> {
        self.ok(&["topic", "tail", topic, "--values"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    fn write(&self, name: &str, body: &str) -> String {
        let file = self.dir.join(name);
        std::fs::write(&file, body).expect("write");
        path(&file).to_owned()
    }

    fn publish(&self, claim: &str, member: &str) {
        let file = self.write(
            &format!("{claim}.csv"),
            &format!("claim_id,member_id,claim_amount\n{claim},{member},10.00\n"),
        );
        let summary = self.summary(&["claims", "publish", &file]);
        assert!(summary.contains("published 1 claims"), "{summary}");
    }

    /// Payments into the input topic, through a client of the test's own
    /// with the same settings.
    fn produce(&self, payments: &[(&str, &str)]) {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.broker.servers);
        for (key, value) in &self.broker.properties {
            config.set(*key, value);
        }
        let producer: BaseProducer = config.create().expect("producer");
        for (payment, claim) in payments {
            let event = support::event(payment, claim);
            producer
                .send(BaseRecord::<(), str>::to(&self.topics[0]).payload(&event))
                .expect("send");
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
    }

    /// The payment ids in `topic`.
    fn payments(&self, topic: &str) -> Vec<String> {
        self.tail(topic)
            .iter()
            .filter_map(|v| v["payment_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Every Kafka command, end to end, against `broker`.
fn every_command_works(broker: Secured) {
    let s = Scenario::new(broker);
    let [input, enriched, failed, changelog, fleet] = s.topics.clone();
    s.ok(&[
        "topic",
        "create",
        &input,
        &enriched,
        &failed,
        "--partitions",
        "1",
    ]);
    // Published before the host starts: the first publish creates the
    // changelog, the host applies it at start.
    s.publish("CLM-EARLY", "MBR-EARLY");

    let mut host = support::host::start(s.command(&["run"]));
    s.summary(&[
        "generate", "--count", "40", "--seed", "7", "--claims", "100", "--topic", &input,
    ]);
    wait_until(
        Duration::from_secs(60),
        "40 events enriched or failed",
        || s.tail(&enriched).len() + s.tail(&failed).len() >= 40,
    );
    // A payment for a claim nobody published yet fails...
    s.produce(&[("PAY-EARLY", "CLM-EARLY"), ("PAY-LATE-0", "CLM-LATE")]);
    wait_until(Duration::from_secs(30), "PAY-LATE-0 failed", || {
        s.payments(&failed).iter().any(|p| p == "PAY-LATE-0")
    });
    // ... and once published to the running host, the next one is enriched.
    s.publish("CLM-LATE", "MBR-LATE");
    let mut n = 0;
    wait_until(Duration::from_secs(30), "a PAY-LATE enriched", || {
        n += 1;
        s.produce(&[(&format!("PAY-LATE-{n}"), "CLM-LATE")]);
        std::thread::sleep(Duration::from_millis(300));
        s.payments(&enriched)
            .iter()
            .any(|p| p.starts_with("PAY-LATE-"))
    });
    let out = s.tail(&enriched);
    let member = |payment: &str| {
        out.iter()
            .find(|v| v["payment_id"] == payment)
            .map(|v| v["member_id"].clone())
    };
    assert_eq!(
        member("PAY-EARLY"),
        Some("MBR-EARLY".into()),
        "applied at start"
    );
    assert!(
        out.iter().any(|v| v["member_id"] == "MBR-LATE"),
        "applied while running"
    );

    // A plugin deployed through the fleet topic reaches the host.
    let admin = host.admin.clone();
    let deployed = s.ok(&[
        "plugin",
        "deploy",
        env!("ENRICHER_RAW_PLUGIN"),
        "--name",
        "fleet-check",
        "--admin",
        &admin,
    ]);
    assert!(
        deployed.contains(&format!("to the fleet via {fleet}")),
        "{deployed}"
    );
    wait_until(Duration::from_secs(30), "the fleet's plugin active", || {
        s.ok(&["plugin", "status", "--admin", &admin])
            .contains("active      fleet-check@")
    });

    Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status()
        .expect("kill");
    let status = host.child.wait().expect("wait");
    let log = host.log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("changelog  {changelog}: applied 2 (0 deletions")),
        "{log}"
    );

    // Redrive: PAY-LATE-0 failed before its claim existed; now it is enriched.
    let summary = s.summary(&["redrive", "--reason", "CLAIM_NOT_FOUND"]);
    assert!(summary.contains("redrive: read "), "{summary}");
    assert!(
        s.payments(&enriched).iter().any(|p| p == "PAY-LATE-0"),
        "PAY-LATE-0 re-driven and enriched:\n{summary}"
    );
}

#[test]
fn over_tls_every_kafka_command_works() {
    every_command_works(tls());
}

#[test]
fn over_sasl_scram_sha_256_every_kafka_command_works() {
    every_command_works(sasl("sasl-256", "SCRAM-SHA-256"));
}

#[test]
fn over_sasl_scram_sha_512_every_kafka_command_works() {
    every_command_works(sasl("sasl-512", "SCRAM-SHA-512"));
}

#[test]
fn over_sasl_ssl_every_kafka_command_works() {
    every_command_works(sasl_ssl("SCRAM-SHA-512"));
}

/// Every Kafka command with `broker`'s settings exits non-zero within
/// [`FAIL_FAST`], its error containing each of `names`.
fn every_command_fails_fast(broker: Secured, names: &[&str]) {
    let dir = Dir::new(&format!("kafka-refused-{}", broker.label));
    let claims = dir.join("claims.csv");
    std::fs::write(
        &claims,
        "claim_id,member_id,claim_amount\nCLM-1,MBR-1,1.00\n",
    )
    .expect("write");
    let db = dir.join("claims.duckdb");
    let commands: [&[&str]; 6] = [
        &["run"],
        &["topic", "create", "refused"],
        &["topic", "tail", "refused"],
        &["claims", "publish", path(&claims)],
        &["redrive"],
        &["generate", "--count", "1", "--topic", "refused"],
    ];
    for args in commands {
        let mut cmd = enricher(args);
        cmd.envs(broker.env())
            .env("KAFKA_BOOTSTRAP_SERVERS", &broker.servers)
            .env("CLAIMS_CHANGELOG_TOPIC", "refused-changelog")
            .env("DUCKDB_URL", Path::new(&db))
            .env("ENRICHER_DELIVERY", "at-least-once")
            .env("ENRICHER_ADMIN_BIND", "127.0.0.1:0")
            .env("ENRICHER_KAFKA_STARTUP_TIMEOUT", "60s");
        let started = Instant::now();
        let out = cmd.output().expect("run enricher");
        let took = started.elapsed();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded:\n{stderr}");
        assert!(
            took < FAIL_FAST,
            "{args:?} took {took:?} (limit {FAIL_FAST:?}) to fail:\n{stderr}"
        );
        for name in names {
            assert!(
                stderr.contains(name),
                "{args:?}: the error does not name {name:?}:\n{stderr}"
            );
        }
    }
}

#[test]
fn a_wrong_password_fails_fast_naming_the_authentication() {
    every_command_fails_fast(
        sasl("wrong-password", "SCRAM-SHA-512").with("sasl.password", "not-the-password"),
        &[
            "SASL authentication failed",
            "invalid-proof",
            "sasl.password",
        ],
    );
}

#[test]
fn an_untrusted_certificate_fails_fast_naming_the_ca_setting() {
    let other = Path::new(&var("ENRICHER_TEST_KAFKA_TLS_CA")).with_file_name("other-ca.crt");
    every_command_fails_fast(
        tls().with("ssl.ca.location", path(&other)),
        &["certificate verify failed", "ssl.ca.location"],
    );
}

#[test]
fn plaintext_against_the_tls_listener_fails_fast_naming_the_protocol() {
    let plaintext = Secured {
        label: "plaintext-on-tls",
        servers: var("ENRICHER_TEST_KAFKA_TLS"),
        properties: Vec::new(),
    };
    every_command_fails_fast(
        plaintext,
        &["as a TLS listener does", "security.protocol", "SSL"],
    );
}

#[test]
fn a_mechanism_the_broker_does_not_offer_fails_fast_naming_it() {
    every_command_fails_fast(
        sasl("plain", "PLAIN"),
        &[
            "Unsupported SASL mechanism",
            "SCRAM-SHA-512,SCRAM-SHA-256",
            "sasl.mechanism",
        ],
    );
}
