//! The exactly-once transaction loop on librdkafka's mock cluster: it speaks
//! the transactional protocol and injects errors per request, but writes no
//! commit markers (aborted records stay visible, even to read_committed
//! readers) and keeps no transactional offsets (a rewind goes back to the
//! start of the input). So these tests check our state machine and error
//! handling; the exactly-once check of an aborted transaction hides the
//! aborted transaction itself, by its commit-unit header, as a broker would
//! (`scripts/eos-check` is the end-to-end proof, against a real broker).

use std::collections::BTreeMap;
use std::time::Duration;

use enricher::config::DeliveryMode;
use enricher::kafka::{COMMIT_UNIT_HEADER, KafkaRunError, TailedRecord};
use enricher_tests::kafka::*;
use enricher_tests::*;
use rdkafka::ClientConfig;
use rdkafka::bindings as rdsys;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const TOPICS: [&str; 3] = ["payment-events", "enriched-payments", "failed-payments"];
const BROKERS: i32 = 3;

struct Setup {
    _dir: TempDir,
    /// Owns the mock cluster (`test.mock.num.brokers`); `mock()` borrows it.
    owner: BaseProducer,
    config: enricher::config::Config,
    sent: usize,
}

impl Setup {
    fn mock(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.owner
            .client()
            .mock_cluster()
            .expect("the owner client runs a mock cluster")
    }

    fn bootstrap(&self) -> String {
        self.mock().bootstrap_servers()
    }

    /// The mock cluster's handle, for what `MockCluster` does not offer:
    /// per-broker error stacks, whose remaining length can be read back.
    fn raw(&self) -> *mut rdsys::rd_kafka_mock_cluster_t {
        // SAFETY: the owner client is alive for as long as `self`.
        let raw = unsafe { rdsys::rd_kafka_handle_mock_cluster(self.owner.client().native_ptr()) };
        assert!(!raw.is_null(), "the owner client runs a mock cluster");
        raw
    }

    /// Make the next `errors.len()` requests of kind `api` to each broker fail with `errors`.
    fn push_broker_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        for broker in 1..=BROKERS {
            for err in errors {
                // SAFETY: a live cluster; one (error, round-trip ms) pair as the count says.
                let result = unsafe {
                    rdsys::rd_kafka_mock_broker_push_request_error_rtts(
                        self.raw(),
                        broker,
                        i16::from(api),
                        1,
                        *err as std::ffi::c_int,
                        0 as std::ffi::c_int,
                    )
                };
                assert_eq!(result, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
            }
        }
    }

    /// Injected errors of kind `api` not yet returned to a request, over all brokers.
    fn broker_errors_left(&self, api: RDKafkaApiKey) -> usize {
        (1..=BROKERS)
            .map(|broker| {
                let mut left = 0usize;
                // SAFETY: a live cluster and a valid out-pointer.
                let result = unsafe {
                    rdsys::rd_kafka_mock_broker_error_stack_cnt(
                        self.raw(),
                        broker,
                        i16::from(api),
                        &mut left,
                    )
                };
                assert_eq!(result, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
                left
            })
            .sum()
    }
}

fn setup(label: &str, events: usize) -> Setup {
    let dir = TempDir::new(label);
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let owner: BaseProducer = ClientConfig::new()
        .set("test.mock.num.brokers", BROKERS.to_string())
        .create()
        .expect("mock cluster");
    let mock = owner.client().mock_cluster().expect("mock cluster");
    for t in TOPICS {
        mock.create_topic(t, 3, 1).expect("topic");
    }
    let bootstrap = mock.bootstrap_servers();
    drop(mock);
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
        owner,
        config,
        sent: events,
    }
}

/// Every output record, read as a downstream consumer would (read_committed).
fn output_records(s: &Setup) -> Vec<TailedRecord> {
    let bootstrap = s.bootstrap();
    let mut all = read_all(&bootstrap, "enriched-payments", true);
    all.extend(read_all(&bootstrap, "failed-payments", true));
    all
}

fn outputs(s: &Setup) -> BTreeMap<String, usize> {
    count_by_payment_id(&output_records(s))
}

/// The payment_ids the setup put on the input, each once.
fn expected_ids(s: &Setup) -> Vec<String> {
    (0..s.sent).map(|i| format!("PAY-{i}")).collect()
}

/// Every payment_id of the input exactly once in `counts`, and nothing else.
fn assert_each_id_once(s: &Setup, counts: &BTreeMap<String, usize>, what: &str) {
    let expected = expected_ids(s);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} payment_ids lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        duplicated.is_empty(),
        "{what}: {} payment_ids more than once, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    assert_eq!(counts.len(), expected.len(), "{what}: no unexpected ids");
}

/// The transaction number of an output (its commit-unit header: `<instance>/<n>`).
fn transaction_of(r: &TailedRecord) -> u64 {
    let values = r.header_values(COMMIT_UNIT_HEADER);
    assert_eq!(values.len(), 1, "one commit-unit header on each output");
    let unit = std::str::from_utf8(values[0]).expect("UTF-8 commit unit");
    unit.rsplit_once('/')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("commit unit {unit} ends in no transaction number"))
}

#[test]
fn the_transaction_loop_routes_every_event_and_commits() {
    let s = setup("eos-happy", 600);
    let report = run_to_end(&s.config, Duration::from_secs(60)).expect("run");
    assert_eq!(report.consumed, 600);
    assert!(report.commits.commits >= 1, "{report:?}");
    assert_eq!(report.commits.rewinds, 0);
    assert_each_id_once(&s, &outputs(&s), "no failures");
    let enriched = read_all(&s.bootstrap(), "enriched-payments", false);
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
    s.mock().request_errors(api, errors);
    let result = run_to_end(&s.config, Duration::from_secs(60));
    (s, result)
}

#[test]
fn retriable_errors_are_retried_without_losing_duplicating_or_rewinding() {
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
        let s = setup(&format!("eos-retry-{i}"), 300);
        // Two errors on each broker's own stack: the stacks tell afterwards
        // how many were returned to a request.
        s.push_broker_errors(api, &[err, err]);
        let pushed = 2 * BROKERS as usize;
        let result = run_to_end(&s.config, Duration::from_secs(60));
        let report =
            result.unwrap_or_else(|e| panic!("{api:?}/{err:?} should be retried, got {e}"));
        let hit = pushed - s.broker_errors_left(api);
        eprintln!(
            "{api:?}/{err:?}: {hit} injected errors returned, {} retries by the host, {report:?}",
            report.commits.retries
        );
        // The broker handling this request kind (the coordinator, or each
        // partition leader for Produce) answered both of its errors.
        assert!(
            hit >= 2,
            "{api:?}/{err:?}: only {hit} injected errors were hit"
        );
        assert_eq!(report.commits.rewinds, 0, "{api:?}/{err:?}");
        assert_each_id_once(&s, &outputs(&s), &format!("{api:?}/{err:?}"));
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
        let counts = outputs(&s);
        let lost: Vec<String> = expected_ids(&s)
            .into_iter()
            .filter(|id| !counts.contains_key(id))
            .collect();
        assert!(
            lost.is_empty(),
            "{api:?}/{err:?}: {} payment_ids lost: {lost:?}",
            lost.len()
        );
        assert_eq!(counts.len(), s.sent, "{api:?}/{err:?}: no unexpected ids");
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
        match (api, result) {
            // Initialising transactions is where a broker without them fails too.
            (RDKafkaApiKey::InitProducerId, Err(KafkaRunError::Unsupported(why))) => {
                assert!(
                    why.to_lowercase().contains("authorization"),
                    "{api:?}/{err:?}: {why}"
                );
                // Both usual causes: a broker without transactions, a missing ACL.
                assert!(why.contains("no transactions"), "{why}");
                assert!(why.contains("ACL"), "{why}");
            }
            (_, Err(KafkaRunError::Fatal(why))) => {
                let named = match err {
                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED
                    | RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH => {
                        why.to_lowercase().contains("fence")
                    }
                    _ => why.to_lowercase().contains("authorization"),
                };
                assert!(named, "{api:?}/{err:?}: the reason is named: {why}");
            }
            (_, other) => panic!("{api:?}/{err:?} should stop the run, got {other:?}"),
        }
    }
}

/// A fault in the middle of a transaction: the first transaction's
/// AddOffsetsToTxn or EndTxn fails once with an abortable error, after its
/// outputs were produced. The host aborts it, rewinds, processes its events
/// again, and the committed transactions hold every payment_id exactly once. The mock shows the
/// aborted transaction's records to read_committed readers too (no markers),
/// so they are set aside here by their commit unit, the first transaction;
/// a fault in a later transaction cannot be checked this way, because the
/// mock keeps no committed offsets and a rewind goes back to the start.
#[test]
fn an_aborted_transaction_is_rewound_and_committed_outputs_hold_every_event_once() {
    use RDKafkaRespErr::*;
    let cases = [
        (
            RDKafkaApiKey::AddOffsetsToTxn,
            RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
        ),
        (RDKafkaApiKey::EndTxn, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID),
    ];
    for (i, (api, err)) in cases.into_iter().enumerate() {
        let mut s = setup(&format!("eos-abort-once-{i}"), 600);
        // One batch per transaction: the aborted one is followed by several committed ones.
        s.config.kafka.commit_max_records = s.config.pipeline.batch_size;
        s.mock().request_errors(api, &[err]);
        let report = run_to_end(&s.config, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{api:?}/{err:?} should abort and go on, got {e}"));
        assert_eq!(report.commits.rewinds, 1, "{api:?}/{err:?}: {report:?}");
        let (aborted, committed): (Vec<TailedRecord>, Vec<TailedRecord>) = output_records(&s)
            .into_iter()
            .partition(|r| transaction_of(r) == 1);
        eprintln!(
            "{api:?}/{err:?}: {} outputs of the aborted transaction, {} committed, {report:?}",
            aborted.len(),
            committed.len()
        );
        let counts = count_by_payment_id(&committed);
        assert_each_id_once(
            &s,
            &counts,
            &format!("{api:?}/{err:?}: committed transactions"),
        );
        // Everything the aborted transaction held was processed again.
        for id in count_by_payment_id(&aborted).keys() {
            assert!(
                counts.contains_key(id),
                "{api:?}/{err:?}: {id} not processed again"
            );
        }
        // The aborted transaction had produced outputs (librdkafka may drop
        // those it had not sent yet when the transaction aborts).
        assert!(
            report.produced > s.sent as u64,
            "{api:?}/{err:?}: the aborted transaction had produced outputs: {report:?}"
        );
        assert!(report.commits.commits >= 3, "{api:?}/{err:?}: {report:?}");
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
    let bootstrap = s.bootstrap();
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
