//! `enricher-bench step`: resident memory per cached claim. Partial cache: the
//! RSS slope between a sixth of the claims and all of them (up to 120,000)
//! cached, so the store's fixed buffers cancel out. Full cache: the RSS the
//! whole table adds when loaded (DuckDB's scan buffers included, so an upper
//! bound). RSS, not the allocator's count: what the operator pays.

use std::path::Path;

use enricher::config::{CacheMode, LookupConfig};
use enricher::generate::claim_id;
use enricher::lookup::{ClaimsLookup, DuckDbStore};

use super::report::{Report, rss_bytes};

fn lookup(db: &Path, cache: CacheMode, max_rows: usize) -> anyhow::Result<ClaimsLookup> {
    let store = DuckDbStore::open(Some(db), Some(1))?;
    let cfg = LookupConfig {
        cache,
        cache_max_rows: max_rows,
        ..LookupConfig::default()
    };
    ClaimsLookup::start(Box::new(store), &cfg).map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn rss() -> u64 {
    rss_bytes().map_or(0, |(rss, _)| rss)
}

/// Cache claims `from..to` (lookups of 5,000 ids).
fn warm(lookup: &ClaimsLookup, from: u64, to: u64) {
    let ids: Vec<String> = (from..to).map(claim_id).collect();
    for chunk in ids.chunks(5000) {
        lookup.lookup(chunk);
    }
}

/// Bytes of RSS per cached claim, partial and full, over the `table_rows` table in `db`.
pub(super) fn measure(db: &Path, table_rows: u64, report: &mut Report) -> anyhow::Result<()> {
    let hi = table_rows.min(120_000);
    let lo = hi / 6;
    let partial = lookup(db, CacheMode::Partial, hi as usize)?;
    warm(&partial, 0, lo);
    let (rows_lo, rss_lo) = (partial.stats().rows_in_memory, rss());
    warm(&partial, lo, hi);
    let (rows_hi, rss_hi) = (partial.stats().rows_in_memory, rss());
    drop(partial);
    let per_partial = rss_hi.saturating_sub(rss_lo) / rows_hi.saturating_sub(rows_lo).max(1);

    let before = rss();
    let full = lookup(db, CacheMode::Full, 0)?;
    let rows = full.stats().rows_in_memory;
    let per_full = rss().saturating_sub(before) / rows.max(1);
    drop(full);
    report.say(&format!(
        "RSS per cached claim: partial cache {per_partial} B ({rows_lo} → {rows_hi} claims), \
         full cache {per_full} B ({rows} claims, DuckDB's scan buffers included)\n"
    ));
    report.figure(
        "rss_bytes_per_cached_claim_partial",
        serde_json::json!(per_partial),
    );
    report.figure(
        "rss_bytes_per_cached_claim_full",
        serde_json::json!(per_full),
    );
    Ok(())
}
