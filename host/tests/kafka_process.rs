//! The `enricher` process in Kafka mode on the real test broker (nisshi,
//! at-least-once): killed with SIGKILL mid-run and restarted, nothing is lost
//! and the duplicates stay within the in-flight window; stopped with SIGTERM,
//! it commits what it did and exits 0, so a restart duplicates nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use support::kafka::{broker, fresh_topics, payment_id_counts, stream_env};
use support::{Dir, enricher, ids, ok, wait_until};

/// Records a crash may replay per kill: one commit window plus one batch.
const COMMIT_MAX_RECORDS: usize = 5000;
const BATCH: usize = 1000;

struct Job {
    dir: Dir,
    broker: String,
    topics: [String; 3],
    db: PathBuf,
    /// Extra environment of the `run` processes.
    run_env: Vec<(&'static str, String)>,
}

impl Job {
    fn new(label: &str, events: u64) -> Self {
        let dir = Dir::new(&format!("kproc-{label}"));
        let topics = fresh_topics(label, ["in", "enriched", "failed"]);
        // A killed member leaves the group after its session times out: keep that short here.
        std::fs::write(
            dir.join("enricher.toml"),
            "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
        )
        .expect("config");
        let job = Self {
            db: dir.join("claims.duckdb"),
            dir,
            broker: broker(),
            topics,
            run_env: Vec::new(),
        };
        job.ok(&[
            "topic",
            "create",
            &job.topics[0],
            &job.topics[1],
            &job.topics[2],
            "--partitions",
            "3",
        ]);
        let claims = job.dir.join("claims.csv");
        let n = events.to_string();
        job.ok(&[
            "generate",
            "--count",
            &n,
            "--claims",
            "10000",
            "--seed",
            "5",
            "--topic",
            &job.topics[0],
            "--claims-out",
            claims.to_str().expect("path"),
        ]);
        job.ok(&[
            "claims",
            "load",
            claims.to_str().expect("path"),
            "--db",
            job.db.to_str().expect("path"),
        ]);
        job
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = enricher(args);
        stream_env(&mut cmd, &self.broker, &self.topics);
        cmd.env(
            "ENRICHER_COMMIT_MAX_RECORDS",
            COMMIT_MAX_RECORDS.to_string(),
        )
        .env("ENRICHER_BATCH_SIZE", BATCH.to_string())
        .env("ENRICHER_CONFIG", self.dir.join("enricher.toml"));
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.command(args))
    }

    fn start_run(&self) -> Child {
        self.command(&[
            "run",
            "--delivery",
            "at-least-once",
            "--db",
            self.db.to_str().expect("path"),
        ])
        .envs(self.run_env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn enricher run")
    }

    fn finish_run(&self) -> String {
        self.ok(&[
            "run",
            "--delivery",
            "at-least-once",
            "--stop-at-end",
            "--db",
            self.db.to_str().expect("path"),
        ])
    }

    /// How often each payment_id appears on the two output topics.
    fn output_counts(&self) -> HashMap<String, usize> {
        let tails: Vec<String> = self.topics[1..]
            .iter()
            .map(|topic| self.ok(&["topic", "tail", topic, "--values"]))
            .collect();
        payment_id_counts(tails.iter().map(String::as_str))
    }

    fn output_len(&self) -> usize {
        self.topics[1..]
            .iter()
            .map(|t| self.ok(&["topic", "tail", t, "--values"]).lines().count())
            .sum()
    }

    /// Whether the enriched topic holds at least `n` records (reads no more than that).
    fn enriched_at_least(&self, n: usize) -> bool {
        self.ok(&[
            "topic",
            "tail",
            &self.topics[1],
            "--values",
            "--max",
            &n.to_string(),
        ])
        .lines()
        .count()
            >= n
    }
}

fn wait_for_output(job: &Job, at_least: usize, limit: Duration) {
    wait_until(limit, "no progress", || job.enriched_at_least(at_least));
}

#[test]
fn killed_and_restarted_it_loses_nothing_and_duplicates_little() {
    let events = 120_000;
    let job = Job::new("crash", events);
    let kills = 3;
    for k in 0..kills {
        let mut child = job.start_run();
        // Kill it mid-stream: once it has made some progress beyond the previous round.
        wait_for_output(&job, (k + 1) * 5_000, Duration::from_secs(60));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    let before_final = job.output_len();
    assert!(
        before_final < events as usize,
        "the kills landed before the end ({before_final} outputs)"
    );
    job.finish_run();
    let counts = job.output_counts();
    let missing: Vec<String> = ids(5, events)
        .filter(|id| !counts.contains_key(id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("crash test: {events} events, {kills} kills, {duplicates} duplicates");
    let window = kills * (COMMIT_MAX_RECORDS + BATCH);
    assert!(
        duplicates <= window,
        "{duplicates} duplicates exceed {kills} in-flight windows ({window})"
    );
}

#[test]
fn sigterm_commits_and_exits_zero_so_a_restart_duplicates_nothing() {
    let events = 150_000;
    let mut job = Job::new("sigterm", events);
    // Small batches without a cache: slow enough that the stop lands mid-stream.
    job.run_env = vec![
        ("ENRICHER_BATCH_SIZE", "20".into()),
        ("LOOKUP_CACHE", "none".into()),
    ];
    let child = job.start_run();
    wait_for_output(&job, 2_000, Duration::from_secs(60));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "SIGTERM must end in exit 0, got {:?}",
        output.status
    );
    let after_stop = job.output_len();
    assert!(
        after_stop < events as usize,
        "the stop landed before the end"
    );
    job.finish_run();
    let counts = job.output_counts();
    assert_eq!(counts.len(), events as usize, "every payment_id is out");
    assert!(
        counts.values().all(|n| *n == 1),
        "a graceful stop commits what it produced: no duplicates"
    );
}
