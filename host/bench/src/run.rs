//! `enricher-bench run --native-step raw|typed`: `enricher run` in file mode
//! with the built-in plugin's logic compiled in place of the WASM component,
//! the other side of the file path's WASM / native ratio. Settings come from
//! the config and environment as for `enricher run` (`LOOKUP_CACHE=full`...).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use enricher::app::build_native_file_pipeline;
use enricher::config::{CacheMode, Config};
use enricher::file_mode::{FileRunOptions, run_files_with};

use super::native_step::{NativeForm, step};

#[derive(clap::Args)]
pub struct NativeRunArgs {
    /// Which plugin's step runs natively.
    #[arg(long, value_enum, default_value = "typed")]
    native_step: NativeForm,
    /// The events, one JSON record per line.
    #[arg(long)]
    input: PathBuf,
    /// Where enriched records go (JSON lines).
    #[arg(long, default_value = "enriched.jsonl")]
    enriched_out: PathBuf,
    /// Where failed records go (JSON lines).
    #[arg(long, default_value = "failed.jsonl")]
    failed_out: PathBuf,
    /// The claims DuckDB file (else DUCKDB_URL / the config).
    #[arg(long)]
    db: Option<String>,
    /// Records per batch (else BATCH_SIZE / the config).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Cache mode: auto, partial, full or none (else LOOKUP_CACHE / the config).
    #[arg(long)]
    cache: Option<String>,
}

pub fn run(mut config: Config, args: NativeRunArgs) -> anyhow::Result<()> {
    if let Some(db) = args.db {
        config.duckdb.url = db;
    }
    if let Some(batch) = args.batch_size {
        config.pipeline.batch_size = batch;
    }
    if let Some(cache) = args.cache {
        config.lookup.cache =
            CacheMode::try_from(cache).map_err(|e| anyhow::anyhow!("--cache: {e}"))?;
    }
    config.validate().context("loading configuration")?;
    let mut pipeline = build_native_file_pipeline(&config, step(args.native_step))?;
    let file = File::open(&args.input)
        .with_context(|| format!("opening input {}", args.input.display()))?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    let create = |path: &PathBuf| -> anyhow::Result<BufWriter<File>> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(BufWriter::with_capacity(1 << 16, file))
    };
    let (mut enriched, mut failed) = (create(&args.enriched_out)?, create(&args.failed_out)?);
    let options = FileRunOptions {
        batch_size: config.pipeline.batch_size,
        skip_lines: 0,
        stop: None,
    };
    let report = run_files_with(
        &mut pipeline,
        &mut input,
        &mut enriched,
        &mut failed,
        &options,
    )
    .context("enriching")?;
    enriched.flush()?;
    failed.flush()?;
    eprint!("{}", pipeline.summary(report.elapsed));
    eprintln!("native step {:?} (no WASM)", args.native_step);
    Ok(())
}
