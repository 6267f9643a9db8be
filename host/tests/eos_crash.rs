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

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::faults::Running;
use support::kafka::fresh_topics;
use support::lineage::{self, Topic, payment_id};
use support::raw_log::{self, Log, LogRecord};
use support::{Dir, enricher, ok};

const EVENTS: u64 = 100_000;
const PARTITIONS: i32 = 3;
const KILLS: usize = 6;

/// A small xorshift: the kill points differ from run to run and are printed.
struct Dice(u64);

impl Dice {
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

struct Story {
    dir: Dir,
    broker: String,
    /// in, enriched, failed, retry, changelog.
    topics: [String; 5],
}

impl Story {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        cmd.env("KAFKA_BOOTSTRAP_SERVERS", &self.broker)
            .env("PAYMENT_EVENTS_TOPIC", &self.topics[0])
            .env("ENRICHED_PAYMENTS_TOPIC", &self.topics[1])
            .env("FAILED_PAYMENTS_TOPIC", &self.topics[2])
            .env("KAFKA_RETRY_TOPIC", &self.topics[3])
            .env("CLAIMS_CHANGELOG_TOPIC", &self.topics[4])
            .env("KAFKA_GROUP_ID", format!("{}-group", self.topics[0]))
            .env("ENRICHER_PLUGIN_TOPIC", "off")
            .env("ENRICHER_DELIVERY", "exactly-once")
            // One name across restarts: the same transactional id, so each
            // start fences the killed one and ends its open transaction.
            .env("ENRICHER_INSTANCE_ID", "eos-crash")
            .env("KAFKA_PROPERTY_SESSION_TIMEOUT_MS", "6000")
            .env("LOOKUP_RETRY_NOT_FOUND", "1s,2s")
            // Every lookup reads the file: a claim the changelog adds counts at once.
            .env("LOOKUP_CACHE", "none")
            // Small batches and transactions (500 records): a kill lands
            // inside one, and the kills spread over the stream.
            .env("ENRICHER_BATCH_SIZE", "200")
            .env("ENRICHER_COMMIT_MAX_RECORDS", "500")
            .env("ENRICHER_ADMIN_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn");
        cmd
    }

    fn start(&self, args: &[&str], label: &str) -> Running {
        self.start_with(args, label, |_| {})
    }

    fn start_with(&self, args: &[&str], label: &str, more: impl Fn(&mut Command)) -> Running {
        let log = self.dir.join(&format!("{label}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = self.command(args);
        more(&mut command);
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn enricher");
        Running { child, log }
    }

    fn db(&self) -> String {
        self.dir.arg("claims.duckdb")
    }

    fn log(&self, topic: usize) -> Log {
        raw_log::read(&self.broker, &self.topics[topic], PARTITIONS)
    }
}

fn header<'a>(r: &'a LogRecord, name: &str) -> &'a str {
    lineage::header(r, name).unwrap_or("")
}

fn counts<'a>(records: impl IntoIterator<Item = &'a LogRecord>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(payment_id(r)).or_insert(0) += 1;
    }
    counts
}

/// Where the committed copies of `id` are: partition, offset, producer id and
/// epoch, and the retry attempt that made each.
fn copies(log: &Log, id: &str) -> Vec<(i32, i64, i64, i16, i32, String)> {
    log.committed()
        .into_iter()
        .filter(|r| payment_id(r) == id)
        .map(|r| {
            let attempt = header(r, "retry-attempt").to_owned();
            (
                r.partition,
                r.offset,
                r.producer_id,
                r.producer_epoch,
                r.sequence,
                attempt,
            )
        })
        .collect()
}

/// The ids that appear more than once.
fn twice(counts: &BTreeMap<String, usize>) -> Vec<&String> {
    counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect()
}

/// Distinct ids committed on enriched and failed together.
fn done(story: &Story) -> usize {
    let enriched = story.log(1);
    let failed = story.log(2);
    let ids: BTreeSet<String> = enriched
        .committed()
        .into_iter()
        .chain(failed.committed())
        .map(payment_id)
        .collect();
    ids.len()
}

/// SIGKILL `run` once it has committed `commits` transactions, `extra` later.
fn kill_after_commits(mut run: Running, commits: u64, extra: Duration) {
    let admin = run.admin();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = run.child.try_wait().expect("wait") {
            panic!(
                "the run ended ({status}) before {commits} commits:\n{}",
                run.log()
            );
        }
        let (_, body) = support::faults::get(&admin, "/metrics");
        if support::prom::parse(&body).sum("enricher_commits_total", &[]) >= commits as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {commits} commits within 120 s:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(extra);
    run.kill();
}

/// The claims of `events` whose claim id the claims file lacks, as CSV rows.
fn missing_claims(dir: &Dir) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let mut claims = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("event");
        let claim = v["claim_id"].as_str().expect("claim_id");
        if claim.starts_with("CLM-X-") {
            claims.insert(claim.to_owned());
        }
    }
    claims
        .into_iter()
        .map(|c| format!("{c},MBR-LATE,123.45,APPROVED,2024-01-01 00:00:00"))
        .collect()
}

fn write_csv(dir: &Dir, name: &str, rows: &[String]) -> String {
    let header = "claim_id,member_id,claim_amount,claim_status,created_date\n";
    std::fs::write(dir.join(name), format!("{header}{}\n", rows.join("\n"))).expect("csv");
    dir.arg(name)
}

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

    let input = story.log(0);
    let enriched = story.log(1);
    let failed = story.log(2);
    let retry = story.log(3);
    let counted = lineage::count(&[
        (Topic::Enriched, &enriched),
        (Topic::Failed, &failed),
        (Topic::Retry, &retry),
    ]);
    let of = |topic: Topic| {
        counted
            .valid
            .iter()
            .filter(move |(t, _)| *t == topic)
            .map(|(_, r)| *r)
    };
    let enriched_counts = counts(of(Topic::Enriched));
    let failed_counts = counts(of(Topic::Failed));
    let input_counts = counts(input.committed());
    assert!(
        input_counts.len() as u64 == EVENTS && twice(&input_counts).is_empty(),
        "the input holds each id once"
    );
    let lost: Vec<&String> = input_counts
        .keys()
        .filter(|id| !enriched_counts.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} ids never enriched, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        enriched_counts.len(),
        input_counts.len(),
        "nothing but the input on enriched"
    );
    // Payments whose lineage cannot be told apart (lineage.rs) are checked
    // for loss only; they are few, and counted.
    let ambiguous = &counted.ambiguous;
    assert!(
        ambiguous.len() <= 50,
        "{} ambiguous payments",
        ambiguous.len()
    );
    let exact = |counts: &BTreeMap<String, usize>| -> Vec<String> {
        twice(counts)
            .into_iter()
            .filter(|id| !ambiguous.contains(*id))
            .cloned()
            .collect()
    };
    let doubled = exact(&enriched_counts);
    assert!(
        doubled.is_empty(),
        "{} ids enriched twice, e.g. {:?}; the copies of the first: {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)],
        copies(&enriched, doubled.first().map_or("", |id| id.as_str()))
    );
    let doubled = exact(&failed_counts);
    assert!(
        doubled.is_empty(),
        "{} ids failed twice, e.g. {:?}; the copies of the first: {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)],
        copies(&failed, doubled.first().map_or("", |id| id.as_str()))
    );
    let failed_ids: BTreeSet<String> = failed_counts
        .keys()
        .filter(|id| !ambiguous.contains(*id))
        .cloned()
        .collect();
    let redriven: BTreeSet<String> = to_redrive
        .iter()
        .filter(|id| !ambiguous.contains(*id))
        .cloned()
        .collect();
    assert_eq!(failed_ids, redriven, "the redrive failed nothing again");
    let mut attempts = BTreeMap::new();
    for r in of(Topic::Retry) {
        let key = (payment_id(r), header(r, "retry-attempt").to_owned());
        *attempts.entry(key).or_insert(0usize) += 1;
    }
    let repeated: Vec<_> = attempts
        .iter()
        .filter(|((id, _), n)| **n > 1 && !ambiguous.contains(id))
        .collect();
    assert!(!attempts.is_empty(), "the retry path was taken");
    assert!(repeated.is_empty(), "a retry attempt twice: {repeated:?}");

    // The control: the kills left records no commit covers, and counting the
    // whole log (what an at-least-once reader gets) finds ids twice.
    let uncommitted = [&enriched, &failed, &retry]
        .iter()
        .map(|log| log.aborted().len() + log.open().len())
        .sum::<usize>();
    let all_counts = counts(enriched.records.iter());
    let aside = |topic: Topic| {
        counted
            .set_aside
            .iter()
            .filter(|(t, _)| *t == topic)
            .count()
    };
    eprintln!(
        "{uncommitted} records of aborted or unended transactions; {} ids twice in the whole \
         log; {} committed outputs set aside, made from aborted records Tansu handed the host \
         ({} enriched, {} failed, {} retry); {} payments checked for loss only (ambiguous)",
        twice(&all_counts).len(),
        counted.set_aside.len(),
        aside(Topic::Enriched),
        aside(Topic::Failed),
        aside(Topic::Retry),
        ambiguous.len(),
    );
    assert!(uncommitted > 0, "no kill landed inside a transaction");
    assert!(
        !twice(&all_counts).is_empty(),
        "the whole log holds no id twice: the check above could not tell"
    );
}
