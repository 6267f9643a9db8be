//! Kafka mode on the nisshi test broker: a host consuming three partitions,
//! scraped once everything is through; then stopped, and the counters
//! compared with what the output topics hold.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::host::{enricher, ok, start, statuses, workdir};

fn broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("no test broker: run scripts/test, or scripts/kafka-up and set ENRICHER_TEST_KAFKA")
    })
}

#[test]
fn kafka_mode_metrics_equal_the_records_produced_per_output_and_status() {
    const N: u64 = 3000;
    let broker = broker();
    let (dir, db) = workdir("kafka", 2000);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let [input, enriched, failed] =
        ["in", "enriched", "failed"].map(|t| format!("metrics-{t}-{stamp}"));
    let with_topics = |cmd: &mut Command| {
        cmd.env("KAFKA_BOOTSTRAP_SERVERS", &broker)
            .env("PAYMENT_EVENTS_TOPIC", &input)
            .env("ENRICHED_PAYMENTS_TOPIC", &enriched)
            .env("FAILED_PAYMENTS_TOPIC", &failed)
            .env("KAFKA_GROUP_ID", format!("{input}-group"))
            .env("ENRICHER_PLUGIN_TOPIC", "off");
    };
    let run_ok = |args: &[&str]| {
        let mut cmd = enricher();
        cmd.args(args);
        with_topics(&mut cmd);
        ok(&mut cmd)
    };
    run_ok(&[
        "topic",
        "create",
        &input,
        &enriched,
        &failed,
        "--partitions",
        "3",
    ]);
    run_ok(&[
        "generate",
        "--count",
        &N.to_string(),
        "--claims",
        "2000",
        "--invalid-rate",
        "0.05",
        "--valid-claim-rate",
        "0.85",
        "--seed",
        "12",
        "--topic",
        &input,
    ]);

    let mut cmd = enricher();
    cmd.args(["run", "--delivery", "at-least-once", "--db"])
        .arg(&db)
        .env("ENRICHER_BATCH_SIZE", "200")
        .env("ENRICHER_COMMIT_INTERVAL", "200ms")
        .stdout(Stdio::null());
    with_topics(&mut cmd);
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
    let stopped = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status();
    assert!(stopped.expect("kill").success());
    assert!(host.child.wait().expect("wait").success());

    scrape.check_shape(true);
    assert_eq!(scrape.sum("enricher_records_in_total", &[]), n);
    assert!(scrape.sum("enricher_commits_total", &[]) >= 1.0);
    assert_eq!(scrape.sum("enricher_aborts_total", &[]), 0.0);
    for partition in ["0", "1", "2"] {
        let lag = scrape.sum(
            "enricher_consumer_lag_records",
            &[("topic", &input), ("partition", partition)],
        );
        assert_eq!(lag, 0.0, "partition {partition} fully consumed");
    }
    let tail = |topic: &str| run_ok(&["topic", "tail", topic, "--values"]);
    let (enriched_lines, failed_lines) = (tail(&enriched), tail(&failed));
    assert_eq!(
        scrape.out_by_status("enriched"),
        statuses(enriched_lines.lines())
    );
    assert_eq!(
        scrape.out_by_status("failed"),
        statuses(failed_lines.lines())
    );
    assert_eq!(
        scrape.sum(
            "enricher_pipeline_state",
            &[("mode", "kafka"), ("state", "running")]
        ),
        1.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
