//! The Kafka side of the binary: `run` in Kafka mode, `topic tail`, and
//! `generate --topic` (load generation into Kafka).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use enricher::app::{build_kafka_host, check_admin_settings};
use enricher::config::Config;
use enricher::kafka::{RunOptions, run_observed, wait_for_broker};
use enricher::kafka::{TailOptions, tail_topic};
use enricher::observe::{ChangelogLag, StatusLog};

use super::summary::{SummaryArgs, merged};

/// `enricher run` without `--input`: consume, enrich, produce, commit.
pub fn run(config: &Config, stop_at_end: bool, summary_out: &SummaryArgs) -> anyhow::Result<()> {
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .context("installing the signal handler")?;
    }
    // Settings that can never work are refused before waiting for anything.
    check_admin_settings(config)?;
    // Say within seconds which address cannot be reached; Ctrl-C stops the wait.
    if !wait_for_broker(&config.kafka, &shutdown)? {
        eprintln!(
            "stopped before Kafka at {} answered",
            config.kafka.bootstrap_servers
        );
        return Ok(());
    }
    let mut host = build_kafka_host(config)?;
    if let Some(addr) = host.admin_addr() {
        eprintln!("admin API on http://{addr} (enricher plugin status --admin {addr})");
    }
    let _status = config.observe.status_interval.map(|every| {
        let lookup = Arc::clone(host.pipeline.lookup());
        let changelog: ChangelogLag = Box::new(move || {
            lookup.changelog().map(|c| match c.read_error {
                Some(why) => Err(why),
                None => Ok((c.lag_records, c.lag_seconds)),
            })
        });
        StatusLog::start(Arc::clone(host.pipeline.meter()), every, changelog)
    });
    let pipeline = &mut host.pipeline;
    let options = RunOptions {
        batch_size: config.pipeline.batch_size,
        stop_at_end,
        retry_not_found: config.lookup.retry_not_found.clone(),
    };
    let report = run_observed(pipeline, &config.kafka, options, &shutdown, &host.health)?;
    let summary = pipeline.summary(report.elapsed);
    let mut text = summary.to_string();
    text.push_str(&format!(
        "kafka      consumed {}, produced {}, commits {}, rewinds {} ({:?})\n",
        report.consumed,
        report.produced,
        report.commits.commits,
        report.commits.rewinds,
        config.kafka.delivery
    ));
    let late_claims = !config.lookup.retry_not_found.is_off();
    if late_claims {
        text.push_str(&format!(
            "late claims sent {} CLAIM_NOT_FOUND payment(s) to {}, enriched {} retry record(s) again\n",
            report.retries_sent, config.kafka.retry_topic, report.retries_taken
        ));
    }
    let json = merged(
        summary.to_json(),
        serde_json::json!({
            "command": "run",
            "mode": "kafka",
            "kafka": {
                "consumed": report.consumed,
                "produced": report.produced,
                "commits": report.commits.commits,
                "rewinds": report.commits.rewinds,
                "commit_retries": report.commits.retries,
                "delivery": config.kafka.delivery,
                "first_record_after_seconds": report.first_record_after.map(|d| d.as_secs_f64()),
                "retries_sent": report.retries_sent,
                "retries_taken": report.retries_taken,
            },
        }),
    );
    summary_out.emit(&text, &json)
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Topic names.
    #[arg(required = true)]
    pub topics: Vec<String>,
    /// Partitions of each new topic.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Replication factor of each new topic.
    #[arg(long, default_value_t = 1)]
    pub replication: i32,
}

/// `enricher topic create`: create topics (existing ones are kept).
pub fn create(config: &Config, args: CreateArgs) -> anyhow::Result<()> {
    enricher::kafka::check_broker(&config.kafka)?;
    let names: Vec<&str> = args.topics.iter().map(String::as_str).collect();
    enricher::kafka::create_topics(&config.kafka, &names, args.partitions, args.replication)?;
    eprintln!("topics ready: {}", names.join(", "));
    Ok(())
}

#[derive(clap::Args)]
pub struct TailArgs {
    /// The topic to read (from the beginning).
    pub topic: String,
    /// Keep reading new records.
    #[arg(long)]
    pub follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<usize>,
    /// Also show records of open or aborted transactions.
    #[arg(long)]
    pub read_uncommitted: bool,
    /// Print only the values, one per line.
    #[arg(long)]
    pub values: bool,
}

/// `enricher topic tail`: print a topic's records as JSON lines.
pub fn tail(config: &Config, args: TailArgs) -> anyhow::Result<()> {
    enricher::kafka::check_broker(&config.kafka)?;
    let options = TailOptions {
        follow: args.follow,
        max: args.max,
        idle_stop: None,
        read_committed: !args.read_uncommitted,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failure = None;
    let n = tail_topic(&config.kafka, &args.topic, &options, |r| {
        let line = if args.values {
            String::from_utf8_lossy(&r.value).into_owned()
        } else {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
                .collect();
            serde_json::json!({
                "partition": r.partition,
                "offset": r.offset,
                "key": r.key.as_deref().map(String::from_utf8_lossy),
                "headers": headers,
                "value": String::from_utf8_lossy(&r.value),
            })
            .to_string()
        };
        if let Err(e) = writeln!(out, "{line}") {
            failure.get_or_insert(e);
        }
    })?;
    out.flush()?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    eprintln!("{n} record(s) in {}", args.topic);
    Ok(())
}
