//! Hot swap across languages on the real test broker (nisshi, at-least-once):
//! while events stream in, the host goes Rust -> Python -> Rust -> JS -> Rust
//! -> Python -> JS through the admin API (deploy, rollback), and every event
//! comes out exactly once, with the outcome its claim gives, each commit
//! unit written by one plugin, and each of the three plugins writing some.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use enricher::admin::AdminClient;
use enricher::config::DeliveryMode;
use enricher::deploy::PluginAdmin;
use enricher::kafka::{COMMIT_UNIT_HEADER, TailedRecord};
use enricher_tests::kafka::*;
use enricher_tests::polyglot::{self, Lang};
use enricher_tests::swap::*;
use enricher_tests::*;
use serde_json::Value;

const RUST_KEY: &str = "payment-enrichment@0.1.1";

/// Event `i`, and the status it must end with whichever plugin runs it.
fn event_and_status(i: usize) -> (String, &'static str) {
    let id = format!("PAY-POLY-{i}");
    match i % 10 {
        9 => (
            format!(
                r#"{{"payment_id":"{id}","claim_id":"CLM-001","payment_amount":"abc","payment_date":"2024-01-15T10:30:00"}}"#
            ),
            "INVALID_EVENT",
        ),
        n if n % 3 == 0 => (event(&id, "CLM-404", "10.00"), "CLAIM_NOT_FOUND"),
        _ => (event(&id, "CLM-002", "0.10"), "SUCCESS"),
    }
}

fn text(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or(b"<none>")).into_owned()
}

/// Each commit unit's outputs come from one plugin; returns the plugins seen.
fn assert_one_plugin_per_unit(records: &[&TailedRecord]) -> BTreeSet<String> {
    let mut plugin_of_unit: BTreeMap<String, String> = BTreeMap::new();
    for r in records {
        let unit = only_header(r, COMMIT_UNIT_HEADER);
        let plugin = only_header(r, "plugin-name");
        let seen = plugin_of_unit.entry(unit.clone()).or_insert(plugin.clone());
        assert_eq!(
            *seen, plugin,
            "commit unit {unit} holds outputs of two plugins"
        );
    }
    plugin_of_unit.into_values().collect()
}

#[test]
fn swaps_between_rust_python_and_js_under_load_lose_nothing() {
    let python = std::fs::read(polyglot::plugin(Lang::Python)).expect("python plugin");
    let js = std::fs::read(polyglot::plugin(Lang::Js)).expect("js plugin");
    let broker = test_broker();
    let dir = TempDir::new("polyglot-swap");
    let topics = unique_topics("polyglot-swap");
    create_topics(&broker, &topics, 3);
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    // Local deployments: this test is about swaps under load on one host;
    // fleet_topic.rs deploys the Python plugin through the fleet topic.
    config.deploy.topic = "off".into();
    let host = RunningHost::start(&config, false);
    let admin = AdminClient::new(&host.admin.expect("admin API").to_string());

    // Load: 100 events every 20 ms until the swaps are done.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (stop, produced, broker, input) = (
            Arc::clone(&stop),
            Arc::clone(&produced),
            broker.clone(),
            topics[0].clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let from = produced.load(Ordering::Relaxed);
                let chunk: Vec<String> =
                    (from..from + 100).map(|i| event_and_status(i).0).collect();
                produce_values(&broker, &input, &chunk);
                produced.store(from + 100, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let outputs = [topics[1].as_str(), topics[2].as_str()];
    wait_for_outputs(&broker, &outputs, 1, Duration::from_secs(120));
    let settle = || std::thread::sleep(Duration::from_millis(300));
    let deploy = |bytes: &[u8], lang: Lang| {
        let report = admin.deploy(bytes, None).expect("deploy");
        assert_eq!(report.deployed.key, lang.key());
        assert!(
            host.wait_running(&lang.key(), Duration::from_secs(60)),
            "the host runs {}",
            lang.key()
        );
        settle();
    };
    let rollback = |to: &str| {
        let back = admin.rollback().expect("rollback");
        assert_eq!(back.to, to);
        assert!(
            host.wait_running(to, Duration::from_secs(60)),
            "back on {to}"
        );
        settle();
    };
    deploy(&python, Lang::Python);
    rollback(RUST_KEY);
    deploy(&js, Lang::Js);
    rollback(RUST_KEY);
    deploy(&python, Lang::Python);
    deploy(&js, Lang::Js);
    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer");
    let total = produced.load(Ordering::Relaxed);
    wait_for_outputs(&broker, &outputs, total, Duration::from_secs(180));
    let swaps = host.deployer.status().swaps;
    host.stop();

    assert!(swaps >= 6, "only {swaps} swaps happened");
    let records = read_outputs(&broker, &topics[1], &topics[2]);
    let all: Vec<&TailedRecord> = records.iter().flatten().collect();
    let counts = count_by_payment_id(all.iter().copied());
    let lost: Vec<usize> = (0..total)
        .filter(|i| !counts.contains_key(&format!("PAY-POLY-{i}")))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {total} events lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "duplicates: {twice:?}");
    assert_eq!(counts.len(), total, "no unexpected ids");
    for r in &all {
        let v: Value = serde_json::from_slice(&r.value).expect("outputs are JSON");
        let id = v["payment_id"].as_str().expect("a payment_id");
        let i: usize = id["PAY-POLY-".len()..].parse().expect("an index");
        assert_eq!(
            v["enrichment_status"],
            event_and_status(i).1,
            "{id} by {}",
            text(r.header("plugin-name"))
        );
        if v["enrichment_status"] == "SUCCESS" {
            let raw = String::from_utf8_lossy(&r.value);
            assert!(
                raw.contains(r#""claim_amount":0.10,"#),
                "exact money: {raw}"
            );
        }
    }
    let plugins = assert_one_plugin_per_unit(&all);
    eprintln!("{total} events over {swaps} swaps, written by {plugins:?}");
    for name in [
        "payment-enrichment",
        Lang::Python.plugin_name(),
        Lang::Js.plugin_name(),
    ] {
        assert!(
            plugins.contains(name),
            "{name} wrote no output: {plugins:?}"
        );
    }
}
