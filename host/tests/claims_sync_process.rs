//! `enricher claims sync` as a real process, on the test PostgreSQL and the
//! test broker: killed with SIGKILL mid-stream while transactions keep
//! committing, then restarted, it resumes from its slot's confirmed
//! position; afterwards the changelog, applied into a fresh DuckDB file,
//! equals PostgreSQL's table (no change lost, the last value of each claim
//! wins). Stopped with SIGTERM, it exits 0. With `--metrics-addr` it serves
//! its counters and lag on `/metrics` while it runs.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[path = "../../tests/src/postgres.rs"]
#[allow(dead_code)]
mod postgres;
#[path = "support/mod.rs"]
mod support;
#[path = "../../tests/src/sync_fixtures.rs"]
#[allow(dead_code)]
mod sync_fixtures;

use postgres::{Pg, test_postgres, unique_table};
use support::kafka::broker;
use support::{Dir, enricher, wait_until};
use sync_fixtures::{
    changelog_into_fresh_duckdb, create_claims_table, duckdb_claims, topic_records,
};

/// `claims sync` of table, slot and publication `name` to `topic`, its stderr in `log`.
fn start_sync(url: &str, name: &str, broker: &str, topic: &str, log: &std::path::Path) -> Child {
    start_sync_with(url, name, broker, topic, log, &[])
}

fn start_sync_with(
    url: &str,
    name: &str,
    broker: &str,
    topic: &str,
    log: &std::path::Path,
    extra: &[&str],
) -> Child {
    let mut args = vec![
        "claims",
        "sync",
        "--from",
        url,
        "--table",
        name,
        "--slot",
        name,
        "--publication",
        name,
    ];
    args.extend_from_slice(extra);
    let mut cmd = enricher(&args);
    cmd.env("KAFKA_BOOTSTRAP_SERVERS", broker)
        .env("CLAIMS_CHANGELOG_TOPIC", topic)
        .env("ENRICHER_STATUS_INTERVAL", "1s")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    cmd.spawn().expect("start claims sync")
}

/// Commits small transactions until `stop`: updates of random claims (the
/// amount goes up, the status names the transaction), inserts and deletes.
fn writer(url: String, name: String, stop: Arc<AtomicBool>, commits: Arc<AtomicU64>) {
    let pg = Pg::connect(&url);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = fastrand_id(n) % 2000 + 1;
        let sql = match n % 10 {
            0 => format!("INSERT INTO {name} VALUES ('CLM-N{n}', 'MBR-N', {n}.01, 'NEW', now())"),
            5 => format!(
                "DELETE FROM {name} WHERE claim_id IN ('CLM-{id}', 'CLM-N{}')",
                n - 5
            ),
            _ => format!(
                "BEGIN; UPDATE {name} SET claim_amount = claim_amount + 0.01, claim_status = 'TX{n}' \
                 WHERE claim_id IN ('CLM-{id}', 'CLM-{}'); COMMIT",
                (id * 7) % 2000 + 1
            ),
        };
        pg.execute(&sql);
        commits.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A cheap spread of claim ids.
fn fastrand_id(n: u64) -> u64 {
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
}

#[test]
fn killed_mid_stream_and_restarted_it_loses_no_change() {
    let (url, broker) = (test_postgres(), broker());
    let pg = Pg::connect(&url);
    let name = unique_table("cdc_kill");
    create_claims_table(&pg, &name);
    pg.execute(&format!(
        "INSERT INTO {name} SELECT 'CLM-' || i, 'MBR-' || i, i, NULL, NULL FROM generate_series(1, 2000) i"
    ));
    let topic = format!("{name}-changelog");
    let dir = Dir::new("cdc-kill");
    let mut first = start_sync(&url, &name, &broker, &topic, &dir.join("first.log"));
    let (stop, commits) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writing = {
        let (url, name, stop, commits) = (
            url.clone(),
            name.clone(),
            Arc::clone(&stop),
            Arc::clone(&commits),
        );
        std::thread::spawn(move || writer(url, name, stop, commits))
    };
    let limit = Duration::from_secs(120);
    wait_until(limit, "the snapshot and some changes published", || {
        topic_records(&broker, &topic).0 > 2300
    });
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let at_kill = commits.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));
    let mut second = start_sync(&url, &name, &broker, &topic, &dir.join("second.log"));
    let published = topic_records(&broker, &topic).0;
    wait_until(limit, "changes after the restart published", || {
        topic_records(&broker, &topic).0 > published + 300
    });
    stop.store(true, Ordering::Relaxed);
    writing.join().expect("writer");
    assert!(
        commits.load(Ordering::Relaxed) > at_kill + 100,
        "changes kept coming across the kill"
    );

    // A last change: once it is on the changelog, everything before it is.
    pg.execute(&format!(
        "INSERT INTO {name} VALUES ('CLM-END', 'MBR-END', 1, NULL, NULL)"
    ));
    wait_until(limit, "the last change published", || {
        topic_records(&broker, &topic).1.as_deref() == Some("CLM-END")
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = second.wait().expect("wait");
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap_or_default();
    assert!(
        exit.success(),
        "SIGTERM ends in exit 0, got {exit:?}:\n{log}"
    );
    assert!(
        log.contains("(slot resumed)") && log.contains("0 snapshot rows"),
        "resumed, no new snapshot:\n{log}"
    );

    let db = changelog_into_fresh_duckdb(&broker, &topic, &dir.0, limit);
    let (applied, table) = (duckdb_claims(&db), pg.claims(&name));
    let differ: Vec<_> = table
        .iter()
        .filter(|(id, row)| applied.get(*id) != Some(row))
        .map(|(id, _)| id)
        .chain(applied.keys().filter(|id| !table.contains_key(*id)))
        .take(10)
        .collect();
    assert!(
        differ.is_empty(),
        "the changelog applied equals the table; differing: {differ:?}"
    );
    pg.drop_sync(&name);
}

/// `--metrics-addr`: while it runs, `/metrics` carries what the status line
/// says (snapshot rows, changes, deletions, the lag in bytes and seconds,
/// the acknowledged position), counted from what reached the changelog.
#[test]
fn its_counters_and_lag_are_served_on_metrics_while_it_runs() {
    let (url, broker) = (test_postgres(), broker());
    let pg = Pg::connect(&url);
    let name = unique_table("cdc_metrics");
    create_claims_table(&pg, &name);
    pg.execute(&format!(
        "INSERT INTO {name} SELECT 'CLM-' || i, 'MBR-' || i, i, NULL, NULL FROM generate_series(1, 40) i"
    ));
    let topic = format!("{name}-changelog");
    let dir = Dir::new("cdc-metrics");
    let log = dir.join("sync.log");
    let extra = ["--metrics-addr", "127.0.0.1:0"];
    let mut sync = start_sync_with(&url, &name, &broker, &topic, &log, &extra);
    let limit = Duration::from_secs(60);
    let mut metrics = String::new();
    wait_until(limit, "the metrics address in the log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        match text.split("metrics on ").nth(1) {
            Some(rest) => {
                metrics = rest.lines().next().unwrap_or_default().trim().to_owned();
                true
            }
            None => false,
        }
    });
    let value = |scrape: &support::prom::Scrape, name: &str| scrape.sum(name, &[]);
    let scrape = || support::prom::parse(&support::host::get(&metrics));
    wait_until(
        limit,
        "the snapshot published and the stream followed",
        || {
            let s = scrape();
            value(&s, "enricher_claims_sync_streaming") == 1.0
        },
    );
    let s = scrape();
    assert_eq!(value(&s, "enricher_claims_sync_snapshot_rows_total"), 40.0);
    assert_eq!(value(&s, "enricher_claims_sync_changes_total"), 0.0);

    pg.execute(&format!(
        "BEGIN; INSERT INTO {name} SELECT 'CLM-N' || i, 'MBR', i, NULL, NULL FROM generate_series(1, 25) i; \
         UPDATE {name} SET claim_amount = 7 WHERE claim_id IN ('CLM-1', 'CLM-2'); \
         DELETE FROM {name} WHERE claim_id IN ('CLM-3', 'CLM-4', 'CLM-5'); COMMIT"
    ));
    wait_until(limit, "the 30 changes counted", || {
        value(&scrape(), "enricher_claims_sync_changes_total") == 30.0
    });
    // Everything received is on the changelog: the follower goes idle (no lag
    // in seconds; the count above can be scraped a moment before it does), and
    // the bytes of WAL behind and the acknowledged position are reported.
    wait_until(
        limit,
        "no lag in seconds, the lag in bytes measured and the position acknowledged",
        || {
            let s = scrape();
            s.has("enricher_claims_sync_lag_bytes")
                && value(&s, "enricher_claims_sync_acknowledged_lsn") > 0.0
                && value(&s, "enricher_claims_sync_lag_seconds") == 0.0
        },
    );
    let s = scrape();
    assert_eq!(value(&s, "enricher_claims_sync_deleted_total"), 3.0);
    assert_eq!(value(&s, "enricher_claims_sync_rejected_total"), 0.0);
    let healthz = metrics.replace("/metrics", "/healthz");
    assert_eq!(support::host::get(&healthz).trim(), "ok");
    assert_eq!(
        topic_records(&broker, &topic).0,
        70,
        "40 snapshot rows and 30 changes"
    );

    wait_until(
        limit,
        "a status line with the same counts and the lag",
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines().any(|l| {
                l.starts_with("claims sync: 40 snapshot rows, 30 changes") && l.contains(", lag ")
            })
        },
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &sync.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    assert!(sync.wait().expect("wait").success());
    pg.drop_sync(&name);
}
