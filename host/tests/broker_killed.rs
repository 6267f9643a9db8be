//! The `enricher` process (at-least-once) against a broker killed with
//! SIGKILL mid-stream and started again on the same durable storage (nisshi's
//! postgres storage engine in a fresh database of the test PostgreSQL,
//! `support/faults.rs`): the broker comes back with its topics, records and
//! the group's committed offsets, the host recovers by itself, every input id
//! comes out at least once, and what it handled twice is bounded by what was
//! uncommitted at the kill.
//!
//! The bound: `enricher_records_in_total` counts every record the host
//! handled, so once every id is out, its final value minus the input is what
//! was handled again; an id can only be out twice if its record was handled
//! twice, and only a record handled before the kill and not yet committed can
//! be. With the committed offsets lost (a broker that forgot the group), the
//! group would start over from the earliest offsets and handle everything
//! handled before the kill again; so "handled again < handled before the
//! kill" says the offsets survived, and duplicates <= handled again.
//!
//! With the broker's storage in memory (scripts/kafka-up's default) the same
//! story loses the whole input: the restarted broker has no records.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::faults::{Fixture, get, wait_for_status};

/// Records the host has handled (`enricher_records_in_total`), from `/metrics`.
fn handled(admin: &str) -> u64 {
    let (status, body) = get(admin, "/metrics");
    assert_eq!(status, 200, "/metrics: {body}");
    support::prom::parse(&body).sum("enricher_records_in_total", &[]) as u64
}

/// Wait until `handled` has not moved for `quiet`; its value.
fn settled(admin: &str, quiet: Duration, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let (mut last, mut since) = (handled(admin), Instant::now());
    while since.elapsed() < quiet && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let now = handled(admin);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

#[test]
fn a_broker_killed_mid_stream_and_restarted_on_its_storage_loses_nothing() {
    let f = Fixture::on_postgres("kill9");
    f.broker("kafka-up");
    // nisshi reads records back from PostgreSQL slowly after a restart (tens
    // a second on a busy 2-core machine, from its cache faster before): a
    // small input, frozen (SIGSTOP) at the first progress so that the kill
    // lands mid-stream whatever the speed, then killed.
    let events: u64 = 2000;
    f.small_fetches();
    f.produce(7, events);
    let run = f.start_run(&[
        ("ENRICHER_KAFKA_DELIVERY_TIMEOUT", "4s"),
        ("ENRICHER_BATCH_SIZE", "20"),
        ("LOOKUP_CACHE", "none"),
    ]);
    let admin = run.admin();
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled(&admin) < 100 {
        assert!(
            Instant::now() < deadline,
            "no progress before the kill:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    f.signal_broker("-STOP");
    // What the host handled up to the freeze (what it had fetched it may
    // still handle; nothing more comes from a frozen broker).
    let before = settled(&admin, Duration::from_secs(3), Duration::from_secs(60));
    assert!(
        before < events,
        "the kill lands after the stream drained ({before} of {events} handled)"
    );
    f.signal_broker("-KILL");
    let (down, body) = wait_for_status(&admin, "/readyz", 503, Duration::from_secs(30));
    assert_eq!(down, 503, "not ready while the broker is gone: {body}");
    assert_eq!(get(&admin, "/healthz").0, 200, "alive while waiting");

    // Started again on the same storage: no topic is recreated by kafka-up.
    f.broker("kafka-up");
    let missing = f.wait_for_ids(7, events, Duration::from_secs(300));
    let after = settled(&admin, Duration::from_secs(3), Duration::from_secs(30));
    let counts = f.output_counts();
    let (status, _, log) = run.stop();
    assert!(
        missing.is_empty(),
        "lost {} ids, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicates: u64 = counts.values().map(|n| (*n as u64).saturating_sub(1)).sum();
    let again = after.saturating_sub(events);
    eprintln!(
        "{before} of {events} handled at the kill; {again} handled again after it; {duplicates} duplicate output(s)"
    );
    assert!(
        again < before,
        "the group's committed offsets survived the kill: {again} records handled again, \
         {before} handled before the kill\n{log}"
    );
    assert!(
        duplicates <= again,
        "duplicates ({duplicates}) come only from records handled again ({again})"
    );
    assert!(
        log.contains("reachable again"),
        "the recovery is logged:\n{log}"
    );
    assert!(status.success(), "{log}");
}
