//! Cache mode `auto` (the default): the whole claims table in memory when it
//! fits the budget (`lookup.full-cache-max-bytes`), the partial cache
//! otherwise. The size is estimated at start from the store's row count and
//! average row width, so nothing is loaded to find out; the choice and why are
//! kept for the run summary, `/metrics` and `/v1/status`.
//!
//! A table of [`BACKGROUND_LOAD_ROWS`] rows or more is loaded in the
//! background: the stream starts at once on the partial cache and switches to
//! the full table when it is loaded (`full`); a smaller one loads before the
//! first event (in milliseconds).

use serde::Serialize;

use super::store::{ClaimsStore, TableSize};
use crate::config::{CacheMode, LookupConfig};

/// Memory one row of the full cache takes beside its text, at the peak of a
/// load: the hash table slot (key `String` and `Arc` pointer, at 7/8 load),
/// the `Arc<ClaimRow>` allocation, the heap overhead of its three strings,
/// and the rows as DuckDB hands them over before they go into the table.
/// Measured: peak RSS of `enricher run` grew by ~411 B per claim with a
/// 1M-row table (~29 B of text a row) over the partial cache (docs/benchmarks-log.md).
pub const ROW_OVERHEAD_BYTES: u64 = 384;

/// Rows from which `auto` loads the full table in the background.
pub const BACKGROUND_LOAD_ROWS: u64 = 200_000;

/// The cache mode a lookup runs with, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheChoice {
    /// `partial`, `full` or `none`: never `auto`.
    pub mode: &'static str,
    /// Whether `auto` chose it (else the operator named it).
    pub auto: bool,
    /// For humans: the estimate against the budget, or that it was configured.
    pub reason: String,
}

/// The mode `config` asks for, with `auto` resolved against `store`'s size,
/// and whether a full table is loaded in the background.
pub fn choose(
    store: &mut dyn ClaimsStore,
    config: &LookupConfig,
) -> (CacheMode, CacheChoice, bool) {
    let named = |mode: CacheMode| {
        let choice = CacheChoice {
            mode: mode_name(mode),
            auto: false,
            reason: "configured (lookup.cache)".into(),
        };
        (mode, choice, false)
    };
    if config.cache != CacheMode::Auto {
        return named(config.cache);
    }
    let budget = config.full_cache_max_bytes;
    let mut background = false;
    let (mode, reason) = match store.table_size() {
        Ok(Some(size)) => {
            let estimate = estimate_bytes(size);
            let fits = estimate <= budget;
            let verdict = if fits { "fits" } else { "exceeds" };
            background = fits && size.rows >= BACKGROUND_LOAD_ROWS;
            let when = if background {
                "; loaded in the background (partial cache until then)"
            } else {
                ""
            };
            let reason = format!(
                "{} rows, ~{} MiB in memory, {verdict} the full-cache budget of {} MiB (lookup.full-cache-max-bytes){when}",
                size.rows,
                mib(estimate),
                mib(budget)
            );
            (
                if fits {
                    CacheMode::Full
                } else {
                    CacheMode::Partial
                },
                reason,
            )
        }
        Ok(None) => (
            CacheMode::Partial,
            "the store cannot tell its size".to_owned(),
        ),
        Err(error) => (
            CacheMode::Partial,
            format!("the table's size could not be read ({error})"),
        ),
    };
    let choice = CacheChoice {
        mode: mode_name(mode),
        auto: true,
        reason,
    };
    (mode, choice, background)
}

/// Bytes the full cache would take for a table of `size`.
pub fn estimate_bytes(size: TableSize) -> u64 {
    size.rows
        .saturating_mul(ROW_OVERHEAD_BYTES.saturating_add(size.avg_text_bytes))
}

fn mode_name(mode: CacheMode) -> &'static str {
    match mode {
        CacheMode::Partial => "partial",
        CacheMode::Full => "full",
        CacheMode::None => "none",
        CacheMode::Auto => "auto",
    }
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::lookup::ClaimRow;

    struct Sized(Result<Option<TableSize>, StoreError>);

    impl ClaimsStore for Sized {
        fn fetch(&mut self, _: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
            Ok(Vec::new())
        }
        fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
            Ok(Vec::new())
        }
        fn table_size(&mut self) -> Result<Option<TableSize>, StoreError> {
            self.0.clone()
        }
    }

    fn auto(budget: u64) -> LookupConfig {
        LookupConfig {
            cache: CacheMode::Auto,
            full_cache_max_bytes: budget,
            ..LookupConfig::default()
        }
    }

    const MILLION: TableSize = TableSize {
        rows: 1_000_000,
        avg_text_bytes: 30,
    };

    #[test]
    fn auto_loads_a_table_that_fits_and_caches_partially_one_that_does_not() {
        let (mode, choice, background) = choose(&mut Sized(Ok(Some(MILLION))), &auto(512 << 20));
        assert_eq!(mode, CacheMode::Full);
        assert!(background, "a million rows load in the background");
        assert!(choice.reason.contains("background"), "{}", choice.reason);
        let small = TableSize {
            rows: BACKGROUND_LOAD_ROWS - 1,
            ..MILLION
        };
        let (mode, _, background) = choose(&mut Sized(Ok(Some(small))), &auto(512 << 20));
        assert!(
            mode == CacheMode::Full && !background,
            "a small one before the stream"
        );
        assert!(choice.auto && choice.mode == "full");
        assert!(choice.reason.contains("1000000 rows") && choice.reason.contains("fits"));

        let (mode, choice, _) = choose(&mut Sized(Ok(Some(MILLION))), &auto(100 << 20));
        assert_eq!(mode, CacheMode::Partial);
        assert!(choice.reason.contains("exceeds"), "{}", choice.reason);
    }

    #[test]
    fn auto_falls_back_to_partial_when_the_size_is_unknown() {
        let failing = Err(StoreError::Transient("locked".into()));
        let (mode, choice, _) = choose(&mut Sized(failing), &auto(u64::MAX));
        assert_eq!(mode, CacheMode::Partial);
        assert!(choice.reason.contains("locked"));
        let (mode, _, _) = choose(&mut Sized(Ok(None)), &auto(u64::MAX));
        assert_eq!(mode, CacheMode::Partial);
    }

    #[test]
    fn a_named_mode_is_kept_whatever_the_size() {
        let config = LookupConfig {
            cache: CacheMode::None,
            ..auto(u64::MAX)
        };
        let (mode, choice, _) = choose(&mut Sized(Ok(Some(MILLION))), &config);
        assert_eq!(mode, CacheMode::None);
        assert!(!choice.auto);
    }
}
