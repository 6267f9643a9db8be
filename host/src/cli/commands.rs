//! `enricher run` (its flags; file mode is in `file_run`) and `enricher generate`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use enricher::config::Config;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};

use super::file_run::FileJob;
use super::named_io::Named;
use super::progress::{Counter, LineCounting, Progress, Shown};
use super::settings::SettingFlags;
use super::summary::SummaryArgs;

#[derive(clap::Args)]
pub struct RunArgs {
    /// File mode: input file, one raw record per line (`-` reads stdin).
    /// Without it, `run` consumes from Kafka (KAFKA_BOOTSTRAP_SERVERS, PAYMENT_EVENTS_TOPIC).
    #[arg(long, value_name = "FILE", requires_all = ["enriched_out", "failed_out"])]
    pub input: Option<PathBuf>,
    /// File mode: where enriched records go (JSON lines; `-` writes stdout).
    #[arg(long, value_name = "FILE")]
    pub enriched_out: Option<PathBuf>,
    /// File mode: where failed records go (JSON lines, each with its reason; `-` writes stdout).
    #[arg(long, value_name = "FILE")]
    pub failed_out: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Kafka mode: exit 0 once everything in the input topic at start is processed and committed.
    #[arg(long)]
    pub stop_at_end: bool,
    /// File mode: pass over the first N input lines (to resume an interrupted run: its summary gives N).
    #[arg(long, value_name = "N", requires = "input")]
    pub skip_lines: Option<u64>,
    /// File mode: append to the outputs instead of replacing them (to resume an interrupted run).
    #[arg(long, requires = "input")]
    pub append: bool,
    /// File mode: continue a run that was stopped or killed where its progress file
    /// (`<enriched-out>.progress`) says, each output cut back to its last checkpoint.
    #[arg(long, requires = "input", conflicts_with = "skip_lines")]
    pub resume: bool,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

/// `enricher run`; `config` holds the flags' settings already (`SettingFlags`).
pub fn run(config: Config, args: RunArgs) -> anyhow::Result<()> {
    match (&args.input, &args.enriched_out, &args.failed_out) {
        (Some(input), Some(enriched), Some(failed)) => {
            let job = FileJob {
                skip_lines: args.skip_lines.unwrap_or(0),
                append: args.append,
                resume: args.resume,
                summary_json: args.summary.summary_json.as_deref(),
                ..FileJob::new(input, enriched, failed)
            };
            super::file_run::run(&config, &job, &args.summary)
        }
        _ => super::kafka::run(&config, args.stop_at_end, &args.summary),
    }
}

fn create(path: &Path) -> anyhow::Result<BufWriter<Named<File>>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 16, Named::new(file, path)))
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Number of events (or give --run-duration-seconds with --events-per-second).
    #[arg(long, conflicts_with = "run_duration_seconds")]
    pub count: Option<u64>,
    /// Generate for this many seconds instead of a count (needs --events-per-second).
    #[arg(long, value_name = "SECONDS", requires = "events_per_second")]
    pub run_duration_seconds: Option<f64>,
    /// Pace the output at this rate (default: as fast as possible).
    #[arg(long)]
    pub events_per_second: Option<f64>,
    /// Share of events whose claim exists.
    #[arg(long, default_value_t = 0.9)]
    pub valid_claim_rate: f64,
    /// Share of events that are malformed.
    #[arg(long, default_value_t = 0.0)]
    pub invalid_rate: f64,
    /// Distinct claims the events refer to.
    #[arg(long, default_value_t = 10_000)]
    pub claims: u64,
    /// Random seed: the same seed writes the same events and claims.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events file (default: stdout).
    #[arg(long, conflicts_with = "topic")]
    pub out: Option<PathBuf>,
    /// Produce the events to this Kafka topic instead (KAFKA_BOOTSTRAP_SERVERS), keyed by claim_id.
    #[arg(long)]
    pub topic: Option<String>,
    /// Also write the matching claims as CSV here.
    #[arg(long)]
    pub claims_out: Option<PathBuf>,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

pub fn generate(config: &Config, args: GenerateArgs) -> anyhow::Result<()> {
    if args.out.is_none() && args.topic.is_none() {
        args.summary.check_stdout(Some("the events (no --out)"))?;
    }
    for (name, rate) in [
        ("--valid-claim-rate", args.valid_claim_rate),
        ("--invalid-rate", args.invalid_rate),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&rate),
            "{name} must be between 0 and 1, got {rate}"
        );
    }
    let run_duration = args
        .run_duration_seconds
        .map(Duration::try_from_secs_f64)
        .transpose()
        .context("--run-duration-seconds")?;
    anyhow::ensure!(
        args.count.is_some() || run_duration.is_some(),
        "give --count N or --run-duration-seconds S with --events-per-second R"
    );
    let options = GenerateOptions {
        count: args.count,
        run_duration,
        events_per_second: args.events_per_second,
        valid_claim_rate: args.valid_claim_rate,
        invalid_rate: args.invalid_rate,
        claims: args.claims,
        seed: args.seed,
    };
    if args.topic.is_some() {
        enricher::kafka::check_broker(&config.kafka)?;
    }
    let mut claims_written = None;
    if let Some(path) = &args.claims_out {
        let mut out = create(path)?;
        let n = write_claims_csv(&mut out, args.claims, args.seed)?;
        out.flush()?;
        eprintln!("wrote {n} claims to {}", path.display());
        claims_written = Some(n);
    }
    let lines = Counter::default();
    let progress = Progress::start(
        Shown {
            what: "generate",
            unit: "events",
            total: args.count,
            failures: false,
        },
        config.observe.progress_interval,
        lines.reader(),
    );
    let mut produced = None;
    let summary = match (&args.out, &args.topic) {
        (_, Some(topic)) => {
            let topic_writer = enricher::kafka::TopicWriter::new(config, topic)?;
            let mut out = LineCounting::new(topic_writer, lines);
            let s = write_events(&mut out, &options)?;
            out.flush()?;
            progress.finish();
            produced = Some(out.inner().sent);
            s
        }
        (Some(path), None) => {
            let mut out = LineCounting::new(create(path)?, lines);
            let s = write_events(&mut out, &options)?;
            out.flush()?;
            progress.finish();
            s
        }
        (None, None) => {
            let mut out = LineCounting::new(BufWriter::new(io::stdout().lock()), lines);
            let s = write_events(&mut out, &options)?;
            out.flush()?;
            progress.finish();
            s
        }
    };
    let mut text = String::new();
    if let (Some(n), Some(topic)) = (produced, &args.topic) {
        text.push_str(&format!("produced {n} records to {topic}\n"));
    }
    text.push_str(&format!(
        "generated {} events: {} with a known claim, {} unknown, {} invalid\n",
        summary.events, summary.valid_claim, summary.unknown_claim, summary.invalid
    ));
    let json = serde_json::json!({
        "command": "generate",
        "events": summary.events,
        "valid_claim": summary.valid_claim,
        "unknown_claim": summary.unknown_claim,
        "invalid": summary.invalid,
        "out": args.out.as_ref().map(|p| p.display().to_string()),
        "topic": args.topic,
        "produced": produced,
        "claims_out": args.claims_out.as_ref().map(|p| p.display().to_string()),
        "claims_written": claims_written,
    });
    args.summary.emit(&text, &json)
}
