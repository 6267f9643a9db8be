//! The claims lookup part of the configuration: cache mode and sizes, TTLs,
//! timeout and retries, with the environment variable of each setting.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::{RetrySchedule, duration_text};

/// Environment variable of each lookup setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("LOOKUP_CACHE", "lookup.cache"),
    ("LOOKUP_CACHE_MAX_ROWS", "lookup.cache-max-rows"),
    ("LOOKUP_CACHE_TTL", "lookup.cache-ttl"),
    ("LOOKUP_CACHE_MISSING_KEY", "lookup.cache-missing-key"),
    ("LOOKUP_CACHE_MISSING_TTL", "lookup.cache-missing-ttl"),
    ("LOOKUP_FULL_CACHE_MAX_BYTES", "lookup.full-cache-max-bytes"),
    ("LOOKUP_FULL_RELOAD_INTERVAL", "lookup.full-reload-interval"),
    ("LOOKUP_TIMEOUT", "lookup.timeout"),
    ("LOOKUP_MAX_RETRIES", "lookup.max-retries"),
    ("LOOKUP_RETRY_BACKOFF", "lookup.retry-backoff"),
    ("LOOKUP_RETRY_BACKOFF_MAX", "lookup.retry-backoff-max"),
    ("LOOKUP_SERVE_STALE_FOR", "lookup.serve-stale-for"),
    ("LOOKUP_RETRY_NOT_FOUND", "lookup.retry-not-found"),
];

/// How lookups are cached, in the spirit of Flink's `lookup.cache` options.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum CacheMode {
    /// LRU of recently used rows with a TTL (Flink's `PARTIAL`; also `lru`).
    Partial,
    /// The whole table in memory, reloaded every `full-reload-interval` (Flink's `FULL`).
    Full,
    /// Every lookup goes to DuckDB.
    None,
    /// `full` when the table fits `full-cache-max-bytes` (estimated at start), else `partial`.
    Auto,
}

impl FromStr for CacheMode {
    type Err = String;

    /// `auto`, `partial` (or `lru`), `full` or `none`, in any case.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "partial" | "lru" => Ok(Self::Partial),
            "full" => Ok(Self::Full),
            "none" => Ok(Self::None),
            "auto" => Ok(Self::Auto),
            _ => Err("expected auto, partial, full or none".into()),
        }
    }
}

impl TryFrom<String> for CacheMode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// The claims lookup: cache, timeout and retries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LookupConfig {
    /// env `LOOKUP_CACHE`
    pub cache: CacheMode,
    /// Largest number of rows (found or missing) the partial cache holds. env `LOOKUP_CACHE_MAX_ROWS`
    pub cache_max_rows: usize,
    /// How long a found row stays cached. env `LOOKUP_CACHE_TTL`
    #[serde(with = "duration_text")]
    pub cache_ttl: Duration,
    /// Whether a claim id that is not in the table is remembered as missing. env `LOOKUP_CACHE_MISSING_KEY`
    pub cache_missing_key: bool,
    /// How long a missing id stays cached (short, so a newly loaded claim shows up soon). env `LOOKUP_CACHE_MISSING_TTL`
    #[serde(with = "duration_text")]
    pub cache_missing_ttl: Duration,
    /// Mode `auto` loads the whole table when it is estimated to take at
    /// most this much memory. env `LOOKUP_FULL_CACHE_MAX_BYTES`
    pub full_cache_max_bytes: u64,
    /// How often full mode reloads the table. env `LOOKUP_FULL_RELOAD_INTERVAL`
    #[serde(with = "duration_text")]
    pub full_reload_interval: Duration,
    /// Budget for one batched lookup, retries included; past it: DB_TIMEOUT. env `LOOKUP_TIMEOUT`
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Retries of a transient store failure before DB_ERROR. env `LOOKUP_MAX_RETRIES`
    pub max_retries: u32,
    /// First retry delay; doubles each retry, with jitter. env `LOOKUP_RETRY_BACKOFF`
    #[serde(with = "duration_text")]
    pub retry_backoff: Duration,
    /// Cap on one retry delay. env `LOOKUP_RETRY_BACKOFF_MAX`
    #[serde(with = "duration_text")]
    pub retry_backoff_max: Duration,
    /// When the store fails or times out, answer from a cached row that
    /// expired at most this long ago (marked stale); `0s` is off. Partial
    /// cache only. env `LOOKUP_SERVE_STALE_FOR`
    #[serde(with = "duration_text")]
    pub serve_stale_for: Duration,
    /// Late claims (Kafka mode): a CLAIM_NOT_FOUND payment is tried again after
    /// each of these delays (`30s,2m,10m`) through the retry topic before it
    /// goes to `failed`; `off` (the default) sends it to `failed` at once.
    /// env `LOOKUP_RETRY_NOT_FOUND`
    pub retry_not_found: RetrySchedule,
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            cache: CacheMode::Auto,
            cache_max_rows: 100_000,
            cache_ttl: Duration::from_secs(60),
            cache_missing_key: true,
            cache_missing_ttl: Duration::from_secs(10),
            full_cache_max_bytes: 512 << 20,
            full_reload_interval: Duration::from_secs(300),
            timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_backoff: Duration::from_millis(20),
            retry_backoff_max: Duration::from_millis(500),
            serve_stale_for: Duration::ZERO,
            retry_not_found: RetrySchedule::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mode_takes_the_flink_names_in_any_case() {
        assert_eq!("lru".parse(), Ok(CacheMode::Partial));
        assert_eq!("FULL".parse(), Ok(CacheMode::Full));
        assert_eq!(" none ".parse(), Ok(CacheMode::None));
        assert_eq!("Auto".parse(), Ok(CacheMode::Auto));
        let err = "all".parse::<CacheMode>().expect_err("unknown mode");
        assert!(err.contains("partial, full or none"), "{err}");
    }
}
