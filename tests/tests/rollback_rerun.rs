//! The automatic rollback costs no failed payments (issue 26, item 18): a
//! deployed version that fails every record is judged inside its first
//! batch, after `rollback-min-records`, and the records it ran there are run
//! again through the previous version before they are committed, so the
//! batch's commit unit holds one version, as after a swap. A
//! version failing fewer records than the rate is kept, failures and all.
//! In process, without Kafka: a pipeline following a deployer, driven like
//! the Kafka loop (a batch, then a commit boundary).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::admin::Observed;
use enricher::bindings::Output;
use enricher::config::Config;
use enricher::deploy::{Deployer, PluginAdmin};
use enricher::pipeline::{Pipeline, Routed};
use enricher::runtime::PluginEngine;
use enricher_tests::test_plugins::{BUILTIN_NAME, BUILTIN_VERSION, CHAOS};
use enricher_tests::*;

const BUILTIN_KEY: &str = "payment-enrichment@0.1.1";
const CHAOS_KEY: &str = "chaos@1.0.0";
const BATCH: usize = 1_000;

/// A pipeline following a deployer on the built-in plugin, with the
/// documented rollback defaults (5% over at least 100 records of 10,000),
/// and the chaos plugin deployed and swapped in.
fn host_on_chaos(dir: &TempDir) -> (Pipeline, Arc<Deployer>) {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config: Config = config_for(&db);
    config.deploy.topic = "off".into();
    assert_eq!(config.deploy.rollback_min_records, 100);
    assert_eq!(config.deploy.rollback_error_rate, 0.05);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::new().expect("engine");
    let deployer =
        Deployer::with_built_in(engine, Arc::clone(&lookup), &config.deploy).expect("deployer");
    let mut pipeline =
        Pipeline::following(deployer.feed(), lookup, config.pipeline.max_record_bytes);
    deployer
        .deploy(&std::fs::read(CHAOS).expect("chaos plugin"), None)
        .expect("chaos passes its canaries");
    pipeline.at_commit_boundary();
    assert_eq!(deployer.status().active.key, CHAOS_KEY);
    (pipeline, deployer)
}

/// A payment event of claim CLM-001 (the built-in plugin enriches it); with
/// `trap` it also asks the chaos plugin to trap on it.
fn payment(id: &str, trap: bool) -> Vec<u8> {
    let e = event(id, "CLM-001", "10.00");
    if trap {
        format!("{},\"chaos\":\"panic\"}}", &e[..e.len() - 1]).into_bytes()
    } else {
        e.into_bytes()
    }
}

/// Run `batches` batches of [`BATCH`] payments (`trap(i)` says which trap
/// under chaos) as the Kafka loop does; returns every output by payment id.
fn run(
    pipeline: &mut Pipeline,
    batches: usize,
    trap: impl Fn(usize) -> bool,
) -> BTreeMap<String, Vec<Routed>> {
    let mut by_id: BTreeMap<String, Vec<Routed>> = BTreeMap::new();
    for b in 0..batches {
        let ids: Vec<String> = (0..BATCH)
            .map(|i| format!("PAY-{}", b * BATCH + i))
            .collect();
        let values: Vec<Vec<u8>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| payment(id, trap(b * BATCH + i)))
            .collect();
        let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        for r in pipeline.process(&records(&slices)) {
            by_id.entry(ids[r.input_index].clone()).or_default().push(r);
        }
        pipeline.at_commit_boundary();
    }
    by_id
}

fn header<'a>(r: &'a Routed, key: &str) -> &'a str {
    let values: Vec<&[u8]> = r
        .headers
        .iter()
        .filter(|h| h.key == key)
        .map(|h| h.value.as_slice())
        .collect();
    assert_eq!(values.len(), 1, "one {key} header: {:?}", r.headers);
    std::str::from_utf8(values[0]).expect("UTF-8 header")
}

/// Wait (the deploy side works off the stream's thread) until `done` holds.
fn eventually(deployer: &Deployer, pipeline: &mut Pipeline, done: impl Fn(&Deployer) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(deployer) && Instant::now() < deadline {
        pipeline.at_commit_boundary();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_version_trapping_on_every_record_is_rolled_back_inside_its_first_batch_and_fails_no_payment() {
    let dir = TempDir::new("rerun-all");
    let (mut pipeline, deployer) = host_on_chaos(&dir);
    let outputs = run(&mut pipeline, 2, |_| true);

    assert_eq!(outputs.len(), 2 * BATCH, "every payment has an output");
    for (id, routed) in &outputs {
        assert_eq!(routed.len(), 1, "{id}: one output, not {}", routed.len());
        let r = &routed[0];
        assert_eq!(r.status, "SUCCESS", "{id}: enriched, not failed");
        assert_eq!(r.output, Output::Enriched, "{id}");
        // Re-run and later records carry the previous version's headers.
        assert_eq!(header(r, "plugin-name"), BUILTIN_NAME, "{id}");
        assert_eq!(header(r, "plugin-version"), BUILTIN_VERSION, "{id}");
        assert_eq!(header(r, "enrichment-status"), "SUCCESS", "{id}");
    }
    let m = pipeline.metrics();
    assert_eq!(
        m.status("PLUGIN_TRAP"),
        0,
        "no payment failed as PLUGIN_TRAP"
    );
    assert_eq!(m.failed, 0);
    assert_eq!(
        m.rerun_records, 100,
        "the chaos version ran rollback-min-records (100) records, all of them re-run"
    );
    assert!(
        m.plugin_traps >= 100,
        "the chaos version did trap: {}",
        m.plugin_traps
    );
    assert_eq!(m.records_in, 2 * BATCH as u64, "each record counted once");
    let summary = pipeline.summary(Duration::from_secs(1)).to_string();
    assert!(summary.contains("re-run after a rollback 100"), "{summary}");

    eventually(&deployer, &mut pipeline, |d| d.status().rollbacks == 1);
    let status = deployer.status();
    assert_eq!(status.active.key, BUILTIN_KEY, "{status:?}");
    assert_eq!(
        deployer.desired_key(),
        BUILTIN_KEY,
        "the history went back too"
    );
    assert_eq!(status.rollbacks, 1);
    let event = status.last_event.unwrap_or_default();
    assert!(
        event.contains("automatic rollback") && event.contains("100 record(s) it failed re-run"),
        "{event}"
    );
    let observed = Observed {
        meter: Arc::clone(pipeline.meter()),
        lookup: Arc::clone(pipeline.lookup()),
        plugins: deployer,
        mode: "kafka",
    };
    let metrics = observed.render().expect("encode /metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l == "enricher_rerun_records_total 100"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "enricher_plugin_rollbacks_total 1"),
        "{metrics}"
    );
}

#[test]
fn a_commit_unit_in_which_the_rollback_happened_holds_the_previous_versions_outputs_only() {
    let dir = TempDir::new("rerun-half");
    let (mut pipeline, deployer) = host_on_chaos(&dir);
    // Every other record traps under chaos: 50% in its first 100 records.
    let outputs = run(&mut pipeline, 1, |i| i % 2 == 1);

    assert_eq!(outputs.len(), BATCH);
    for (id, routed) in &outputs {
        assert_eq!(routed.len(), 1, "{id}");
        let r = &routed[0];
        assert_eq!(r.output, Output::Enriched, "{id}: {}", r.status);
        // The first 100 ran under chaos (the even ones it passed through, the
        // odd ones it trapped on), then all 100 again under the built-in: one
        // version in the batch's commit unit, as after a swap.
        assert_eq!(header(r, "plugin-version"), BUILTIN_VERSION, "{id}");
        assert!(
            r.value
                .windows(b"member_id".len())
                .any(|w| w == b"member_id"),
            "{id}: enriched by the built-in, not passed through"
        );
    }
    let m = pipeline.metrics();
    assert_eq!(m.rerun_records, 100, "the 100 records chaos ran");
    assert_eq!(m.status("PLUGIN_TRAP"), 0);
    eventually(&deployer, &mut pipeline, |d| d.status().rollbacks == 1);
    assert_eq!(deployer.status().active.key, BUILTIN_KEY);
}

#[test]
fn a_version_failing_fewer_records_than_the_rate_is_kept_and_its_failures_stay_failures() {
    let dir = TempDir::new("rerun-control");
    let (mut pipeline, deployer) = host_on_chaos(&dir);
    // One record in 50 traps: 2%, under the 5% that rolls back.
    let outputs = run(&mut pipeline, 2, |i| i % 50 == 7);

    assert_eq!(outputs.len(), 2 * BATCH);
    let traps: Vec<&String> = outputs
        .iter()
        .filter(|(_, routed)| routed.iter().any(|r| r.status == "PLUGIN_TRAP"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(traps.len(), 40, "the trapped payments stay failed");
    for (id, routed) in &outputs {
        assert_eq!(routed.len(), 1, "{id}");
        assert_eq!(header(&routed[0], "plugin-version"), "1.0.0", "{id}");
    }
    let m = pipeline.metrics();
    assert_eq!(m.rerun_records, 0);
    assert_eq!(m.status("PLUGIN_TRAP"), 40);
    // Give the deploy side time to have judged wrongly, then check it did not.
    std::thread::sleep(Duration::from_millis(100));
    pipeline.at_commit_boundary();
    let status = deployer.status();
    assert_eq!(status.rollbacks, 0, "{status:?}");
    assert_eq!(status.active.key, CHAOS_KEY);
}
