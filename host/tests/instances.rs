//! Production Kafka settings through the real binary: every command that
//! makes a Kafka client takes the `[kafka.properties]` (here from
//! `KAFKA_PROPERTY_<KEY>`), and two exactly-once instances on one machine, in
//! one consumer group, share the work without fencing each other (on the
//! transactional test broker, `ENRICHER_TEST_KAFKA_TXN`), while two given the
//! same instance id (so the same transactional id) do fence: the control that
//! shows the broker fences at all.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::kafka::{fresh_topics, payment_id_counts};
use support::{Dir, generated_db, ids, path, run_ok as ok};

/// The binary with its admin API on a free port.
fn enricher(args: &[&str]) -> Command {
    let mut cmd = support::enricher(args);
    cmd.env("ENRICHER_ADMIN_BIND", "127.0.0.1:0");
    cmd
}

#[test]
fn every_kafka_command_builds_its_clients_from_the_kafka_properties() {
    let dir = Dir::new("props");
    let db = generated_db(&dir.0, 100, 5);
    let db = path(&db);
    // librdkafka refuses a property it does not know when a client is built:
    // a command whose client skipped the user's properties would not fail.
    let marked = |args: &[&str], fleet: &str| {
        let out = enricher(args)
            .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
            .env("KAFKA_PROPERTY_ENRICHER_MARKER", "1")
            .env("ENRICHER_PLUGIN_TOPIC", fleet)
            .stdin(Stdio::null())
            .output()
            .expect("run enricher");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} ignored the property");
        assert!(
            stderr.contains("enricher.marker"),
            "{args:?} (fleet topic {fleet}) did not name the property: {stderr}"
        );
    };
    marked(&["topic", "create", "t1"], "");
    marked(&["topic", "tail", "t1"], "");
    marked(&["generate", "--count", "5", "--topic", "t1"], "");
    // With the fleet topic, its admin client is the first; without, the stream's.
    marked(&["run", "--db", db], "");
    marked(&["run", "--db", db], "off");
}

/// The summary's `consumed N` of a stopped `run`.
fn consumed(out: &Output) -> u64 {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split("consumed ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {text}"))
}

/// Two exactly-once instances' common ground: the transactional test broker
/// (`ENRICHER_TEST_KAFKA_TXN`), one claims file both read, and fresh topics
/// of 4 partitions, made here.
struct SharedGroup {
    broker: String,
    dir: Dir,
    db: std::path::PathBuf,
    topics: [String; 3],
}

impl SharedGroup {
    fn new(label: &str, prefix: &str) -> Self {
        let Ok(broker) = std::env::var("ENRICHER_TEST_KAFKA_TXN") else {
            panic!(
                "no transactional test broker: run scripts/test, or scripts/txn-broker-up and set ENRICHER_TEST_KAFKA_TXN"
            );
        };
        let dir = Dir::new(label);
        let group = Self {
            broker,
            db: generated_db(&dir.0, 10_000, 5),
            dir,
            topics: fresh_topics(prefix, ["in", "enriched", "failed"]),
        };
        let mut create = enricher(&["topic", "create", "--partitions", "4"]);
        create.args(&group.topics);
        group.env(&mut create);
        ok(&mut create);
        group
    }

    /// Points `cmd` at the broker and the topics, one group, small batches.
    fn env(&self, cmd: &mut Command) {
        cmd.env("KAFKA_BOOTSTRAP_SERVERS", &self.broker)
            .env("PAYMENT_EVENTS_TOPIC", &self.topics[0])
            .env("ENRICHED_PAYMENTS_TOPIC", &self.topics[1])
            .env("FAILED_PAYMENTS_TOPIC", &self.topics[2])
            .env("KAFKA_GROUP_ID", format!("{}-group", self.topics[0]))
            .env("ENRICHER_PLUGIN_TOPIC", "off")
            // The instances share one claims file, read-only: no changelog.
            .env("CLAIMS_CHANGELOG_TOPIC", "off")
            .env("ENRICHER_BATCH_SIZE", "50")
            .env("LOOKUP_CACHE", "none")
            .env("KAFKA_PROPERTY_SESSION_TIMEOUT_MS", "6000");
    }
}

#[test]
fn two_exactly_once_instances_on_one_machine_share_a_group_without_fencing() {
    let group = SharedGroup::new("eos2", "inst");
    let topics = &group.topics;
    let db = path(&group.db);
    let kafka = |cmd: &mut Command| group.env(cmd);
    // One instance names itself, the other takes the machine's default id
    // (the hostname's first free slot): neither may fence the other.
    let start = |instance: Option<&str>| -> Child {
        let mut cmd = enricher(&["run", "--delivery", "exactly-once", "--db", db]);
        kafka(&mut cmd);
        if let Some(id) = instance {
            cmd.env("ENRICHER_INSTANCE_ID", id);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn enricher run")
    };
    let children = [start(Some("instance-a")), start(None)];
    // Both join before any input exists, so the group splits the partitions.
    std::thread::sleep(Duration::from_secs(8));
    let events: u64 = 30_000;
    let mut generate = enricher(&["generate", "--seed", "5", "--claims", "10000"]);
    generate.args(["--count", &events.to_string(), "--topic", &topics[0]]);
    kafka(&mut generate);
    ok(&mut generate);
    let tail = |topic: &str| -> Vec<String> {
        let mut cmd = enricher(&["topic", "tail", topic, "--values"]);
        kafka(&mut cmd);
        String::from_utf8_lossy(&ok(&mut cmd).stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let outputs = || -> Vec<String> { topics[1..].iter().flat_map(|t| tail(t)).collect() };
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut out = outputs();
    while out.len() < events as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        out = outputs();
    }
    let stopped: Vec<Output> = children
        .into_iter()
        .map(|child| {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            child.wait_with_output().expect("wait")
        })
        .collect();
    for (i, o) in stopped.iter().enumerate() {
        assert!(
            o.status.success(),
            "instance {i} failed ({:?}):\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("admin API on http://127.0.0.1:") && !stderr.contains(":0 "),
            "instance {i} printed its ephemeral admin port: {stderr}"
        );
    }
    let counts = payment_id_counts(out.iter().map(String::as_str));
    let missing = ids(5, events).filter(|id| !counts.contains_key(id)).count();
    let duplicated = counts.values().filter(|n| **n > 1).count();
    assert_eq!(
        (missing, duplicated),
        (0, 0),
        "exactly once across both instances"
    );
    let per_instance: Vec<u64> = stopped.iter().map(consumed).collect();
    eprintln!("consumed per instance: {per_instance:?}");
    assert!(
        per_instance.iter().all(|n| *n > 0),
        "both instances made progress: {per_instance:?}"
    );
}

#[test]
fn two_exactly_once_instances_given_one_instance_id_fence_the_older() {
    let group = SharedGroup::new("eos-fence", "fence");
    let (dir, topics) = (&group.dir, &group.topics);
    let db = path(&group.db);
    let kafka = |cmd: &mut Command| group.env(cmd);
    let generate = |seed: &str| {
        let mut cmd = enricher(&["generate", "--seed", seed, "--claims", "10000"]);
        cmd.args(["--count", "5000", "--topic", &topics[0]]);
        kafka(&mut cmd);
        ok(&mut cmd);
    };
    let outputs = || -> usize {
        topics[1..]
            .iter()
            .map(|topic| {
                let mut cmd = enricher(&["topic", "tail", topic, "--values"]);
                kafka(&mut cmd);
                String::from_utf8_lossy(&ok(&mut cmd).stdout)
                    .lines()
                    .count()
            })
            .sum()
    };
    // The same id for both: the same transactional id. Static membership is
    // off so that the group's own fencing (one group.instance.id) is not what
    // stops the first; only the transactional id is shared.
    let start = |log: &str| -> Child {
        let mut cmd = enricher(&["run", "--delivery", "exactly-once", "--db", db]);
        kafka(&mut cmd);
        cmd.env("ENRICHER_INSTANCE_ID", "same-instance")
            .env("ENRICHER_KAFKA_STATIC_MEMBERSHIP", "false")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).expect("log"))
            .spawn()
            .expect("spawn enricher run")
    };
    let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let mut first = start("first.log");
    generate("5");
    let deadline = Instant::now() + Duration::from_secs(120);
    while outputs() < 5000 {
        assert!(
            Instant::now() < deadline,
            "the first instance works alone:\n{}",
            log("first.log")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The second takes the transactional id (a new epoch); the first's next
    // transaction, on the events produced now, must be refused.
    let mut second = start("second.log");
    std::thread::sleep(Duration::from_secs(3));
    generate("6");
    let deadline = Instant::now() + Duration::from_secs(90);
    let first_status = loop {
        if let Some(status) = first.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let second_alive = second.try_wait().expect("wait").is_none();
    for child in [&mut first, &mut second] {
        if child.try_wait().expect("wait").is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
    let (first_log, second_log) = (log("first.log"), log("second.log"));
    let first_status = first_status.unwrap_or_else(|| {
        panic!(
            "the first instance was not fenced within 90 s of the second taking its transactional id:\n\
             first:\n{first_log}\nsecond:\n{second_log}"
        )
    });
    assert!(
        !first_status.success(),
        "a fenced instance stops with an error: {first_status:?}\n{first_log}"
    );
    // Its last word, the error it stopped with, names the cause.
    let last = first_log.lines().rev().find(|l| l.starts_with("error:"));
    eprintln!("the first instance: {last:?}");
    assert!(
        last.is_some_and(|l| l.contains("fenced: another instance uses this transactional id")),
        "the first instance stops saying it was fenced over its transactional id:\n{first_log}"
    );
    assert!(
        second_alive && !second_log.contains("fenced"),
        "the newer instance keeps the id:\n{second_log}"
    );
}
