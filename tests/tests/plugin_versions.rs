//! Plugin versions on one host, without Kafka: compatibility across WIT
//! versions, the checks a new version must pass, swaps only at commit
//! boundaries, manual and automatic rollback.

use std::path::Path;
use std::sync::Arc;

use enricher::config::Config;
use enricher::deploy::AdminError;
use enricher::deploy::{Deployer, PluginAdmin};
use enricher::pipeline::Pipeline;
use enricher::runtime::SandboxLimits;
use enricher::runtime::{PluginEngine, PluginSettings};
use enricher_tests::test_plugins::{CHAOS, INCOMPATIBLE, LEGACY_V1, V2};
use enricher_tests::*;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A pipeline following a deployer whose first version is the built-in plugin.
fn host(
    dir: &TempDir,
    settings: PluginSettings,
    tune: impl FnOnce(&mut Config),
) -> (Pipeline, Arc<Deployer>) {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.deploy.topic = "off".into();
    tune(&mut config);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::with_settings(settings).expect("engine");
    let deployer =
        Deployer::with_built_in(engine, Arc::clone(&lookup), &config.deploy).expect("deployer");
    let pipeline = Pipeline::following(deployer.feed(), lookup, config.pipeline.max_record_bytes);
    (pipeline, deployer)
}

/// (plugin version header, output value as text) for one event of claim CLM-001.
fn one_event(pipeline: &mut Pipeline) -> (String, String) {
    let e = event("PAY-1", "CLM-001", "150.00");
    let routed = pipeline.process(&records(&[e.as_bytes()]));
    let version = routed[0]
        .headers
        .iter()
        .find(|h| h.key == "plugin-version")
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .expect("version header");
    (
        version,
        String::from_utf8(routed[0].value.clone()).expect("UTF-8"),
    )
}

#[test]
fn a_plugin_built_for_wit_1_0_0_runs_on_this_host() {
    let dir = TempDir::new("legacy");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    let engine = PluginEngine::new().expect("engine");
    let plugin = engine
        .load_file(Path::new(LEGACY_V1))
        .expect("a 1.0.0 plugin loads on a 1.2.0 host");
    assert_eq!(plugin.world().to_string(), "1.0.0");
    let mut pipeline = Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes);
    let mut input = records(&[b"{}", b"{}"]);
    input[0].key = Some(b"CLM-001".to_vec());
    input[1].key = Some(b"CLM-404".to_vec());
    let routed = pipeline.process(&input);
    let found: Vec<&[u8]> = routed
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|h| h.key == "claim-found")
                .map(|h| h.value.as_slice())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        found,
        [&b"yes"[..], &b"no"[..]],
        "its claims import is served by this host's lookup"
    );
}

#[test]
fn a_plugin_for_another_major_version_is_refused_with_the_reason() {
    let dir = TempDir::new("incompatible");
    let (_pipeline, deployer) = host(&dir, PluginSettings::default(), |_| {});
    let err = deployer
        .deploy(&read(INCOMPATIBLE), None)
        .expect_err("refused");
    let AdminError::Rejected(why) = &err else {
        panic!("{err:?}")
    };
    assert!(why.contains("payments:enrichment@2.0.0"), "{why}");
    assert!(why.contains("1.2.0"), "names what this host runs: {why}");
    let not_wasm = deployer
        .deploy(b"definitely not wasm", None)
        .expect_err("refused");
    assert!(matches!(not_wasm, AdminError::Rejected(_)), "{not_wasm:?}");
    assert_eq!(deployer.list().len(), 1, "nothing was added");
}

#[test]
fn a_version_failing_its_canary_records_is_rejected_and_never_runs() {
    let dir = TempDir::new("canary");
    let settings = PluginSettings {
        limits: SandboxLimits {
            cpu_deadline: std::time::Duration::from_millis(100),
            ..SandboxLimits::default()
        },
        params: Arc::new([("chaos".to_owned(), "loop".to_owned())].into()),
        ..PluginSettings::default()
    };
    let (mut pipeline, deployer) = host(&dir, settings, |_| {});
    let err = deployer
        .deploy(&read(CHAOS), None)
        .expect_err("a plugin that loops is refused");
    assert!(err.to_string().contains("canary"), "{err}");
    pipeline.at_commit_boundary();
    let (version, _) = one_event(&mut pipeline);
    assert_eq!(
        version,
        test_plugins::BUILTIN_VERSION,
        "the running version is untouched"
    );
}

#[test]
fn deploy_swaps_only_at_a_commit_boundary_and_rollback_returns() {
    let dir = TempDir::new("swap");
    let (mut pipeline, deployer) = host(&dir, PluginSettings::default(), |_| {});
    let report = deployer.deploy(&read(V2), None).expect("v2 deploys");
    assert_eq!(report.deployed.key, "payment-enrichment@0.2.0");
    assert!(!report.fleet);
    assert!(
        report.checks.iter().any(|c| c.contains("canary")),
        "{:?}",
        report.checks
    );

    let (version, v) = one_event(&mut pipeline);
    assert_eq!(
        version,
        test_plugins::BUILTIN_VERSION,
        "no swap without a boundary"
    );
    assert!(!v.contains("remaining_claim_amount"), "{v}");

    pipeline.at_commit_boundary();
    let (version, v) = one_event(&mut pipeline);
    assert_eq!(version, "0.2.0");
    assert!(
        v.contains(r#""remaining_claim_amount":1850.00,"#),
        "exact decimal: {v}"
    );
    let status = deployer.status();
    assert_eq!(status.active.key, "payment-enrichment@0.2.0");
    assert_eq!(status.swaps, 1);
    assert!(status.last_swap_pause_us.is_some());
    assert_eq!(status.previous.as_deref(), Some("payment-enrichment@0.1.1"));

    let back = deployer.rollback().expect("rollback");
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        ("payment-enrichment@0.2.0", "payment-enrichment@0.1.1")
    );
    pipeline.at_commit_boundary();
    assert_eq!(one_event(&mut pipeline).0, test_plugins::BUILTIN_VERSION);
    assert!(
        matches!(deployer.rollback(), Err(AdminError::Conflict(_))),
        "nothing before the first version"
    );

    let listed: Vec<String> = deployer.list().into_iter().map(|v| v.key).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[test]
fn a_version_is_immutable() {
    let dir = TempDir::new("immutable");
    let (_pipeline, deployer) = host(&dir, PluginSettings::default(), |_| {});
    // The chaos plugin renamed to the built-in's name and version would be other bytes under one key.
    let err = deployer
        .deploy(&read(CHAOS), Some("payment-enrichment"))
        .map(|r| r.deployed.key);
    // chaos reports version 1.0.0, so the key differs and it is accepted...
    assert_eq!(err.as_deref().ok(), Some("payment-enrichment@1.0.0"));
    // ...but the same key with other bytes is not.
    let again = deployer.deploy(&read(LEGACY_V1), Some("payment-enrichment"));
    assert!(matches!(again, Err(AdminError::Conflict(_))), "{again:?}");
}

#[test]
fn a_new_version_that_fails_too_often_is_rolled_back_automatically() {
    // One record in ten panics: 10% plugin errors > 5%.
    rolled_back_after_one_in_ten("auto-rollback", br#"{"chaos":"panic"}"#);
}

#[test]
fn a_new_version_that_writes_invalid_json_is_rolled_back_automatically() {
    // One record in ten is written to `enriched` as invalid JSON: PLUGIN_INVALID_OUTPUT.
    rolled_back_after_one_in_ten(
        "invalid-json-rollback",
        br#"{"payment_id":"PAY-X","chaos":"invalid-json"}"#,
    );
}

/// The chaos plugin deployed over the built-in one, fed batches where one
/// record in ten is `poison`, is rolled back by the policy on its own (in the
/// stream, as soon as `rollback-min-records` records ran under it).
fn rolled_back_after_one_in_ten(label: &str, poison: &[u8]) {
    let dir = TempDir::new(label);
    let (mut pipeline, deployer) = host(&dir, PluginSettings::default(), |c| {
        c.deploy.rollback_error_rate = 0.05;
        c.deploy.rollback_min_records = 50;
        c.deploy.rollback_window = 1_000;
    });
    deployer
        .deploy(&read(CHAOS), None)
        .expect("chaos passes its canaries");
    pipeline.at_commit_boundary();
    assert_eq!(deployer.status().active.key, "chaos@1.0.0");
    let mut plugin_errors = 0;
    for round in 0..10 {
        let batch: Vec<Vec<u8>> = (0..10)
            .map(|i| {
                if i == 3 {
                    poison.to_vec()
                } else {
                    event(&format!("PAY-{round}-{i}"), "CLM-001", "1.00").into_bytes()
                }
            })
            .collect();
        let slices: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let routed = pipeline.process(&records(&slices));
        assert_eq!(routed.len(), 10, "nothing lost while failing");
        plugin_errors += routed
            .iter()
            .filter(|r| enricher::pipeline::is_plugin_error(&r.status))
            .count();
        pipeline.at_commit_boundary();
    }
    // The stream only reports; the deployer judges off its thread, so the
    // rollback may land after the last batch: give it a boundary to swap at.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while deployer.status().active.key != "payment-enrichment@0.1.1"
        && std::time::Instant::now() < deadline
    {
        pipeline.at_commit_boundary();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Judged in the stream once 50 records ran (the fifth batch): that
    // batch, not yet committed, was re-run through the built-in plugin (its
    // poison among its 10 records); the four before the minimum stay plugin errors.
    assert_eq!(
        plugin_errors, 4,
        "the poison was a plugin error until the verdict"
    );
    assert_eq!(pipeline.metrics().rerun_records, 10);
    let status = deployer.status();
    assert_eq!(status.active.key, "payment-enrichment@0.1.1", "{status:?}");
    assert_eq!(status.rollbacks, 1);
    assert!(
        status
            .last_event
            .as_deref()
            .is_some_and(|e| e.contains("automatic rollback")),
        "{status:?}"
    );
}

#[test]
fn a_plugin_dropped_into_the_watched_folder_is_deployed() {
    let dir = TempDir::new("watch");
    let (mut pipeline, deployer) = host(&dir, PluginSettings::default(), |_| {});
    let folder = dir.join("plugins");
    std::fs::create_dir_all(&folder).expect("folder");
    let watcher = enricher::deploy::DirWatcher::start(
        folder.clone(),
        Arc::clone(&deployer),
        std::time::Duration::from_millis(50),
    )
    .expect("watcher");
    std::fs::write(folder.join("broken.wasm"), b"not a component").expect("write");
    std::fs::write(folder.join("v2.wasm"), read(V2)).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while deployer.desired_key() != "payment-enrichment@0.2.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "v2 was not deployed from the folder"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(watcher);
    pipeline.at_commit_boundary();
    assert_eq!(one_event(&mut pipeline).0, "0.2.0");
    assert_eq!(
        deployer.list().len(),
        2,
        "the broken file was refused, not added"
    );
}
