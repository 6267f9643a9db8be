//! `enricher redrive` killed part-way and run again, exactly-once on the
//! transactional test broker (Tansu, `ENRICHER_TEST_KAFKA_TXN`): a host run
//! against a claims table missing most claims sends those payments to
//! `failed-payments` (CLAIM_NOT_FOUND); a redrive with the whole table is
//! killed with SIGKILL once some of its outputs are out (no last commit, its
//! open transaction left behind); the second redrive aborts that transaction
//! (same transactional id), resumes from the committed offsets and moves the
//! rest: every redriven payment is enriched exactly once.
//!
//! Tansu hides a transaction still open from `read_committed` readers but
//! shows aborted records (scripts/txn-broker-up), so the check reads the
//! outputs with their `commit-unit` header: the killed run's units visible
//! right after the kill were committed; a unit of it that shows up only later
//! is the transaction it had open, aborted by the second run. The second run
//! reads exactly what the killed one had not committed, and without the
//! aborted unit every redriven payment is enriched exactly once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::kafka::{fresh_topics, stream_env};
use support::{Dir, enricher, generated_db, path, run_ok as ok};

/// Events produced; a tenth of them find their claim in the first run.
const EVENTS: u64 = 20_000;

/// One output record: its payment id and the commit unit it was produced in.
struct Out {
    payment_id: String,
    unit: String,
}

struct Story {
    broker: String,
    topics: [String; 3],
    dir: Dir,
}

impl Story {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        stream_env(&mut cmd, &self.broker, &self.topics);
        cmd.env("ENRICHER_DELIVERY", "exactly-once")
            .env("ENRICHER_PLUGIN_TOPIC", "off")
            .env("CLAIMS_CHANGELOG_TOPIC", "off");
        cmd
    }

    /// Every record of `topic` (committed reads; Tansu shows aborted ones too).
    fn outputs(&self, topic: &str) -> Vec<Out> {
        let out = ok(self.command(&["topic", "tail", topic]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("tail line");
                let value: serde_json::Value =
                    serde_json::from_str(record["value"].as_str().expect("value"))
                        .expect("JSON value");
                Out {
                    payment_id: value["payment_id"].as_str().expect("payment_id").to_owned(),
                    unit: record["headers"]["commit-unit"]
                        .as_str()
                        .expect("commit-unit header")
                        .to_owned(),
                }
            })
            .collect()
    }

    fn redrive(&self, full_db: &str) -> Command {
        let mut cmd = self.command(&["redrive", "--reason", "CLAIM_NOT_FOUND", "--db", full_db]);
        // Small transactions without a cache: slow enough to be killed part-way.
        cmd.env("ENRICHER_BATCH_SIZE", "10")
            .env("LOOKUP_CACHE", "none");
        cmd
    }
}

#[test]
fn a_redrive_killed_part_way_and_run_again_moves_each_payment_exactly_once() {
    let broker = std::env::var("ENRICHER_TEST_KAFKA_TXN").unwrap_or_else(|_| {
        panic!(
            "no transactional test broker: run scripts/test, or scripts/txn-broker-up and set ENRICHER_TEST_KAFKA_TXN"
        )
    });
    let dir = Dir::new("redrive-killed");
    for sub in ["small", "full"] {
        std::fs::create_dir_all(dir.join(sub)).expect("dir");
    }
    // Claims CLM-0000000.. of seed 5: the first 1000, and all 10000.
    let small = generated_db(&dir.join("small"), 1_000, 5);
    let full = generated_db(&dir.join("full"), 10_000, 5);
    let story = Story {
        broker,
        topics: fresh_topics("rdkill", ["in", "enriched", "failed"]),
        dir,
    };
    let [_, enriched, failed] = &story.topics;
    let mut create = story.command(&["topic", "create", "--partitions", "3"]);
    create.args(&story.topics);
    ok(create);
    ok(story.command(&[
        "generate",
        "--seed",
        "5",
        "--claims",
        "10000",
        "--valid-claim-rate",
        "1",
        "--invalid-rate",
        "0",
        "--count",
        &EVENTS.to_string(),
        "--topic",
        &story.topics[0],
    ]));
    ok(story.command(&["run", "--stop-at-end", "--db", path(&small)]));
    let not_found: HashSet<String> = story
        .outputs(failed)
        .into_iter()
        .map(|o| o.payment_id)
        .collect();
    let first_enriched = story.outputs(enriched).len();
    assert_eq!(
        not_found.len() + first_enriched,
        EVENTS as usize,
        "the first run answered every event once"
    );
    assert!(not_found.len() > EVENTS as usize / 2, "most claims missing");

    // The redrive, killed once some of its outputs are out.
    let log = story.dir.join("killed.log");
    let mut killed = story
        .redrive(path(&full))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn redrive");
    let killed_tag = format!("-redrive-{}-", killed.id());
    let is_redrive = |o: &Out| o.unit.contains("-redrive-");
    let deadline = Instant::now() + Duration::from_secs(120);
    let out_at_kill = loop {
        let n = story
            .outputs(enriched)
            .iter()
            .filter(|o| is_redrive(o))
            .count();
        if n >= 200 {
            support::faults::send("-KILL", &killed.id().to_string());
            break n;
        }
        let done = killed.try_wait().expect("wait");
        assert!(
            done.is_none() && Instant::now() < deadline,
            "the redrive ended ({done:?}) or made no outputs before it could be killed:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let status = killed.wait().expect("wait");
    assert!(!status.success(), "killed, not finished: {status:?}");
    // Mid-way: what the killed run had committed (Tansu hides a transaction
    // still open) is a part of the payments to move.
    let units_of = |outs: &[Out]| -> BTreeSet<String> {
        (outs.iter())
            .filter(|o| o.unit.contains(&killed_tag))
            .map(|o| o.unit.clone())
            .collect()
    };
    let at_kill = story.outputs(enriched);
    let committed_units = units_of(&at_kill);
    let committed = (at_kill.iter())
        .filter(|o| o.unit.contains(&killed_tag))
        .count();
    assert!(
        committed > 0 && committed < not_found.len(),
        "the kill landed mid-way: {committed} of {} moved ({out_at_kill} seen before the kill)",
        not_found.len()
    );

    // Run again: it aborts the killed run's open transaction and resumes
    // where its commits end, so it reads exactly the rest.
    let again = ok(story.redrive(path(&full)));
    let summary = String::from_utf8_lossy(&again.stdout).into_owned()
        + &String::from_utf8_lossy(&again.stderr);
    let read_again: usize = summary
        .split("redrive: read ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary: {summary}"));
    assert_eq!(
        read_again + committed,
        not_found.len(),
        "the second redrive reads what the killed one had not committed\n{summary}"
    );

    // The outputs: the killed run's units that were not visible at the kill
    // (at most the one transaction it had open) were aborted; Tansu shows
    // them now. Without them, every redriven payment is out exactly once.
    let all = story.outputs(enriched);
    let aborted: BTreeSet<String> = units_of(&all)
        .difference(&committed_units)
        .cloned()
        .collect();
    assert!(
        aborted.len() <= 1,
        "one transaction at most was open at the kill: {aborted:?}"
    );
    let kept = all
        .iter()
        .filter(|o| o.unit.contains("-redrive-") && !aborted.contains(&o.unit));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for o in kept {
        *counts.entry(o.payment_id.as_str()).or_insert(0) += 1;
    }
    let missing = not_found
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .count();
    let doubled = counts.values().filter(|n| **n > 1).count();
    let foreign = counts.keys().filter(|id| !not_found.contains(**id)).count();
    let aborted_outputs = all.iter().filter(|o| aborted.contains(&o.unit)).count();
    eprintln!(
        "{committed} of {} committed at the kill, {aborted_outputs} in its aborted transaction; \
         the second run read {read_again}",
        not_found.len()
    );
    assert_eq!(
        (missing, doubled, foreign),
        (0, 0, 0),
        "every redriven payment enriched exactly once (missing, more than once, not redriven)\n{summary}"
    );
    // And the failed topic gained nothing: every claim is there now.
    assert_eq!(story.outputs(failed).len(), not_found.len(), "{summary}");
}
