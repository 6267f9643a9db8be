//! The exactly-once transaction loop on librdkafka's mock cluster: it speaks
//! the transactional protocol and injects errors per request, but writes no
//! commit markers and keeps no transactional offsets, so these tests check our
//! state machine and error handling, not end-to-end exactly-once (see
//! `scripts/eos-check` for that, against a real broker).

use std::time::Duration;

use enricher::config::DeliveryMode;
use enricher::kafka::KafkaRunError;
use enricher_tests::kafka::*;
use enricher_tests::*;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const TOPICS: [&str; 3] = ["payment-events", "enriched-payments", "failed-payments"];

struct Setup {
    _dir: TempDir,
    mock: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    config: enricher::config::Config,
    sent: usize,
}

fn setup(label: &str, events: usize) -> Setup {
    let dir = TempDir::new(label);
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let mock = MockCluster::new(3).expect("mock cluster");
    for t in TOPICS {
        mock.create_topic(t, 3, 1).expect("topic");
    }
    let bootstrap = mock.bootstrap_servers();
    let values: Vec<String> = (0..events)
        .map(|i| match i % 10 {
            9 => format!(r#"{{"payment_id":"PAY-{i}","claim_id":"CLM-001","payment_amount":"abc","payment_date":"2024-01-15T10:30:00"}}"#),
            n if n % 3 == 0 => event(&format!("PAY-{i}"), "CLM-404", "10.00"),
            _ => event(&format!("PAY-{i}"), "CLM-001", "10.00"),
        })
        .collect();
    produce_values(&bootstrap, "payment-events", &values);
    let config = kafka_config(
        config_for(&db),
        &bootstrap,
        DeliveryMode::ExactlyOnce,
        label,
    );
    Setup {
        _dir: dir,
        mock,
        config,
        sent: events,
    }
}

fn outputs(s: &Setup) -> std::collections::BTreeMap<String, usize> {
    let bootstrap = s.mock.bootstrap_servers();
    let mut all = read_all(&bootstrap, "enriched-payments", false);
    all.extend(read_all(&bootstrap, "failed-payments", false));
    count_by_payment_id(&all)
}

#[test]
fn the_transaction_loop_routes_every_event_and_commits() {
    let s = setup("eos-happy", 600);
    let report = run_to_end(&s.config, Duration::from_secs(60)).expect("run");
    assert_eq!(report.consumed, 600);
    assert!(report.commits.commits >= 1, "{report:?}");
    assert_eq!(report.commits.rewinds, 0);
    let counts = outputs(&s);
    assert_eq!(counts.len(), s.sent, "every payment_id is in the output");
    assert!(
        counts.values().all(|n| *n == 1),
        "no duplicates without failures"
    );
    let enriched = read_all(&s.mock.bootstrap_servers(), "enriched-payments", false);
    let r = &enriched[0];
    assert_eq!(r.header("enrichment-status"), Some(&b"SUCCESS"[..]));
    assert_eq!(r.header("plugin-name"), Some(enrichment_plugin_name()));
    assert!(
        r.key.as_deref().is_some_and(|k| k.starts_with(b"k")),
        "the input key is kept"
    );
}

fn enrichment_plugin_name() -> &'static [u8] {
    b"payment-enrichment"
}

/// Inject `errors` on one request kind, run, and return what happened.
fn run_with(
    label: &str,
    api: RDKafkaApiKey,
    errors: &[RDKafkaRespErr],
) -> (
    Setup,
    Result<enricher::kafka::KafkaRunReport, KafkaRunError>,
) {
    let s = setup(label, 300);
    s.mock.request_errors(api, errors);
    let result = run_to_end(&s.config, Duration::from_secs(60));
    (s, result)
}

#[test]
fn retriable_errors_are_retried_without_losing_or_rewinding() {
    use RDKafkaRespErr::*;
    let cases = [
        (
            RDKafkaApiKey::EndTxn,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        ),
        (
            RDKafkaApiKey::AddPartitionsToTxn,
            RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        ),
        (
            RDKafkaApiKey::AddOffsetsToTxn,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        ),
        (
            RDKafkaApiKey::TxnOffsetCommit,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        ),
        (
            RDKafkaApiKey::InitProducerId,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        ),
        (
            RDKafkaApiKey::Produce,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ),
    ];
    for (i, (api, err)) in cases.into_iter().enumerate() {
        let (s, result) = run_with(&format!("eos-retry-{i}"), api, &[err, err]);
        let report =
            result.unwrap_or_else(|e| panic!("{api:?}/{err:?} should be retried, got {e}"));
        assert_eq!(report.commits.rewinds, 0, "{api:?}/{err:?}");
        assert_eq!(
            outputs(&s).len(),
            s.sent,
            "{api:?}/{err:?}: every payment_id out"
        );
    }
}

#[test]
fn abortable_errors_abort_rewind_and_process_again() {
    use RDKafkaRespErr::*;
    let cases = [
        (
            RDKafkaApiKey::AddPartitionsToTxn,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        ),
        (
            RDKafkaApiKey::TxnOffsetCommit,
            RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
        ),
        (
            RDKafkaApiKey::Produce,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        ),
        (
            RDKafkaApiKey::AddOffsetsToTxn,
            RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
        ),
        (RDKafkaApiKey::EndTxn, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID),
    ];
    for (i, (api, err)) in cases.into_iter().enumerate() {
        let (s, result) = run_with(&format!("eos-abort-{i}"), api, &[err]);
        let report =
            result.unwrap_or_else(|e| panic!("{api:?}/{err:?} should abort and go on, got {e}"));
        assert!(report.commits.rewinds >= 1, "{api:?}/{err:?}: {report:?}");
        // The mock keeps aborted records visible, so duplicates are expected here; losses are not.
        assert_eq!(
            outputs(&s).len(),
            s.sent,
            "{api:?}/{err:?}: every payment_id out"
        );
    }
}

#[test]
fn fatal_errors_stop_the_run_with_an_error() {
    use RDKafkaRespErr::*;
    let cases = [
        (
            RDKafkaApiKey::InitProducerId,
            RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
        (RDKafkaApiKey::EndTxn, RD_KAFKA_RESP_ERR_PRODUCER_FENCED),
        (
            RDKafkaApiKey::EndTxn,
            RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
        ),
        (
            RDKafkaApiKey::AddPartitionsToTxn,
            RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
    ];
    for (i, (api, err)) in cases.into_iter().enumerate() {
        let (_s, result) = run_with(&format!("eos-fatal-{i}"), api, &[err]);
        match result {
            Err(KafkaRunError::Fatal(_) | KafkaRunError::Unsupported(_)) => {}
            other => panic!("{api:?}/{err:?} should stop the run, got {other:?}"),
        }
    }
}

#[test]
fn hot_swap_in_exactly_once_mode_changes_versions_only_between_transactions() {
    use enricher::deploy::PluginAdmin;
    use enricher_tests::swap::{
        RunningHost, Stream, assert_versions_change_only_between_units, feed_while_swapping,
    };

    let s = setup("eos-swap", 0);
    let mut config = s.config.clone();
    config.deploy.topic = "off".into();
    config.deploy.admin_bind = None;
    let host = RunningHost::start(&config, false);
    let v2 = std::fs::read(enricher_tests::test_plugins::V2).expect("v2");
    let events: Vec<String> = (0..3000)
        .map(|i| event(&format!("PAY-{i}"), "CLM-001", "1.00"))
        .collect();
    let bootstrap = s.mock.bootstrap_servers();
    let every = std::time::Duration::from_millis(30);
    let stream = Stream {
        bootstrap: &bootstrap,
        input: TOPICS[0],
        outputs: &TOPICS[1..],
    };
    feed_while_swapping(&stream, &events, 50, events.len(), every, |i| {
        if i % 2 == 0 {
            host.deployer.deploy(&v2, None).expect("deploy v2");
        } else {
            host.deployer.rollback().expect("rollback");
        }
    });
    let swaps = host.deployer.status().swaps;
    host.stop();
    assert!(swaps >= 6, "{swaps} swaps");
    let topics = [
        read_all(&bootstrap, TOPICS[1], false),
        read_all(&bootstrap, TOPICS[2], false),
    ];
    let counts = count_by_payment_id(topics.iter().flatten());
    assert_eq!(
        counts.len(),
        events.len(),
        "every payment_id is in the output"
    );
    assert!(
        counts.values().all(|n| *n == 1),
        "no duplicates without failures"
    );
    let (units, changes) = assert_versions_change_only_between_units(&topics);
    eprintln!(
        "exactly-once swaps: {swaps} swaps, {changes} version changes over {units} transactions"
    );
    assert!(
        changes >= 1 && units > 1,
        "{units} transactions, {changes} version changes"
    );
}
