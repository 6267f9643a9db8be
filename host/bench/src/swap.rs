//! `enricher-bench swap`: what a plugin deployment costs on this machine: the
//! checks of a new version (compile, world, instantiate, canaries), and the
//! pause a swap puts on the stream at a commit boundary, over many swaps
//! between two versions with batches processed in between.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use enricher::config::Config;
use enricher::deploy::{Deployer, PluginAdmin};
use enricher::pipeline::Pipeline;
use enricher::runtime::{DEFAULT_PLUGIN, PluginEngine};

#[derive(clap::Args)]
pub struct SwapBenchArgs {
    /// Swaps to measure.
    #[arg(long, default_value_t = 200)]
    pub swaps: usize,
    /// The second version; default: the built-in plugin deployed again under another name.
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// Where the benchmark's claims DuckDB file goes.
    #[arg(long, default_value = "out/bench-swap")]
    pub dir: PathBuf,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

pub fn run(config: &Config, args: SwapBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let claims = args.dir.join("claims.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&claims)?);
    enricher::generate::write_claims_csv(&mut file, 2_000, 3)?;
    std::io::Write::flush(&mut file)?;
    drop(file);
    let db = args.dir.join("claims.duckdb");
    let _ = std::fs::remove_file(&db);
    let mut conn = duckdb::Connection::open(&db)?;
    enricher::claims_load::load_claims(&mut conn, &claims, &Default::default())?;
    drop(conn);
    let mut config = config.clone();
    config.duckdb.url = db.display().to_string();
    let lookup = enricher::app::open_lookup(&config)?;

    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let deployer = Deployer::with_built_in(engine, Arc::clone(&lookup), &config.deploy)?;
    let mut pipeline =
        Pipeline::following(deployer.feed(), lookup, config.pipeline.max_record_bytes);
    let (second, name) = match &args.plugin {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            None,
        ),
        None => (DEFAULT_PLUGIN.to_vec(), Some("payment-enrichment-copy")),
    };
    let started = Instant::now();
    let report = deployer
        .deploy(&second, name)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let deploy_wall = started.elapsed();

    let records = super::fixtures::events_in_memory(1000, 2_000, 0.9)?;
    let mut pauses = Vec::with_capacity(args.swaps);
    for i in 0..args.swaps {
        pipeline.process(&records);
        if i % 2 == 0 {
            deployer.rollback().map_err(|e| anyhow::anyhow!("{e}"))?;
        } else {
            deployer
                .deploy(&second, name)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let t = Instant::now();
        pipeline.at_commit_boundary();
        pauses.push(t.elapsed());
    }
    pauses.sort();
    println!("| step | time |\n|---|---|");
    println!(
        "| deploy of a new version: checks ({}) | {} ms (wall {} ms) |",
        report.checks.len(),
        report.check_ms,
        deploy_wall.as_millis()
    );
    for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "| swap pause at a commit boundary, {label} of {} | {:.1} µs |",
            pauses.len(),
            percentile(&pauses, p).as_secs_f64() * 1e6
        );
    }
    println!(
        "| swaps counted by the deployer | {} |",
        deployer.status().swaps
    );
    Ok(())
}
