//! The `enricher` process and its consumer group, on the fault tests' own
//! broker (nisshi, `support/faults.rs`): killed with SIGKILL and restarted
//! under the same instance id, a static member (`group.instance.id`) takes
//! its partitions back well within the session timeout, and the control, a
//! dynamic member, waits for the dead session; a consumer of another
//! application joining the group is named in `/readyz`, the log and the
//! status line, and forgotten once it leaves; a missing input topic is named
//! in `/readyz` and said again while it lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[path = "support/mod.rs"]
mod support;

use support::faults::{Fixture, get, wait_for_status};

/// The session timeout of these tests: a dead dynamic member holds its
/// partitions this long.
const SESSION: Duration = Duration::from_secs(30);

/// `/readyz` of `admin` until it is ready with all `partitions`; how long it took.
fn wait_for_all_partitions(admin: &str, partitions: u64, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    loop {
        let (status, body) = get(admin, "/readyz");
        let held = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["partitions"].as_u64());
        if status == 200 && held == Some(partitions) || started.elapsed() > limit {
            return (started.elapsed(), body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start, process, SIGKILL, start again: how long the second run took to
/// hold all three partitions again.
fn restart_after_kill(f: &Fixture, static_membership: &str) -> (Duration, String) {
    let session = SESSION.as_millis().to_string();
    let env = [
        ("KAFKA_PROPERTY_SESSION_TIMEOUT_MS", session.as_str()),
        ("ENRICHER_INSTANCE_ID", "pod-1"),
        ("ENRICHER_KAFKA_STATIC_MEMBERSHIP", static_membership),
    ];
    let run = f.start_run(&env);
    let admin = run.admin();
    let (took, body) = wait_for_all_partitions(&admin, 3, Duration::from_secs(60));
    assert!(
        took < Duration::from_secs(60),
        "first start: {body}\n{}",
        run.log()
    );
    run.kill();
    let restarted = Instant::now();
    let run = f.start_run(&env);
    let admin = run.admin();
    let (_, body) = wait_for_all_partitions(&admin, 3, SESSION * 3);
    let took = restarted.elapsed();
    let log = run.log();
    run.kill();
    (took, format!("{body}\n{log}"))
}

#[test]
fn a_static_member_killed_and_restarted_takes_its_partitions_back_within_the_session_timeout() {
    let f = Fixture::new("static");
    f.broker("kafka-up");
    f.produce(5, 500);
    let (took, log) = restart_after_kill(&f, "true");
    // Half the session timeout: a dynamic member waits for all of it.
    assert!(
        took < SESSION / 2,
        "static member: partitions back after {took:?} (session {SESSION:?}):\n{log}"
    );
    eprintln!("static member: all partitions back {took:?} after the restart");

    // The control: the same restart as a dynamic member waits for the dead session.
    let f = {
        drop(f);
        Fixture::new("dynamic")
    };
    f.broker("kafka-up");
    f.produce(5, 500);
    let (took, log) = restart_after_kill(&f, "false");
    eprintln!("dynamic member: all partitions back {took:?} after the restart");
    assert!(
        took >= SESSION / 2,
        "the control should wait for the dead member's session: {took:?}:\n{log}"
    );
    assert!(
        log.contains("waiting for consumer group faults to assign partitions"),
        "the wait names the group:\n{log}"
    );
}

#[test]
fn a_consumer_of_another_application_in_the_group_is_named_until_it_leaves() {
    let f = Fixture::new("foreign");
    f.broker("kafka-up");
    f.produce(5, 200);
    let run = f.start_run(&[
        ("ENRICHER_STATUS_INTERVAL", "1s"),
        ("RUST_LOG", "warn,enricher::status=info"),
    ]);
    let admin = run.admin();
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(60));
    assert_eq!(
        ready,
        200,
        "ready alone in the group: {body}\n{}",
        run.log()
    );

    // Another application's consumer joins the same group (and takes partitions).
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let servers = format!("127.0.0.1:{}", f.port);
    let other = std::thread::spawn(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("group.id", "faults")
            .set("client.id", "payments-audit")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer");
        consumer.subscribe(&["payment-events"]).expect("subscribe");
        while !flag.load(Ordering::Relaxed) {
            let _ = consumer.poll(Duration::from_millis(100));
        }
        consumer.unsubscribe();
        // Dropping it closes it: it leaves the group.
    });
    let deadline = Instant::now() + Duration::from_secs(45);
    let named = loop {
        let (status, body) = get(&admin, "/readyz");
        if status == 503 && body.contains("payments-audit") || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // The status line (every second) names it too.
    let on_status_line = run.wait_for_log(
        "member(s) not enricher hosts (payments-audit",
        Duration::from_secs(5),
    );
    let log = run.log();
    stop.store(true, Ordering::Relaxed);
    other.join().expect("the other consumer");
    assert_eq!(
        named.0, 503,
        "a foreign member makes it not ready: {}\n{log}",
        named.1
    );
    assert!(
        named.1.contains("not enricher hosts"),
        "/readyz says what it is: {}",
        named.1
    );
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("payments-audit")),
        "warned about in the log:\n{log}"
    );
    assert!(on_status_line, "named on the status line:\n{log}");
    // Control: once it has left, the host alone is ready again.
    let (ready, body) = wait_for_status(&admin, "/readyz", 200, Duration::from_secs(60));
    assert_eq!(
        ready,
        200,
        "ready again after it left: {body}\n{}",
        run.log()
    );
}

#[test]
fn a_missing_input_topic_is_named_in_readyz_and_said_again_while_it_lasts() {
    let f = Fixture::new("notopic");
    f.broker("kafka-up");
    let run = f.start_run(&[
        ("PAYMENT_EVENTS_TOPIC", "no-such-events"),
        ("ENRICHER_KAFKA_STALL_WARNING", "3s"),
    ]);
    let admin = run.admin();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = get(&admin, "/readyz");
        if body.contains("no-such-events") || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("input topic(s) no-such-events do not exist"),
        "/readyz names the topic: {body}\n{}",
        run.log()
    );
    // Said again each kafka.stall-warning (3 s) while it lasts, not once.
    std::thread::sleep(Duration::from_secs(10));
    let said = run.log().matches("no-such-events do not exist").count();
    assert!(said >= 2, "said {said} time(s) in 10 s:\n{}", run.log());
}
