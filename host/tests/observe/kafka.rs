//! Kafka mode: a host consuming three partitions of the nisshi test broker,
//! scraped once everything is through, then stopped, and the counters
//! compared with what the output topics hold; its one-line status log says
//! the same numbers. In exactly-once mode on the transactional test broker
//! (Tansu), every commit is a transaction counted by the commit metrics.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::host::{Running, enricher, start, statuses, workdir};
use crate::support::ok;

fn broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("no test broker: run scripts/test, or scripts/kafka-up and set ENRICHER_TEST_KAFKA")
    })
}

fn txn_broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA_TXN").unwrap_or_else(|_| {
        panic!(
            "no transactional test broker: run scripts/test, or scripts/txn-broker-up and set \
             ENRICHER_TEST_KAFKA_TXN"
        )
    })
}

/// Fresh input and output topics on `broker`, with `n` events in the input.
struct Topics {
    broker: String,
    input: String,
    enriched: String,
    failed: String,
}

impl Topics {
    fn new(broker: String, label: &str, n: u64) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let [input, enriched, failed] =
            ["in", "enriched", "failed"].map(|t| format!("{label}-{t}-{stamp}"));
        let topics = Self {
            broker,
            input,
            enriched,
            failed,
        };
        let (input, enriched, failed) = (&topics.input, &topics.enriched, &topics.failed);
        topics.run_ok(&[
            "topic",
            "create",
            input,
            enriched,
            failed,
            "--partitions",
            "3",
        ]);
        topics.run_ok(&[
            "generate",
            "--count",
            &n.to_string(),
            "--claims",
            "2000",
            "--invalid-rate",
            "0.05",
            "--valid-claim-rate",
            "0.85",
            "--seed",
            "12",
            "--topic",
            input,
        ]);
        topics
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("KAFKA_BOOTSTRAP_SERVERS", &self.broker)
            .env("PAYMENT_EVENTS_TOPIC", &self.input)
            .env("ENRICHED_PAYMENTS_TOPIC", &self.enriched)
            .env("FAILED_PAYMENTS_TOPIC", &self.failed)
            .env("KAFKA_GROUP_ID", format!("{}-group", self.input))
            .env("ENRICHER_PLUGIN_TOPIC", "off");
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let mut cmd = enricher();
        cmd.args(args);
        self.env(&mut cmd);
        ok(&mut cmd)
    }

    fn tail(&self, topic: &str) -> String {
        self.run_ok(&["topic", "tail", topic, "--values"])
    }
}

fn stop(host: &mut Running) {
    let stopped = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status();
    assert!(stopped.expect("kill").success());
    assert!(host.child.wait().expect("wait").success(), "{}", host.log());
}

/// One status line, read back: `status: <total> in (+<added>, <rate>/s),
/// lag <lag> record(s), failed +<failed> (...)`.
#[derive(Debug)]
struct Status {
    total: u64,
    added: u64,
    lag: Option<u64>,
    failed: u64,
}

fn status_lines(log: &str) -> Vec<Status> {
    let number = |text: &str, after: &str| -> Option<u64> {
        let rest = &text[text.find(after)? + after.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    log.lines()
        .filter(|l| l.contains("enricher::status"))
        .filter_map(|l| {
            let text = &l[l.rfind("status: ")?..];
            Some(Status {
                total: number(text, "status: ")?,
                added: number(text, "(+")?,
                lag: number(text, "lag "),
                failed: number(text, "failed +")?,
            })
        })
        .collect()
}

#[test]
fn kafka_mode_metrics_equal_the_records_produced_per_output_and_status() {
    const N: u64 = 3000;
    let (dir, db) = workdir("kafka", 2000);
    let topics = Topics::new(broker(), "metrics", N);
    let mut cmd = enricher();
    cmd.args(["run", "--delivery", "at-least-once", "--db"])
        .arg(&db)
        .env("ENRICHER_BATCH_SIZE", "200")
        .env("ENRICHER_COMMIT_INTERVAL", "200ms")
        .env("ENRICHER_STATUS_INTERVAL", "300ms")
        .env("RUST_LOG", "warn,enricher::status=info")
        .stdout(Stdio::null());
    topics.env(&mut cmd);
    let mut host = start(cmd);
    let n = N as f64;
    let scrape = host.scrape_until(Duration::from_secs(120), |s| {
        let lag =
            s.0.iter()
                .filter(|x| x.name == "enricher_consumer_lag_records")
                .collect::<Vec<_>>();
        s.sum("enricher_records_out_total", &[]) >= n
            && s.sum("enricher_commit_duration_seconds_count", &[]) > 0.0
            && lag.len() == 3
            && lag.iter().all(|x| x.value == 0.0)
    });
    // A status line written after everything was through and the lag is 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !status_lines(&host.log())
        .iter()
        .any(|s| s.total == N && s.lag == Some(0))
    {
        assert!(
            Instant::now() < deadline,
            "no status line with {N} in and lag 0:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut host);

    scrape.check_shape(true);
    assert_eq!(scrape.sum("enricher_records_in_total", &[]), n);
    assert!(scrape.sum("enricher_commits_total", &[]) >= 1.0);
    assert_eq!(scrape.sum("enricher_aborts_total", &[]), 0.0);
    for partition in ["0", "1", "2"] {
        let lag = scrape.sum(
            "enricher_consumer_lag_records",
            &[("topic", &topics.input), ("partition", partition)],
        );
        assert_eq!(lag, 0.0, "partition {partition} fully consumed");
    }
    let (enriched_lines, failed_lines) =
        (topics.tail(&topics.enriched), topics.tail(&topics.failed));
    let failed_by_status = statuses(failed_lines.lines());
    assert_eq!(
        scrape.out_by_status("enriched"),
        statuses(enriched_lines.lines())
    );
    assert_eq!(scrape.out_by_status("failed"), failed_by_status);
    assert_eq!(
        scrape.sum(
            "enricher_pipeline_state",
            &[("mode", "kafka"), ("state", "running")]
        ),
        1.0
    );

    // The status lines add up: records in and failures per line sum to the
    // totals, and the lines' running total never goes back.
    let lines = status_lines(&host.log());
    assert!(lines.len() >= 2, "status lines: {lines:?}");
    let added: u64 = lines.iter().map(|s| s.added).sum();
    let failed: u64 = lines.iter().map(|s| s.failed).sum();
    assert_eq!(added, N, "{lines:?}");
    assert_eq!(failed, failed_by_status.values().sum::<u64>(), "{lines:?}");
    assert!(failed > 0, "the input has failures to report");
    assert!(
        lines.windows(2).all(|w| w[0].total <= w[1].total),
        "{lines:?}"
    );
    let log = host.log();
    let reason = failed_by_status.keys().next().expect("a failure reason");
    assert!(
        log.lines()
            .any(|l| l.contains("enricher::status") && l.contains(reason.as_str())),
        "failures are named by reason:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exactly_once_commits_are_counted_and_timed() {
    const N: u64 = 2000;
    let (dir, db) = workdir("kafka-eo", 2000);
    let topics = Topics::new(txn_broker(), "metrics-eo", N);
    let mut cmd = enricher();
    cmd.args(["run", "--delivery", "exactly-once", "--db"])
        .arg(&db)
        .env("ENRICHER_BATCH_SIZE", "100")
        .env("ENRICHER_COMMIT_INTERVAL", "100ms")
        // At most 500 inputs per transaction: several commits even when the
        // whole input arrives (and is enriched) within one commit interval.
        .env("ENRICHER_COMMIT_MAX_RECORDS", "500")
        .env("ENRICHER_STATUS_INTERVAL", "off")
        .stdout(Stdio::null());
    topics.env(&mut cmd);
    let mut host = start(cmd);
    let n = N as f64;
    let scrape = host.scrape_until(Duration::from_secs(120), |s| {
        let lag =
            s.0.iter()
                .filter(|x| x.name == "enricher_consumer_lag_records")
                .collect::<Vec<_>>();
        s.sum("enricher_records_out_total", &[]) >= n
            && lag.len() == 3
            && lag.iter().all(|x| x.value == 0.0)
    });
    stop(&mut host);

    scrape.check_shape(true);
    let commits = scrape.sum("enricher_commits_total", &[]);
    let aborts = scrape.sum("enricher_aborts_total", &[]);
    let timed = scrape.sum("enricher_commit_duration_seconds_count", &[]);
    let buckets = (scrape.0.iter())
        .filter(|s| s.name == "enricher_commit_duration_seconds_bucket")
        .map(|s| s.value)
        .fold(0.0, f64::max);
    // Several transactions (2000 records, at most 500 per transaction).
    assert!(commits >= 4.0, "commits {commits}");
    assert_eq!(aborts, 0.0, "nothing to abort in a clean run");
    // The lag is 0 only once the last transaction committed its offsets; each
    // transaction the loop commits is timed once, and the histogram's
    // buckets hold every observation (the `+Inf` one is the count).
    assert_eq!(timed, commits, "one duration per committed transaction");
    assert_eq!(buckets, timed);
    assert!(scrape.sum("enricher_commit_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(scrape.sum("enricher_records_in_total", &[]), n);
    let enriched = topics.tail(&topics.enriched);
    assert_eq!(
        scrape.out_by_status("enriched"),
        statuses(enriched.lines()),
        "read_committed sees what was counted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
