//! `enricher demo`: the whole file-mode path on generated data, in one command.
//! Generates claims and events, loads the claims into DuckDB, enriches the
//! events through the built-in plugin and prints the summary and samples.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use enricher::claims_load::{LoadOptions, load_claims};
use enricher::config::Config;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};

use super::file_run::{FileJob, run_file_job};

const DEMO_CLAIMS: u64 = 10_000;
const DEMO_SEED: u64 = 7;

pub fn run(config: &mut Config, dir: &Path, events: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let claims_csv = dir.join("claims.csv");
    let events_file = dir.join("payment-events.jsonl");
    let db = dir.join("claims.duckdb");

    let mut out = BufWriter::new(File::create(&claims_csv)?);
    write_claims_csv(&mut out, DEMO_CLAIMS, DEMO_SEED)?;
    out.flush()?;
    let options = GenerateOptions {
        count: Some(events),
        valid_claim_rate: 0.9,
        invalid_rate: 0.01,
        claims: DEMO_CLAIMS,
        seed: DEMO_SEED,
        ..GenerateOptions::default()
    };
    let mut out = BufWriter::new(File::create(&events_file)?);
    let generated = write_events(&mut out, &options)?;
    out.flush()?;
    println!(
        "1. generated {} events ({} known claim, {} unknown claim, {} malformed) and {DEMO_CLAIMS} claims in {}",
        generated.events,
        generated.valid_claim,
        generated.unknown_claim,
        generated.invalid,
        dir.display()
    );

    let mut conn = enricher::lookup::DuckDbStore::open_writable(&db, config.duckdb.threads)
        .with_context(|| format!("opening {}", db.display()))?;
    let report = load_claims(&mut conn, &claims_csv, &LoadOptions::default())?;
    drop(conn);
    println!(
        "2. loaded {} claims into {}",
        report.rows_loaded,
        db.display()
    );

    config.duckdb.url = db.display().to_string();
    let enriched = dir.join("enriched-payments.jsonl");
    let failed = dir.join("failed-payments.jsonl");
    println!("3. enriched them through the WASM plugin:\n");
    let job = FileJob::new(&events_file, &enriched, &failed);
    print!("{}", run_file_job(config, &job, None)?.summary);
    for (label, path) in [
        ("an enriched record", &enriched),
        ("a failed record", &failed),
    ] {
        if let Some(line) = BufReader::new(File::open(path)?)
            .lines()
            .next()
            .transpose()?
        {
            println!("\n{label}:\n  {line}");
        }
    }
    Ok(())
}
