//! The Kafka side of the binary's tests: the test brokers named by the
//! environment, topic names no earlier run used, the environment that points
//! a command at its topics, and what the output topics hold.

use std::collections::HashMap;
use std::process::Command;

/// The at-least-once test broker (nisshi), `ENRICHER_TEST_KAFKA`.
pub fn broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("no test broker: run scripts/test, or scripts/kafka-up and set ENRICHER_TEST_KAFKA")
    })
}

/// `{prefix}-{name}-{stamp}` for each name: topics no earlier run used.
pub fn fresh_topics<const N: usize>(prefix: &str, names: [&str; N]) -> [String; N] {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    names.map(|t| format!("{prefix}-{t}-{stamp}"))
}

/// Points `cmd` at `broker` and the input, enriched and failed topics (the
/// group is named after the input), with the admin API on a free port.
pub fn stream_env(cmd: &mut Command, broker: &str, topics: &[String]) {
    cmd.env("KAFKA_BOOTSTRAP_SERVERS", broker)
        .env("PAYMENT_EVENTS_TOPIC", &topics[0])
        .env("ENRICHED_PAYMENTS_TOPIC", &topics[1])
        .env("FAILED_PAYMENTS_TOPIC", &topics[2])
        .env("KAFKA_GROUP_ID", format!("{}-group", topics[0]))
        .env("RUST_LOG", "warn")
        .env("ENRICHER_ADMIN_BIND", "127.0.0.1:0");
}

/// How often each `payment_id` appears in `topic tail --values` outputs.
pub fn payment_id_counts<'a>(tails: impl IntoIterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for tail in tails {
        for line in tail.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON output");
            let id = v["payment_id"]
                .as_str()
                .expect("every generated event has a payment_id")
                .to_owned();
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}
