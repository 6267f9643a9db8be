//! `enricher claims load` and `enricher claims publish`: the claims table
//! offline (load, refused with a pointer to `publish` while a host holds the
//! file), and claim changes to running hosts (publish: the changelog topic).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context;

use enricher::admin::AdminClient;
use enricher::app::is_lock_conflict;
use enricher::claims_load::{
    InputFormat, LoadOptions, load_claims_from, read_claim_ids, read_claims,
};
use enricher::config::Config;

use super::progress::{Counter, LineCounting, Progress, Shown};
use super::summary::SummaryArgs;

#[derive(clap::Args)]
pub struct PublishArgs {
    /// A CSV or JSON-lines claims file (the format `claims load` reads).
    pub file: PathBuf,
    /// Delete the claims whose ids the file holds (tombstones) instead.
    #[arg(long)]
    pub delete: bool,
    /// Publish the good rows and report the bad ones, instead of publishing nothing.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Send the rows to this running host's admin API (`POST /v1/claims`,
    /// `host:port`) instead of the changelog topic: a file-mode host applies
    /// them into its DuckDB file, a Kafka-mode host publishes them to the
    /// changelog. Sends the admin token (ENRICHER_ADMIN_TOKEN[_FILE]).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

/// `enricher claims publish`: check every row as `claims load` does, then
/// publish them to the changelog (CLAIMS_CHANGELOG_TOPIC) keyed by claim_id.
pub fn publish(config: &Config, args: &PublishArgs) -> anyhow::Result<()> {
    if let Some(addr) = &args.admin {
        return publish_to_admin(config, args, addr);
    }
    let options = LoadOptions {
        skip_bad_rows: args.skip_bad_rows,
        allow_empty: false,
    };
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let format = InputFormat::detect(&args.file);
    let read = if args.delete {
        read_claim_ids
    } else {
        read_claims
    };
    let (claims, report) = read(format, BufReader::new(file), &args.file, &options)?;
    let topic = config.claims.changelog().context(
        "claims.changelog-topic (CLAIMS_CHANGELOG_TOPIC) is off: there is no changelog to publish to",
    )?;
    enricher::kafka::check_broker(&config.kafka)?;
    let publisher = enricher::changelog::Publisher::connect(&config.kafka, topic)?;
    let counted = Counter::default();
    let progress = Progress::start(
        Shown {
            what: "claims publish",
            unit: "claims",
            total: Some(claims.len() as u64),
            failures: false,
        },
        config.observe.progress_interval,
        counted.reader(),
    );
    let sent = publisher.send_counted(&claims, args.delete, counted.atomic());
    progress.finish();
    let sent = sent?;
    let what = if args.delete { "deletions" } else { "claims" };
    let text = format!(
        "published {sent} {what} to {topic}\n{}",
        rejected_text(report.rows_rejected, &report.rejected)
    );
    let json = serde_json::json!({
        "command": "claims publish",
        "topic": topic,
        "published": sent,
        "deletions": args.delete,
        "rows_rejected": report.rows_rejected,
        "rejected": report.rejected,
    });
    args.summary.emit(&text, &json)
}

/// The bad rows a load or publish passed over (none: no line).
fn rejected_text(count: u64, rejected: &[String]) -> String {
    if count == 0 {
        return String::new();
    }
    let mut text = format!("rejected {count} bad row(s):\n");
    for line in rejected {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// `enricher claims publish --admin ADDR`: the file as it is, to the host's
/// `POST /v1/claims`, which checks every row as `claims load` does.
fn publish_to_admin(config: &Config, args: &PublishArgs, addr: &str) -> anyhow::Result<()> {
    let file =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let format = InputFormat::detect(&args.file);
    let mut client = AdminClient::new(addr).with_token(config.admin.token()?);
    if let Some((cert, _)) = config.admin.tls() {
        client = client.trusting(&cert)?;
    }
    let report = client
        .claims(&file, format, args.delete, args.skip_bad_rows)
        .with_context(|| format!("POST /v1/claims to {addr} ({})", args.file.display()))?;
    let what = if args.delete { "deletions" } else { "claims" };
    let text = format!(
        "applied {} {what} to {}\n{}",
        report.rows,
        report.applied_to,
        rejected_text(report.rows_rejected, &report.rejected)
    );
    let json = serde_json::json!({
        "command": "claims publish",
        "admin": addr,
        "applied": report.rows,
        "applied_to": report.applied_to,
        "deletions": args.delete,
        "rows_rejected": report.rows_rejected,
        "rejected": report.rejected,
    });
    args.summary.emit(&text, &json)
}

/// `enricher claims load`: replace the claims table of a database file.
pub fn load(
    config: &Config,
    file: &Path,
    options: &LoadOptions,
    summary: &SummaryArgs,
) -> anyhow::Result<()> {
    if let enricher::config::ClaimsSource::Postgres(target) = config.claims_source()? {
        anyhow::bail!(
            "claims load fills a DuckDB file, and the claims URL is PostgreSQL ({}): the claims \
             live there, so load them there (psql's \\copy, or COPY ... FROM); or give --db PATH \
             for a DuckDB copy, with CLAIMS_URL unset",
            target.shown()
        );
    }
    let path = config
        .duckdb_file()?
        .context("claims load needs a database file, not :memory: (use --db PATH)")?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut conn = match enricher::lookup::DuckDbStore::open_writable(&path, config.duckdb.threads)
    {
        Ok(conn) => conn,
        Err(e) if is_lock_conflict(&e.to_string()) => anyhow::bail!(
            "{} is in use by a running host (DuckDB: {e}); to change the claims of running hosts, \
             use `enricher claims publish {}` (the claims changelog), or stop the host first",
            path.display(),
            file.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let lines = Counter::default();
    let progress = Progress::start(
        Shown {
            what: "claims load",
            unit: "lines",
            total: None,
            failures: false,
        },
        config.observe.progress_interval,
        lines.reader(),
    );
    let input = BufReader::with_capacity(1 << 20, LineCounting::new(input, lines));
    let report = load_claims_from(&mut conn, input, file, options);
    progress.finish();
    let report = report?;
    let text = format!(
        "loaded {} claims into {} in {:.2} s\n{}",
        report.rows_loaded,
        path.display(),
        report.elapsed.as_secs_f64(),
        rejected_text(report.rows_rejected, &report.rejected)
    );
    let json = serde_json::json!({
        "command": "claims load",
        "file": file.display().to_string(),
        "db": path.display().to_string(),
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
        "rejected": report.rejected,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
    });
    summary.emit(&text, &json)
}
