//! `enricher claims publish` and `enricher claims load` against a running
//! Kafka-mode host on the real test broker (nisshi): load is refused while
//! the host holds the file, with a message naming `claims publish`, and the
//! host goes on; the claims published instead reach it, and its summary
//! reports the changelog it applied.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::kafka::{broker, fresh_topics, stream_env};
use support::{Dir, enricher, ok, stderr_ok, wait_until};

struct Scratch {
    dir: Dir,
    broker: String,
    /// input, enriched, failed, changelog
    topics: [String; 4],
}

impl Scratch {
    fn new(label: &str) -> Self {
        let dir = Dir::new(&format!("claims-cli-{label}"));
        let topics = fresh_topics(
            &format!("cli-{label}"),
            ["in", "enriched", "failed", "changelog"],
        );
        Self {
            dir,
            broker: broker(),
            topics,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        stream_env(&mut cmd, &self.broker, &self.topics);
        cmd.env("CLAIMS_CHANGELOG_TOPIC", &self.topics[3])
            .env("LOOKUP_CACHE_MISSING_TTL", "1h")
            .env("LOOKUP_CACHE_TTL", "1h")
            .env("DUCKDB_URL", self.dir.join("claims.duckdb"));
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run enricher")
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.command(args))
    }

    /// Run `args`, which must succeed; its summary (stderr).
    fn summary(&self, args: &[&str]) -> String {
        stderr_ok(self.command(args))
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn tail(&self, topic: &str) -> Vec<serde_json::Value> {
        self.ok(&["topic", "tail", topic, "--values"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }
}

fn event(payment: &str, claim: &str) -> String {
    format!(
        r#"{{"payment_id":"{payment}","claim_id":"{claim}","payment_amount":10.00,"payment_date":"2024-01-15T10:30:00","processor_id":"P","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}}"#
    )
}

#[test]
fn load_on_a_held_file_names_publish_and_published_claims_reach_the_running_host() {
    let s = Scratch::new("held");
    let claims = s.write(
        "claims.csv",
        "claim_id,member_id,claim_amount\nCLM-1,MBR-1,10.00\n",
    );
    s.ok(&["claims", "load", &claims]);
    s.ok(&[
        "topic",
        "create",
        &s.topics[0],
        &s.topics[1],
        &s.topics[2],
        "--partitions",
        "1",
    ]);
    // Bad rows are refused with `claims load`'s messages, and nothing is published.
    let bad = s.write(
        "bad.csv",
        "claim_id,member_id,claim_amount\nCLM-2,MBR-2,abc\n",
    );
    let refused = s.run(&["claims", "publish", &bad]);
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("line 2: claim_amount is not a decimal number (abc)"),
        "{text}"
    );
    // The first publish creates the changelog topic.
    let late = s.write(
        "late.jsonl",
        r#"{"claim_id":"CLM-0","member_id":"MBR-0","claim_amount":"1.00"}"#,
    );
    assert!(
        s.summary(&["claims", "publish", &late])
            .contains("published 1 claims")
    );

    let mut host = s
        .command(&["run", "--delivery", "at-least-once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let input = s.write("events.jsonl", &format!("{}\n", event("PAY-1", "CLM-2")));
    // Let the host start and read PAY-1 (CLM-2 is not a claim yet: cached missing for 1h).
    produce(&s, &input);
    wait_until(
        Duration::from_secs(30),
        "PAY-1 failed as CLAIM_NOT_FOUND",
        || s.tail(&s.topics[2]).len() == 1,
    );

    let out = s.run(&["claims", "load", &claims]);
    assert!(
        !out.status.success(),
        "load must be refused while the host holds the file"
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("is in use by a running host"), "{text}");
    assert!(text.contains("enricher claims publish"), "{text}");
    assert!(
        host.try_wait().expect("try_wait").is_none(),
        "the host keeps running"
    );

    let update = s.write(
        "update.csv",
        "claim_id,member_id,claim_amount\nCLM-2,MBR-2,20.00\n",
    );
    assert!(
        s.summary(&["claims", "publish", &update])
            .contains("published 1 claims")
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until the host applied it, PAY-n fail; once applied, they are enriched.
    let mut n = 1;
    while s.tail(&s.topics[1]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the published claim never reached the host"
        );
        std::thread::sleep(Duration::from_millis(300));
        n += 1;
        let again = s.write(
            &format!("events{n}.jsonl"),
            &format!("{}\n", event(&format!("PAY-{n}"), "CLM-2")),
        );
        produce(&s, &again);
    }
    let enriched = s.tail(&s.topics[1]);
    assert_eq!(enriched[0]["member_id"], "MBR-2");

    Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status()
        .expect("kill");
    let output = host.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    // CLM-0 (published before the host started, applied at its start) and CLM-2.
    assert!(
        summary.contains(&format!(
            "changelog  {}: applied 2 (0 deletions",
            s.topics[3]
        )),
        "{summary}"
    );
}

/// Produce the lines of `file` to the input topic.
fn produce(s: &Scratch, file: &str) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let text = std::fs::read_to_string(file).expect("read");
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &s.broker)
        .create()
        .expect("producer");
    for line in text.lines() {
        producer
            .send(BaseRecord::<(), str>::to(&s.topics[0]).payload(line))
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}
