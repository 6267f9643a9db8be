//! `enricher redrive`: run failure records of `failed-payments` through the
//! current claims and plugin again (see `enricher::kafka::redrive`), and print
//! what moved, by the reason each record had failed for.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use enricher::app::build_pipeline;
use enricher::claims_load::parse_timestamp_micros;
use enricher::config::{Config, parse_duration};
use enricher::kafka::redrive::{RedriveFilter, RedriveReport, dry_run, redrive};

use super::summary::SummaryArgs;

#[derive(clap::Args)]
pub struct RedriveArgs {
    /// Only records that failed for this reason (CLAIM_NOT_FOUND, DB_ERROR, ...); repeatable.
    /// One reason gets its own consumer group (`<group>-redrive-<reason>`).
    #[arg(long = "reason", value_name = "REASON")]
    pub reasons: Vec<String>,
    /// Only records from this time on: `2024-01-15T10:30:00` (UTC), ms since
    /// the epoch, or a duration ago (`2h`). The record's timestamp is the payment's.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only records before this time (same forms as --since).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Print what would be re-driven, without producing or committing.
    #[arg(long)]
    pub dry_run: bool,
    /// The claims DuckDB file.
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

/// A time as ms since the epoch: a UTC timestamp, a number of ms, or a duration ago.
fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Some(micros) = parse_timestamp_micros(t.trim_end_matches('Z')) {
        return Ok(micros / 1000);
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    // The duration parser's own reason (a unit missing, an unknown one) is kept.
    let ago = parse_duration(t).map_err(|why| {
        format!("expected a UTC time (2024-01-15T10:30:00), ms since the epoch, or a duration ago (2h); as a duration, {why}")
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(now.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)))
}

/// `enricher redrive`; `config` holds `--db` already.
pub fn run(config: Config, args: RedriveArgs) -> anyhow::Result<()> {
    let filter = RedriveFilter {
        reasons: args
            .reasons
            .iter()
            .map(|r| r.trim().to_ascii_uppercase())
            .collect(),
        since_ms: args.since,
        until_ms: args.until,
    };
    let group = filter.group(&config.kafka.group_id);
    enricher::kafka::check_broker(&config.kafka)?;
    if args.dry_run {
        let report = dry_run(&config.kafka, &filter)?;
        let mut text = format!(
            "dry run: {} record(s) of {} after group {group}'s offsets; nothing produced or committed\n",
            report.run.consumed, config.kafka.failed_payments_topic
        );
        text.push_str(&report_text(&report, true));
        return args
            .summary
            .emit(&text, &report_json(&report, &config, &group, true));
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .context("installing the signal handler")?;
    }
    let mut pipeline = build_pipeline(&config)?;
    let report = redrive(
        &mut pipeline,
        &config.kafka,
        config.pipeline.batch_size,
        filter,
        &shutdown,
    )?;
    let mut text = format!(
        "redrive: read {} record(s) of {} in group {group}, produced {} ({:?}, {} commit(s), {:.1} s)\n",
        report.run.consumed,
        config.kafka.failed_payments_topic,
        report.run.produced,
        config.kafka.delivery,
        report.run.commits.commits,
        report.run.elapsed.as_secs_f64()
    );
    text.push_str(&report_text(&report, false));
    args.summary
        .emit(&text, &report_json(&report, &config, &group, false))
}

/// The lines of the report, by reason.
fn report_text(report: &RedriveReport, dry_run: bool) -> String {
    let mut lines = Vec::new();
    if report.by_reason.is_empty() {
        lines.push("  nothing to re-drive".to_owned());
    }
    for (reason, moved) in &report.by_reason {
        if dry_run {
            lines.push(format!("  {reason:<24} would re-drive {}", moved.redriven));
        } else {
            lines.push(format!(
                "  {reason:<24} re-driven {}: enriched {}, failed again {}",
                moved.redriven, moved.enriched, moved.failed_again
            ));
        }
    }
    if report.passed_over > 0 {
        lines.push(format!("  passed over (filter)     {}", report.passed_over));
    }
    for (why, n) in &report.not_redrivable {
        lines.push(format!("  not re-drivable: {why}: {n}"));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Every counter of the report (`--summary-json`).
fn report_json(
    report: &RedriveReport,
    config: &Config,
    group: &str,
    dry_run: bool,
) -> serde_json::Value {
    let by_reason: serde_json::Map<String, serde_json::Value> = report
        .by_reason
        .iter()
        .map(|(reason, moved)| {
            let counts = serde_json::json!({
                "redriven": moved.redriven,
                "enriched": moved.enriched,
                "failed_again": moved.failed_again,
            });
            (reason.clone(), counts)
        })
        .collect();
    serde_json::json!({
        "command": "redrive",
        "dry_run": dry_run,
        "topic": config.kafka.failed_payments_topic,
        "group": group,
        "consumed": report.run.consumed,
        "produced": report.run.produced,
        "commits": report.run.commits.commits,
        "rewinds": report.run.commits.rewinds,
        "delivery": config.kafka.delivery,
        "elapsed_seconds": report.run.elapsed.as_secs_f64(),
        "by_reason": by_reason,
        "passed_over": report.passed_over,
        "not_redrivable": report.not_redrivable,
    })
}
