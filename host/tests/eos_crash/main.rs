//! Exactly-once across crashes, on the transactional test broker (Tansu,
//! `ENRICHER_TEST_KAFKA_TXN`): 100k payments, a tenth with claims that do not
//! exist yet. `enricher run --delivery exactly-once` is killed with SIGKILL six
//! times at random points and started again; half of the missing claims are
//! published on the changelog mid-stream (their payments come back through
//! the retry topic and end enriched), the other half only after the stream
//! (their payments end in failed-payments after the last retry), and then
//! `enricher redrive` moves those, killed part-way once and run again.
//!
//! What is checked, and how: Tansu writes a COMMIT or ABORT marker into each
//! partition at every transaction's end, but its `read_committed` readers
//! also get aborted records, so the outputs are read from the log itself
//! (`support::raw_log`, a raw Fetch that sees the markers) and replayed as an
//! Apache Kafka `read_committed` consumer would: a record counts only once its
//! producer's COMMIT marker follows it. From those: every input id exactly once
//! on enriched-payments, at most once on failed-payments (only the re-driven
//! ones), each retry attempt once. The control: the kills left aborted or
//! never-ended records behind, and counting every record of the log instead
//! finds ids twice, so the check would fail a host that is only at-least-once.
//!
//! What this does not prove: that a broker hides aborted records from its
//! consumers (the broker's part; Tansu does not, Apache Kafka and Redpanda do:
//! `scripts/eos-check` runs this story against one), nor a broker crash.

#[path = "../support/mod.rs"]
mod support;

mod check;
mod story;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use check::every_payment_once;
use story::{Dice, EVENTS, KILLS, Story, done, kill_after_commits, missing_claims, write_csv};
use support::kafka::fresh_topics;
use support::lineage::{self, Topic, payment_id};
use support::{Dir, ok};

#[test]
fn killed_six_times_with_late_claims_and_a_killed_redrive_every_payment_is_enriched_once() {
    let Ok(broker) = std::env::var("ENRICHER_TEST_KAFKA_TXN") else {
        panic!(
            "no transactional test broker: run scripts/test, or scripts/txn-broker-up and set ENRICHER_TEST_KAFKA_TXN"
        );
    };
    let story = Story {
        dir: Dir::new("eos-crash"),
        broker,
        topics: fresh_topics(
            "eoscrash",
            ["in", "enriched", "failed", "retry", "changelog"],
        ),
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill points from seed {seed}");
    let mut dice = Dice(seed);

    let mut create = story.command(&["topic", "create", "--partitions", "3"]);
    create.args(&story.topics);
    ok(&mut create);
    let events = story.dir.arg("events.jsonl");
    let claims = story.dir.arg("claims.csv");
    let generate = |out: &[&str]| {
        let mut cmd = story.command(&["generate", "--count", "100000", "--claims", "10000"]);
        cmd.args(["--seed", "21", "--valid-claim-rate", "0.9"])
            .args(out);
        ok(&mut cmd);
    };
    generate(&["--out", &events, "--claims-out", &claims]);
    ok(story.command(&["claims", "load", &claims, "--db", &story.db()]));
    let missing = missing_claims(&story.dir);
    let (early, late) = missing.split_at(missing.len() / 2);
    let early_csv = write_csv(&story.dir, "early.csv", early);
    generate(&["--topic", &story.topics[0]]);

    // The stream, killed at random points (after a random number of this
    // run's commits, and a random moment more, so inside a transaction);
    // the first half of the missing claims is published after the second kill.
    let run_args = ["run", "--db", &story.db()];
    let mut killed_at = Vec::new();
    for round in 0..KILLS {
        let run = story.start(&run_args, &format!("run-{round}"));
        let commits = dice.between(5, 30);
        let extra = dice.between(0, 400);
        kill_after_commits(run, commits, Duration::from_millis(extra));
        killed_at.push((commits, extra));
        if round == 1 {
            ok(story.command(&["claims", "publish", &early_csv]));
        }
    }
    let before_last = done(&story);
    eprintln!(
        "killed after (commits, ms) {killed_at:?}; {before_last} of {EVENTS} ids out at the last kill"
    );
    assert!(
        (before_last as u64) < EVENTS,
        "the stream ended before the last kill: the kills were not mid-stream"
    );
    let mut run = story.start(&run_args, "run-last");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let out = done(&story) as u64;
        if out == EVENTS {
            break;
        }
        let ended = run.child.try_wait().ok().flatten();
        assert!(
            Instant::now() < deadline && ended.is_none(),
            "{out} of {EVENTS} ids out ({ended:?}):\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let the last retries settle (every id is out; nothing is due any more).
    let (status, _, log) = run.stop();
    assert!(status.success(), "{log}");

    // The rest of the claims, then redrive the payments that failed for want
    // of them, killed once part-way and run again.
    let all = write_csv(
        &story.dir,
        "all.csv",
        &std::fs::read_to_string(&claims)
            .expect("claims")
            .lines()
            .skip(1)
            .map(str::to_owned)
            .chain(missing.iter().cloned())
            .collect::<Vec<_>>(),
    );
    ok(story.command(&["claims", "load", &all, "--db", &story.db()]));
    let (failed, retry) = (story.log(2), story.log(3));
    let to_redrive: BTreeSet<String> =
        lineage::count(&[(Topic::Failed, &failed), (Topic::Retry, &retry)])
            .valid
            .into_iter()
            .filter(|(t, _)| *t == Topic::Failed)
            .map(|(_, r)| payment_id(r))
            .collect();
    assert!(
        to_redrive.len() >= late.len(),
        "every payment of a late claim failed: {} < {}",
        to_redrive.len(),
        late.len()
    );
    let enriched_of = |story: &Story| -> usize {
        story
            .log(1)
            .committed()
            .into_iter()
            .filter(|r| to_redrive.contains(&payment_id(r)))
            .count()
    };
    let redrive_args = [
        "redrive",
        "--reason",
        "CLAIM_NOT_FOUND",
        "--db",
        &story.db(),
    ];
    // Small batches: a transaction per 20 records, so the redrive takes
    // seconds and the kill lands once some of it is committed.
    let slow = |cmd: &mut Command| {
        cmd.env("ENRICHER_BATCH_SIZE", "20")
            .env("ENRICHER_COMMIT_MAX_RECORDS", "20");
    };
    let mut redrive = story.start_with(&redrive_args, "redrive-killed", slow);
    let deadline = Instant::now() + Duration::from_secs(120);
    while enriched_of(&story) == 0 {
        assert!(
            Instant::now() < deadline && redrive.child.try_wait().ok().flatten().is_none(),
            "the redrive committed nothing:\n{}",
            redrive.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(dice.between(0, 300)));
    let finished = redrive.child.try_wait().ok().flatten().is_some();
    assert!(
        !finished,
        "the redrive ended before the kill: slow it down\n{}",
        redrive.log()
    );
    redrive.kill();
    let part_way = enriched_of(&story);
    eprintln!(
        "redrive killed with {part_way} of {} done",
        to_redrive.len()
    );
    assert!(
        part_way < to_redrive.len(),
        "the redrive was done before the kill ({part_way} of {}): slow it down",
        to_redrive.len()
    );
    let out = ok(story.command(&redrive_args));
    eprintln!("{out}");

    every_payment_once(&story, &to_redrive);
}
