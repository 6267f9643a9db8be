//! `enricher plugin test <PLUGIN.wasm> --input FILE [--claims FILE] [--expect FILE]`:
//! run a component in the real host sandbox (the engine, limits and pipeline
//! of `enricher run`) over sample records, print every output (stdout, one
//! value a line, so it can become the expected file) and a per-status summary
//! (stderr); with `--expect`, compare (`plugin_expect`) and fail on a difference.
//!
//! Claims come from a DuckDB file, or from a CSV / JSON-lines file loaded
//! (`claims_load`) into a DuckDB file in a temporary folder; none means an empty table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use enricher::app::build_file_pipeline;
use enricher::bindings::{InputRecord, Output};
use enricher::claims_load::{CLAIMS_DDL, LoadOptions, load_claims};
use enricher::config::Config;

use super::plugin_expect::{VOLATILE_FIELDS, differences};

#[derive(clap::Args)]
pub struct TestArgs {
    /// The component (`.wasm`).
    pub plugin: PathBuf,
    /// Sample records, one per line (blank lines skipped).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Claims: a DuckDB file (`.duckdb`, `.db`), or CSV / JSON lines to load.
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
    /// Expected outputs (as this command prints them): exit non-zero on a difference.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
}

pub fn run(mut config: Config, args: TestArgs) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let db = match &args.claims {
        Some(path) if is_duckdb(path) => path.clone(),
        claims => scratch.claims_db(claims.as_deref())?,
    };
    config.duckdb.url = db.display().to_string();
    config.plugin.path = Some(args.plugin.clone());
    config.validate()?;

    let input = std::fs::read(&args.input)
        .with_context(|| format!("reading the input {}", args.input.display()))?;
    let records: Vec<InputRecord> = input
        .split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| InputRecord {
            key: None,
            value: line.to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    let mut pipeline = build_file_pipeline(&config)?;
    let mut outputs = Vec::with_capacity(records.len());
    for batch in records.chunks(config.pipeline.batch_size.max(1)) {
        outputs.extend(pipeline.process(batch));
    }

    let mut stdout = std::io::stdout().lock();
    let mut counts: BTreeMap<(&str, String), u64> = BTreeMap::new();
    let mut lines = Vec::with_capacity(outputs.len());
    for out in &outputs {
        let route = match out.output {
            Output::Enriched => "enriched",
            Output::Failed => "failed",
        };
        *counts.entry((route, out.status.to_string())).or_default() += 1;
        let text = String::from_utf8_lossy(&out.value);
        writeln!(stdout, "{text}")?;
        lines.push(text);
    }
    stdout.flush()?;
    eprintln!(
        "{} input record(s), {} output(s) from {}:",
        records.len(),
        outputs.len(),
        pipeline.plugin().key()
    );
    for ((route, status), n) in &counts {
        eprintln!("  {route:<9}{status:<20}{n}");
    }

    let Some(expect) = &args.expect else {
        return Ok(());
    };
    let expected = std::fs::read_to_string(expect)
        .with_context(|| format!("reading the expected outputs {}", expect.display()))?;
    let diff = differences(lines.iter().map(|l| l.as_ref()), expected.lines());
    if diff.is_empty() {
        eprintln!(
            "matches {} (ignoring {})",
            expect.display(),
            VOLATILE_FIELDS.join(", ")
        );
        return Ok(());
    }
    for line in &diff {
        eprintln!("{line}");
    }
    anyhow::bail!(
        "{} difference(s) from {} (records matched by payment_id, ignoring {})",
        diff.len(),
        expect.display(),
        VOLATILE_FIELDS.join(", ")
    )
}

fn is_duckdb(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("duckdb" | "db")
    )
}

/// A temporary folder for the claims database, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "enricher-plugin-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    /// A claims database holding `claims` (CSV or JSON lines), or an empty table.
    fn claims_db(&self, claims: Option<&Path>) -> anyhow::Result<PathBuf> {
        let db = self.0.join("claims.duckdb");
        let mut conn = enricher::lookup::DuckDbStore::open_writable(&db, None)
            .with_context(|| format!("creating {}", db.display()))?;
        match claims {
            Some(path) => {
                let options = LoadOptions {
                    skip_bad_rows: false,
                    allow_empty: true,
                };
                load_claims(&mut conn, path, &options)
                    .with_context(|| format!("loading the claims {}", path.display()))?;
            }
            None => conn.execute_batch(CLAIMS_DDL)?,
        }
        Ok(db)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
