//! The crash story's parts: its topics and commands, the kills, the claims
//! that arrive late, and what the outputs hold so far.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::faults::Running;
use crate::support::lineage::payment_id;
use crate::support::raw_log::{self, Log};
use crate::support::{Dir, enricher};

pub const EVENTS: u64 = 100_000;
pub const PARTITIONS: i32 = 3;
pub const KILLS: usize = 6;

/// A small xorshift: the kill points differ from run to run and are printed.
pub struct Dice(pub u64);

impl Dice {
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

pub struct Story {
    pub dir: Dir,
    pub broker: String,
    /// in, enriched, failed, retry, changelog.
    pub topics: [String; 5],
}

impl Story {
    pub fn command(&self, args: &[&str]) -> Command {
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

    pub fn start(&self, args: &[&str], label: &str) -> Running {
        self.start_with(args, label, |_| {})
    }

    pub fn start_with(&self, args: &[&str], label: &str, more: impl Fn(&mut Command)) -> Running {
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

    pub fn db(&self) -> String {
        self.dir.arg("claims.duckdb")
    }

    pub fn log(&self, topic: usize) -> Log {
        raw_log::read(&self.broker, &self.topics[topic], PARTITIONS)
    }
}

/// Distinct ids committed on enriched and failed together.
pub fn done(story: &Story) -> usize {
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
pub fn kill_after_commits(mut run: Running, commits: u64, extra: Duration) {
    let admin = run.admin();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = run.child.try_wait().expect("wait") {
            panic!(
                "the run ended ({status}) before {commits} commits:\n{}",
                run.log()
            );
        }
        let (_, body) = crate::support::faults::get(&admin, "/metrics");
        if crate::support::prom::parse(&body).sum("enricher_commits_total", &[]) >= commits as f64 {
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
pub fn missing_claims(dir: &Dir) -> Vec<String> {
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

pub fn write_csv(dir: &Dir, name: &str, rows: &[String]) -> String {
    let header = "claim_id,member_id,claim_amount,claim_status,created_date\n";
    std::fs::write(dir.join(name), format!("{header}{}\n", rows.join("\n"))).expect("csv");
    dir.arg(name)
}
