//! The `enricher` process against a broker that fails (nisshi, at-least-once):
//! started before the broker, it names the address it cannot reach within
//! seconds and stops at once on SIGTERM, then processes everything once the
//! broker is there; a paused broker (SIGSTOP) logs a stall warning, turns
//! `/readyz` 503 past `kafka.delivery-timeout` with the status line saying
//! the lag is unknown, and loses nothing; a broker killed and restarted
//! (nisshi keeps topics in memory, so it comes back empty) turns `/readyz` 503
//! while down and 200 after, the records produced after the restart all come
//! out within the delivery timeout and seconds, the host's own topics (plugins,
//! claims changelog) are recreated and `POST /v1/claims` works again.
//!
//! Each test owns the broker on `ENRICHER_TEST_FAULT_KAFKA_PORT` (started and
//! stopped through scripts/kafka-up and kafka-down, `support/faults.rs`), one
//! test at a time. The consumer group's faults are in `group_faults.rs`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::faults::{Fixture, get, wait_for_status};
use support::ids;

#[test]
fn started_before_the_broker_it_names_the_address_stops_on_sigterm_and_later_catches_up() {
    let f = Fixture::new("early");
    let address = format!("cannot reach Kafka at 127.0.0.1:{}", f.port);

    let run = f.start_run(&[]);
    assert!(
        run.wait_for_log(&address, Duration::from_secs(10)),
        "no warning naming the address:\n{}",
        run.log()
    );
    // It keeps retrying with a visible, growing pause.
    assert!(
        run.wait_for_log("retrying in 2s", Duration::from_secs(10)),
        "no backoff:\n{}",
        run.log()
    );
    let (status, took, log) = run.stop();
    assert!(
        status.success(),
        "SIGTERM while waiting: exit 0, got {status:?}\n{log}"
    );
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}:\n{log}"
    );

    // Started again before the broker, it waits, then processes everything.
    let run = f.start_run(&[]);
    assert!(run.wait_for_log(&address, Duration::from_secs(10)));
    f.broker("kafka-up");
    f.produce(5, 3000);
    let missing = f.wait_for_ids(5, 3000, Duration::from_secs(120));
    let (status, _, log) = run.stop();
    assert!(
        missing.is_empty(),
        "lost {} ids, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(status.success(), "{log}");
    assert!(
        log.contains("reachable after"),
        "the recovery is logged:\n{log}"
    );
}

#[test]
fn a_paused_broker_logs_a_stall_and_loses_nothing() {
    let f = Fixture::new("pause");
    f.small_fetches();
    f.broker("kafka-up");
    let events = 60_000;
    f.produce(5, events);
    // Small batches without a cache: slow enough that the pause lands mid-stream.
    let run = f.start_run(&[
        ("ENRICHER_KAFKA_STALL_WARNING", "3s"),
        ("ENRICHER_KAFKA_DELIVERY_TIMEOUT", "3s"),
        ("ENRICHER_BATCH_SIZE", "20"),
        ("LOOKUP_CACHE", "none"),
        ("ENRICHER_STATUS_INTERVAL", "1s"),
        ("RUST_LOG", "warn,enricher::status=info"),
    ]);
    let admin = run.admin();
    // Some progress before the pause: the host is consuming.
    let started = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = handled(&admin);
            if n >= 2000 || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert!(
        started >= 2000,
        "no progress before the pause:\n{}",
        run.log()
    );
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(30));
    assert_eq!(ready, 200, "ready before the pause: {body}");
    let log_before = run.log().len();
    f.signal_broker("-STOP");
    let paused = Instant::now();
    // The group session times out while the broker is paused and the commit
    // before revocation waits and retries inside the rebalance callback: those
    // loops ask the broker watch too, so the warning comes within seconds of
    // the stall time (3 s), not after them.
    let stalled = run.wait_for_log("Kafka stalled", Duration::from_secs(12));
    eprintln!(
        "stall warning after {:.1} s of pause",
        paused.elapsed().as_secs_f64()
    );
    // Frozen past kafka.delivery-timeout (3 s): not ready, and the lag is unknown.
    let (frozen, frozen_body) = wait_for_status(&admin, "/readyz", 503, Duration::from_secs(8));
    // The admin API answers while the broker is frozen: what the host has
    // handled by now (records fetched before the pause are through by the
    // time /readyz turned), and again at the end of the pause.
    let paused_at = handled(&admin);
    std::thread::sleep(Duration::from_secs(6));
    let paused_end = handled(&admin);
    let during = run.log()[log_before..].to_owned();
    f.signal_broker("-CONT");
    let missing = f.wait_for_ids(5, events, Duration::from_secs(180));
    let (status, _, log) = run.stop();
    assert!(stalled, "no stall warning while paused:\n{log}");
    assert_eq!(
        frozen, 503,
        "not ready while the broker is frozen: {frozen_body}\n{log}"
    );
    assert!(
        frozen_body.contains("has not answered"),
        "the frozen broker is named: {frozen_body}"
    );
    let status_lines: Vec<&str> = during.lines().filter(|l| l.contains("status:")).collect();
    // The first lines may still show the last lag the broker told (it counts
    // as unknown once ~5 s old); after them, every line says unknown.
    let later: Vec<&&str> = status_lines.iter().skip(7).collect();
    assert!(
        !later.is_empty() && later.iter().all(|l| l.contains("), lag unknown")),
        "the status line says the consumer lag is unknown while frozen: {status_lines:?}"
    );
    // From /metrics scraped during the pause: it landed mid-stream (fewer
    // records handled than the input holds), and nothing moved while frozen.
    assert!(
        paused_at < events,
        "the pause landed after the stream drained ({paused_at} of {events} handled)"
    );
    assert_eq!(
        paused_at, paused_end,
        "records handled while the broker was frozen\n{log}"
    );
    eprintln!("{paused_at} of {events} handled when paused");
    assert!(
        missing.is_empty(),
        "lost {} ids, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(status.success(), "{log}");
}

/// Records the host has handled (`enricher_records_in_total`), from `/metrics`.
fn handled(admin: &str) -> u64 {
    let (status, body) = get(admin, "/metrics");
    assert_eq!(status, 200, "/metrics: {body}");
    support::prom::parse(&body).sum("enricher_records_in_total", &[]) as u64
}

/// The plugin topic of the restart test (off in the other tests).
const PLUGINS: &str = "faults-plugins";
/// The admin token of the restart test (`POST /v1/claims` needs one).
const TOKEN: &str = "faults-token-0123456789";

/// `POST /v1/claims` with one claim: the status and the body.
fn post_claim(admin: &str) -> (u16, String) {
    let csv = "claim_id,member_id,claim_amount,claim_status,created_date\n\
               CLM-AFTER-RESTART,MBR-1,10.00,APPROVED,2024-01-02 03:04:05\n";
    support::host::raw_request(
        admin,
        "POST /v1/claims",
        &[
            "Host: localhost",
            "Content-Type: text/csv",
            &format!("Authorization: Bearer {TOKEN}"),
        ],
        csv,
    )
}

#[test]
fn a_broker_killed_and_restarted_is_recovered_within_the_delivery_timeout_and_readiness_follows() {
    let f = Fixture::new("restart");
    f.broker("kafka-up");
    f.produce(5, 2000);
    // The default stall time (30 s): recovery must not wait for it, only for
    // kafka.delivery-timeout after the broker answers again.
    let delivery_timeout = Duration::from_secs(4);
    let run = f.start_run(&[
        ("ENRICHER_KAFKA_DELIVERY_TIMEOUT", "4s"),
        ("ENRICHER_PLUGIN_TOPIC", PLUGINS),
        ("ENRICHER_ADMIN_TOKEN", TOKEN),
    ]);
    let admin = run.admin();
    assert!(
        f.wait_for_ids(5, 2000, Duration::from_secs(60)).is_empty(),
        "{}",
        run.log()
    );
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(30));
    assert_eq!(ready, 200, "ready before the fault: {body}");
    let topics = f.topics();
    assert!(
        topics.contains(PLUGINS) && topics.contains("claims-changelog"),
        "the internal topics exist before the fault: {topics}"
    );

    f.broker("kafka-down");
    let (down, body) = wait_for_status(&admin, "/readyz", 503, Duration::from_secs(30));
    assert_eq!(down, 503, "not ready while the broker is down: {body}");
    assert!(body.contains("not reachable"), "{body}");
    assert_eq!(get(&admin, "/healthz").0, 200, "alive while waiting");

    // nisshi comes back empty (in-memory): kafka-up recreates the stream's
    // topics; the host's own (plugins, claims changelog) are its business.
    f.broker("kafka-up");
    let answering = Instant::now();
    f.produce(6, 3000);
    let missing = f.wait_for_ids(6, 3000, Duration::from_secs(120));
    let resumed = answering.elapsed();
    let recreated = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let topics = f.topics();
            if topics.contains(PLUGINS) && topics.contains("claims-changelog")
                || Instant::now() > deadline
            {
                break topics;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    // The changelog is writable again: POST /v1/claims is accepted (a first
    // try may wait out the publisher's 30 s flush before it takes a new producer).
    let posted = {
        let deadline = Instant::now() + Duration::from_secs(75);
        loop {
            let answer = post_claim(&admin);
            if answer.0 == 200 || Instant::now() > deadline {
                break answer;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(60));
    assert_eq!(get(&admin, "/healthz").0, 200);
    let (status, took, log) = run.stop();
    assert!(
        missing.is_empty(),
        "lost {} ids after the restart, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Producing 3000 records and reading both outputs back take seconds; the
    // recovery itself may take the delivery timeout and a few seconds of the
    // broker answering. The old wait (twice kafka.stall-warning, 60 s) fails this.
    let limit = delivery_timeout * 3 + Duration::from_secs(15);
    assert!(
        resumed < limit,
        "outputs resumed {resumed:?} after the broker answered again (limit {limit:?})\n{log}"
    );
    assert!(
        recreated.contains(PLUGINS) && recreated.contains("claims-changelog"),
        "the internal topics are recreated: {recreated}\n{log}"
    );
    assert!(
        log.contains("recreated it"),
        "the recreation is logged:\n{log}"
    );
    assert_eq!(
        posted.0, 200,
        "POST /v1/claims after the restart: {}\n{log}",
        posted.1
    );
    assert_eq!(ready, 200, "ready again after the restart: {body}\n{log}");
    assert!(log.contains("unreachable"), "the outage is logged:\n{log}");
    assert!(
        log.contains("reachable again"),
        "the recovery is logged:\n{log}"
    );
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(35), "SIGTERM took {took:?}");
    let seen: HashSet<String> = f.output_counts().into_keys().collect();
    assert!(ids(6, 3000).all(|id| seen.contains(&id)));
}
