//! The claims changelog on the real test broker (nisshi), with real DuckDB
//! files and the real plugin: changes published while hosts run are applied
//! into each host's own file and seen by the next lookup (no TTL wait), a
//! tombstone deletes, hosts converge, a restart resumes from the offsets
//! stored in the file, and a payment whose claim arrives later is enriched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::app::open_changelog_lookup;
use enricher::changelog::{ChangelogApplier, publish};
use enricher::claims_load::Claim;
use enricher::config::{CacheMode, Config, DeliveryMode};
use enricher::deploy::PluginAdmin;
use enricher::lookup::{ClaimsLookup, LookupAnswer};
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::*;
use rust_decimal::Decimal;

/// A unique changelog topic, created compacted (as `claims publish` would).
fn changelog_topic(broker: &str, label: &str) -> String {
    let topic = format!("{}-changelog", unique_topics(label)[0]);
    create_topics(broker, std::slice::from_ref(&topic), 1);
    topic
}

/// A config over `dir`'s small claims table, applying `topic`, with TTLs far
/// longer than any test: only the changelog can make a lookup see a change.
fn config(dir: &TempDir, broker: &str, topic: &str, cache: CacheMode) -> Config {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.kafka.bootstrap_servers = broker.to_owned();
    config.claims.changelog_topic = topic.to_owned();
    config.lookup.cache = cache;
    config.lookup.cache_ttl = Duration::from_secs(3600);
    config.lookup.cache_missing_ttl = Duration::from_secs(3600);
    config.lookup.full_reload_interval = Duration::from_secs(3600);
    config
}

fn claim(id: &str, member: &str, cents: i64) -> Claim {
    Claim {
        claim_id: id.into(),
        member_id: member.into(),
        claim_amount: Decimal::new(cents, 2),
        claim_status: Some("APPROVED".into()),
        created_micros: None,
    }
}

fn start(config: &Config) -> (Arc<ClaimsLookup>, ChangelogApplier) {
    open_changelog_lookup(config)
        .expect("starts")
        .expect("the changelog topic exists, so it is applied")
}

/// The member and amount the lookup answers for `id` (`None`: CLAIM_NOT_FOUND).
fn answer(lookup: &ClaimsLookup, id: &str) -> Option<(String, Decimal)> {
    match lookup.lookup(&[id.to_owned()]).remove(0) {
        LookupAnswer::Found(row) => Some((row.member_id.clone(), row.claim_amount)),
        LookupAnswer::NotFound => None,
        other => panic!("lookup of {id} failed: {other:?}"),
    }
}

/// Wait until the lookup's host has applied `n` changes since it started.
fn wait_applied(lookup: &ClaimsLookup, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = lookup.changelog().expect("changelog tracked");
        if status.applied >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "applied {} of {n} changes in time: {status:?}",
            status.applied
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the running host has applied `n` changes from the changelog.
fn wait_host_applied(deployer: &enricher::deploy::Deployer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while deployer.status().claims_changelog.map_or(0, |s| s.applied) < n {
        assert!(
            Instant::now() < deadline,
            "the host applied the claim in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_update_is_seen_by_the_next_lookup_and_a_tombstone_makes_it_not_found() {
    let broker = test_broker();
    for cache in [CacheMode::Partial, CacheMode::Full] {
        let dir = TempDir::new("changelog-update");
        let topic = changelog_topic(&broker, "update");
        let (lookup, _applier) = start(&config(&dir, &broker, &topic, cache));
        // Cached now, for an hour: found, and missing.
        assert_eq!(
            answer(&lookup, "CLM-001"),
            Some(("MBR-789".into(), Decimal::new(200_000, 2)))
        );
        assert_eq!(answer(&lookup, "CLM-NEW"), None);

        let changes = [
            claim("CLM-001", "MBR-789", 123_456),
            claim("CLM-NEW", "MBR-1", 5_000),
        ];
        publish(&lookup_kafka(&broker), &topic, &changes, false).expect("publish");
        wait_applied(&lookup, 2);
        assert_eq!(
            answer(&lookup, "CLM-001"),
            Some(("MBR-789".into(), Decimal::new(123_456, 2))),
            "{cache:?}"
        );
        assert_eq!(
            answer(&lookup, "CLM-NEW"),
            Some(("MBR-1".into(), Decimal::new(5_000, 2))),
            "{cache:?}"
        );

        publish(&lookup_kafka(&broker), &topic, &changes[..1], true).expect("tombstone");
        wait_applied(&lookup, 3);
        assert_eq!(answer(&lookup, "CLM-001"), None, "{cache:?}: deleted");
        let status = lookup.changelog().expect("status");
        assert_eq!((status.applied, status.deleted, status.rejected), (3, 1, 0));
        assert_eq!(status.next_offsets, vec![(0, 3)]);
    }
}

fn lookup_kafka(broker: &str) -> enricher::config::KafkaConfig {
    enricher::config::KafkaConfig {
        bootstrap_servers: broker.to_owned(),
        ..Default::default()
    }
}

#[test]
fn two_hosts_converge() {
    let broker = test_broker();
    let topic = changelog_topic(&broker, "converge");
    let (dir_a, dir_b) = (TempDir::new("converge-a"), TempDir::new("converge-b"));
    let (a, _applier_a) = start(&config(&dir_a, &broker, &topic, CacheMode::Partial));
    let (b, _applier_b) = start(&config(&dir_b, &broker, &topic, CacheMode::Full));
    let mut changes: Vec<Claim> = (0..200)
        .map(|n| claim(&format!("CLM-C{n}"), "MBR-C", n))
        .collect();
    changes.push(claim("CLM-002", "MBR-NEW", 42));
    publish(&lookup_kafka(&broker), &topic, &changes, false).expect("publish");
    publish(&lookup_kafka(&broker), &topic, &changes[..50], true).expect("delete some");
    for host in [&a, &b] {
        wait_applied(host, 251);
    }
    for n in 0..200 {
        let id = format!("CLM-C{n}");
        let expected = (n >= 50).then(|| ("MBR-C".to_string(), Decimal::new(n, 2)));
        assert_eq!(answer(&a, &id), expected, "host a, {id}");
        assert_eq!(answer(&b, &id), expected, "host b, {id}");
    }
    for host in [&a, &b] {
        assert_eq!(
            answer(host, "CLM-002"),
            Some(("MBR-NEW".into(), Decimal::new(42, 2)))
        );
        assert_eq!(
            answer(host, "CLM-003").map(|r| r.0),
            Some("MBR-200".into()),
            "untouched"
        );
    }
}

/// The stored offsets of `topic` in the database file.
fn stored_offsets(db: &std::path::Path, topic: &str) -> Vec<(i32, i64)> {
    let conn = duckdb::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT partition, next_offset FROM enricher_changelog_offsets WHERE topic = ? ORDER BY 1")
        .expect("prepare");
    let rows = stmt
        .query_map([topic], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

#[test]
fn a_restart_resumes_from_the_stored_offset_without_reapplying_or_skipping() {
    let broker = test_broker();
    let topic = changelog_topic(&broker, "restart");
    let dir = TempDir::new("changelog-restart");
    let config = config(&dir, &broker, &topic, CacheMode::Partial);
    let db = config.duckdb.path().expect("path").expect("a file");
    {
        let (lookup, applier) = start(&config);
        let first = [
            claim("CLM-R1", "MBR-R1", 100),
            claim("CLM-R2", "MBR-R2", 200),
        ];
        publish(&lookup_kafka(&broker), &topic, &first, false).expect("publish");
        wait_applied(&lookup, 2);
        drop(applier);
    }
    assert_eq!(
        stored_offsets(&db, &topic),
        vec![(0, 2)],
        "the offsets reached, in the file"
    );
    // While the host is down: a change on the topic, and (to see a re-apply)
    // an edit of an applied row that a replay from the start would undo.
    publish(
        &lookup_kafka(&broker),
        &topic,
        &[claim("CLM-R3", "MBR-R3", 300)],
        false,
    )
    .expect("publish");
    {
        let conn = duckdb::Connection::open(&db).expect("open");
        conn.execute(
            "UPDATE claims SET member_id = 'EDITED' WHERE claim_id = 'CLM-R1'",
            [],
        )
        .expect("edit");
    }
    let (lookup, _applier) = start(&config);
    // Started: caught up with what the topic held, so no wait is needed.
    assert_eq!(
        answer(&lookup, "CLM-R3"),
        Some(("MBR-R3".into(), Decimal::new(300, 2))),
        "no gap"
    );
    assert_eq!(
        answer(&lookup, "CLM-R1").map(|r| r.0),
        Some("EDITED".into()),
        "no re-apply"
    );
    assert_eq!(
        lookup.changelog().expect("status").applied,
        1,
        "only the new change"
    );
    drop(_applier);
    drop(lookup);
    assert_eq!(stored_offsets(&db, &topic), vec![(0, 3)]);
}

#[test]
fn a_new_host_bootstraps_from_the_topic_alone() {
    let broker = test_broker();
    let topic = changelog_topic(&broker, "bootstrap");
    publish(
        &lookup_kafka(&broker),
        &topic,
        &[claim("CLM-B1", "MBR-B1", 1), claim("CLM-B2", "MBR-B2", 2)],
        false,
    )
    .expect("publish");
    publish(
        &lookup_kafka(&broker),
        &topic,
        &[claim("CLM-B2", "MBR-B2", 2)],
        true,
    )
    .expect("delete");
    let dir = TempDir::new("changelog-bootstrap");
    let mut config = config_for(&dir.join("new/claims.duckdb"));
    config.kafka.bootstrap_servers = broker.clone();
    config.claims.changelog_topic = topic;
    let (lookup, _applier) = start(&config);
    assert_eq!(
        answer(&lookup, "CLM-B1"),
        Some(("MBR-B1".into(), Decimal::new(1, 2)))
    );
    assert_eq!(answer(&lookup, "CLM-B2"), None);
}

#[test]
fn a_claim_published_after_the_host_started_turns_its_payments_from_not_found_to_enriched() {
    let broker = test_broker();
    let dir = TempDir::new("changelog-late");
    let topics = unique_topics("changelog-late");
    create_topics(&broker, &topics, 1);
    let changelog = changelog_topic(&broker, "late");
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.claims.changelog_topic = changelog.clone();
    config.lookup.cache_missing_ttl = Duration::from_secs(3600);
    config.deploy.admin_bind = None;
    let host = RunningHost::start(&config, false);
    produce_values(&broker, &topics[0], &[event("PAY-1", "CLM-LATE", "10.00")]);
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        1,
        Duration::from_secs(30),
    );

    publish(
        &config.kafka,
        &changelog,
        &[claim("CLM-LATE", "MBR-LATE", 250_000)],
        false,
    )
    .expect("publish");
    wait_host_applied(&host.deployer, 1);
    produce_values(&broker, &topics[0], &[event("PAY-2", "CLM-LATE", "10.00")]);
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        2,
        Duration::from_secs(30),
    );
    let report = host.stop();
    assert_eq!(report.consumed, 2);
    let [enriched, failed] = read_outputs(&broker, &topics[1], &topics[2]);
    let value = |r: &enricher::kafka::TailedRecord| -> serde_json::Value {
        serde_json::from_slice(&r.value).expect("json")
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(value(&failed[0])["payment_id"], "PAY-1");
    assert!(String::from_utf8_lossy(&failed[0].value).contains("CLAIM_NOT_FOUND"));
    assert_eq!(enriched.len(), 1);
    let out = value(&enriched[0]);
    assert_eq!(out["payment_id"], "PAY-2");
    assert_eq!(out["member_id"], "MBR-LATE");
}

/// Whether the broker shows `topic`, and its `cleanup.policy`.
fn topic_policy(broker: &str, topic: &str) -> Option<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = futures_executor::block_on(
        admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &options),
    )
    .expect("describe");
    let resource = described.into_iter().next()?.ok()?;
    resource
        .get("cleanup.policy")
        .and_then(|entry| entry.value.clone())
}

#[test]
fn a_host_started_before_the_changelog_exists_creates_it_and_its_admin_api_publishes_to_it() {
    let broker = test_broker();
    let dir = TempDir::new("changelog-absent");
    let topics = unique_topics("changelog-absent");
    create_topics(&broker, &topics, 1);
    // Not created: the host must create it (compacted) and apply it.
    let changelog = format!("{}-changelog", topics[0]);
    let mut config = host_config(&dir, &broker, &topics, DeliveryMode::AtLeastOnce);
    config.claims.changelog_topic = changelog.clone();
    config.lookup.cache_missing_ttl = Duration::from_secs(3600);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    let host = RunningHost::start(&config, false);
    assert_eq!(
        topic_policy(&broker, &changelog).as_deref(),
        Some("compact"),
        "the host created the changelog topic, compacted"
    );
    produce_values(
        &broker,
        &topics[0],
        &[event("PAY-1", "CLM-ABSENT", "10.00")],
    );
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        1,
        Duration::from_secs(30),
    );

    // Kafka mode: POST /v1/claims publishes to the changelog, which the host applies.
    let admin = enricher::admin::AdminClient::new(&host.admin.expect("admin").to_string());
    let csv = "claim_id,member_id,claim_amount\nCLM-ABSENT,MBR-ABSENT,99.90\n";
    let report = admin
        .claims(
            csv.as_bytes(),
            enricher::claims_load::InputFormat::Csv,
            false,
            false,
        )
        .expect("claims published");
    assert_eq!(report.rows, 1);
    assert_eq!(report.applied_to, format!("changelog {changelog}"));
    let on_topic = read_all(&broker, &changelog, true);
    assert_eq!(on_topic.len(), 1, "one record on the changelog");
    wait_host_applied(&host.deployer, 1);
    produce_values(
        &broker,
        &topics[0],
        &[event("PAY-2", "CLM-ABSENT", "10.00")],
    );
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        2,
        Duration::from_secs(30),
    );
    host.stop();
    let [enriched, failed] = read_outputs(&broker, &topics[1], &topics[2]);
    assert_eq!(failed.len(), 1, "PAY-1 ran before the claim existed");
    assert!(String::from_utf8_lossy(&failed[0].value).contains("CLAIM_NOT_FOUND"));
    assert_eq!(enriched.len(), 1);
    let out: serde_json::Value = serde_json::from_slice(&enriched[0].value).expect("json");
    assert_eq!(out["payment_id"], "PAY-2");
    assert_eq!(out["member_id"], "MBR-ABSENT");
}
