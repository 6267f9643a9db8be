//! `enricher-bench kafka --json` in exactly-once mode on the transactional
//! test broker (`ENRICHER_TEST_KAFKA_TXN`, Tansu): both latency runs see the
//! output of every paced input and report their figures as JSON. Tansu
//! answers a group join only after half the session timeout (22.5 s at the
//! default), longer than the reader waits for an output: this is the
//! "no output seen" of issue 14, so the session timeout is left at its default.

use std::process::Command;

#[test]
fn exactly_once_latency_runs_see_every_output_and_print_one_json_object() {
    let Ok(broker) = std::env::var("ENRICHER_TEST_KAFKA_TXN") else {
        panic!(
            "no transactional test broker: run scripts/test, or scripts/txn-broker-up and set ENRICHER_TEST_KAFKA_TXN"
        );
    };
    let dir = std::env::temp_dir().join(format!("enricher-bench-kafka-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_enricher-bench"))
        .args(["kafka", "--json", "--no-throughput"])
        .args(["--latency-rate", "1000", "--latency-seconds", "1"])
        .arg("--dir")
        .arg(&dir)
        .env_remove("ENRICHER_CONFIG")
        .env("RUST_LOG", "warn")
        .env("KAFKA_BOOTSTRAP_SERVERS", &broker)
        .env("ENRICHER_DELIVERY", "exactly-once")
        .output()
        .expect("run enricher-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "enricher-bench kafka failed:\n{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}"));
    assert_eq!(report["delivery"], "ExactlyOnce");
    assert_eq!(report["passthrough_transactional"], true);
    let runs = report["latency"].as_array().expect("latency runs");
    let names: Vec<&str> = runs.iter().filter_map(|r| r["run"].as_str()).collect();
    assert_eq!(names, ["passthrough", "enrich"]);
    for run in runs {
        assert_eq!(run["inputs"], 1000, "{run}");
        assert_eq!(
            run["outputs_seen"], 1000,
            "every input's output is read: {run}"
        );
        let p = |k: &str| run[k].as_u64().unwrap_or_else(|| panic!("{k} in {run}"));
        assert!(
            p("p50_ms") <= p("p99_ms") && p("p99_ms") <= p("max_ms"),
            "{run}"
        );
        let rss = run["rss_kib"].as_array().expect("RSS samples");
        assert!(
            rss.iter().all(|s| s.as_u64().is_some_and(|k| k > 0)),
            "{run}"
        );
    }
    assert!(report["p99_over_passthrough_ms"].is_i64(), "{report}");
    assert!(report["rss_kib_idle"].as_u64().is_some_and(|k| k > 0));
    assert!(
        stderr.contains("latency, enrich at 1000 events/s"),
        "the table goes to stderr:\n{stderr}"
    );
}
