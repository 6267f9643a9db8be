//! The data `enricher-bench step` and the other benches run on: the claims table
//! (built once per size in the bench folder, same ids and shape as
//! `enricher generate`), a warm partial cache over it, generated events in
//! memory or in a file, and `enricher run`'s configuration on that table.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use enricher::bindings::InputRecord;
use enricher::config::{CacheMode, Config, LookupConfig};
use enricher::generate::{GenerateOptions, claim_id, write_events};
use enricher::lookup::{ClaimsLookup, DuckDbStore};

/// A partial cache holding the first `claims` claims of the table (the warm-cache rows).
pub(super) fn warm_lookup(db: &std::path::Path, claims: u64) -> anyhow::Result<Arc<ClaimsLookup>> {
    let store = DuckDbStore::open(Some(db), Some(1))?;
    let lookup_cfg = LookupConfig {
        cache: CacheMode::Partial,
        cache_max_rows: 200_000,
        ..LookupConfig::default()
    };
    let lookup = Arc::new(
        ClaimsLookup::start(Box::new(store), &lookup_cfg).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    let ids: Vec<String> = (0..claims).map(claim_id).collect();
    for chunk in ids.chunks(5000) {
        lookup.lookup(chunk);
    }
    Ok(lookup)
}

/// The claims table of `table_rows` rows in `dir` (built if missing).
pub(super) fn table_db(dir: &Path, table_rows: u64) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join(format!("claims-{table_rows}.duckdb"));
    if !db.exists() {
        let t0 = Instant::now();
        let conn = duckdb::Connection::open(&db)?;
        conn.execute_batch(enricher::claims_load::CLAIMS_DDL)?;
        // Same ids and shape as `enricher generate`'s claims (claim_id(n) = CLM-nnnnnnn).
        conn.execute_batch(&format!(
            "INSERT INTO claims SELECT printf('CLM-%07d', i), printf('MBR-%06d', i % 250000), \
             ((i * 7919) % 5000000) / 100.0, 'APPROVED', TIMESTAMP '2024-01-01' + INTERVAL (i % 1000) HOUR \
             FROM range({}) t(i)",
            table_rows
        ))?;
        eprintln!(
            "built a {}-row claims table in {:.1} s",
            table_rows,
            t0.elapsed().as_secs_f64()
        );
    }
    anyhow::ensure!(
        claim_id(7) == "CLM-0000007",
        "the generator's claim ids changed shape"
    );
    Ok(db)
}

/// `count` generated events (seed 3) over `claims` claims, as input records.
pub(super) fn events_in_memory(
    count: u64,
    claims: u64,
    valid_claim_rate: f64,
) -> anyhow::Result<Vec<InputRecord>> {
    let mut buf = BufWriter::new(Vec::new());
    let options = GenerateOptions {
        count: Some(count),
        claims,
        valid_claim_rate,
        seed: 3,
        ..GenerateOptions::default()
    };
    write_events(&mut buf, &options)?;
    let bytes = buf.into_inner().context("flush")?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| InputRecord {
            key: None,
            value: l.to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect())
}

/// `enricher run`'s configuration on the benchmark's table: full cache.
pub(super) fn file_config(db: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    config.lookup.cache = CacheMode::Full;
    config
}

/// The events, one per line, in `dir/events.jsonl`.
pub(super) fn write_input(dir: &Path, records: &[InputRecord]) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let input = dir.join("events.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&input)?);
    for r in records {
        out.write_all(&r.value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(input)
}

/// `input` (JSON lines) through `file_mode::run_files` as `enricher run`
/// runs it, into `enriched.jsonl` / `failed.jsonl` in `dir`, timed.
pub(super) fn timed_file_run(
    pipeline: &mut enricher::pipeline::Pipeline,
    input: &Path,
    dir: &Path,
    events: u64,
    batch_size: usize,
) -> anyhow::Result<super::measure::Measured> {
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(input)?);
    let out = |name: &str| -> anyhow::Result<_> {
        Ok(BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(dir.join(name))?,
        ))
    };
    let (mut enriched, mut failed) = (out("enriched.jsonl")?, out("failed.jsonl")?);
    let mut result = Ok(Default::default());
    let m = super::measure::measure(events, || {
        result = enricher::file_mode::run_files(
            pipeline,
            &mut reader,
            &mut enriched,
            &mut failed,
            batch_size,
        );
    });
    result?;
    Ok(m)
}
