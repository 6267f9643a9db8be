//! The host's one typed configuration.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config`),
//! environment variables (the original design's names, such as `DUCKDB_URL` and
//! `KAFKA_BOOTSTRAP_SERVERS`, plus `ENRICHER_*` for the rest), then CLI flags
//! (applied by `main.rs`). See README.md for the table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

mod deploy;
mod kafka;
pub use deploy::{DEFAULT_ADMIN_BIND, DeployConfig};
pub use kafka::{DeliveryMode, KafkaConfig};

/// Everything the host can be told.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub duckdb: DuckDbConfig,
    pub lookup: LookupConfig,
    pub pipeline: PipelineConfig,
    pub plugin: PluginConfig,
    pub kafka: KafkaConfig,
    pub deploy: DeployConfig,
}

/// Where the claims table lives.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DuckDbConfig {
    /// A path, `jdbc:duckdb:<path>`, `duckdb:<path>` or `:memory:` (env `DUCKDB_URL`).
    pub url: String,
    /// DuckDB worker threads; unset lets DuckDB choose (env `DUCKDB_THREADS`).
    pub threads: Option<u32>,
}

impl Default for DuckDbConfig {
    fn default() -> Self {
        Self {
            url: "claims.duckdb".into(),
            threads: None,
        }
    }
}

impl DuckDbConfig {
    /// The database file the URL names (`None` for an in-memory database).
    pub fn path(&self) -> Result<Option<PathBuf>, ConfigError> {
        parse_duckdb_url(&self.url)
    }
}

/// How lookups are cached, in the spirit of Flink's `lookup.cache` options.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// LRU of recently used rows with a TTL (Flink's `PARTIAL`).
    Partial,
    /// The whole table in memory, reloaded every `full-reload-interval` (Flink's `FULL`).
    Full,
    /// Every lookup goes to DuckDB.
    None,
}

/// The claims lookup: cache, timeout and retries.
#[derive(Debug, Clone, Deserialize, PartialEq)]
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
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            cache: CacheMode::Partial,
            cache_max_rows: 100_000,
            cache_ttl: Duration::from_secs(60),
            cache_missing_key: true,
            cache_missing_ttl: Duration::from_secs(10),
            full_reload_interval: Duration::from_secs(300),
            timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_backoff: Duration::from_millis(20),
            retry_backoff_max: Duration::from_millis(500),
        }
    }
}

/// Batching and limits on the way through the plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineConfig {
    /// Records per plugin call. env `ENRICHER_BATCH_SIZE`
    pub batch_size: usize,
    /// Larger input records go to `failed` as RECORD_TOO_LARGE. env `ENRICHER_MAX_RECORD_BYTES`
    pub max_record_bytes: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_record_bytes: 1 << 20,
        }
    }
}

/// Which plugin to run, and the sandbox it runs in.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginConfig {
    /// A `.wasm` component; unset runs the plugin built with the host. env `ENRICHER_PLUGIN`
    pub path: Option<PathBuf>,
    /// Linear memory one plugin instance may grow to. env `ENRICHER_PLUGIN_MAX_MEMORY_BYTES`
    pub max_memory_bytes: usize,
    /// CPU time one call may spend inside the plugin (host calls such as lookups
    /// excluded); past it the call traps. env `ENRICHER_PLUGIN_CPU_DEADLINE`
    #[serde(with = "duration_text")]
    pub cpu_deadline: Duration,
    /// Parameters the plugin reads through the `config` import (WIT 1.1.0).
    pub params: std::collections::BTreeMap<String, String>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        // Generous next to real work (a batch of 1,000 takes ~2 ms and a few MiB),
        // tight enough that a runaway plugin is stopped within a second.
        Self {
            path: None,
            max_memory_bytes: 256 << 20,
            cpu_deadline: Duration::from_secs(1),
            params: Default::default(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Apply overrides from an environment (a function so tests need not touch the real one).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let text = |name: &str, field: &mut String| {
            if let Some(v) = env(name) {
                *field = v;
            }
        };
        text("DUCKDB_URL", &mut self.duckdb.url);
        self.kafka.apply_env(&env)?;
        self.deploy.apply_env(&env)?;
        parse_env(&env, "DUCKDB_THREADS", |v| {
            v.parse().map(|n| self.duckdb.threads = Some(n)).ok()
        })?;
        let l = &mut self.lookup;
        if let Some(v) = env("LOOKUP_CACHE") {
            l.cache = match v.to_ascii_lowercase().as_str() {
                "partial" | "lru" => CacheMode::Partial,
                "full" => CacheMode::Full,
                "none" => CacheMode::None,
                _ => return Err(invalid_env("LOOKUP_CACHE", &v, "partial, full or none")),
            };
        }
        parse_env(&env, "LOOKUP_CACHE_MAX_ROWS", |v| {
            v.parse().map(|n| l.cache_max_rows = n).ok()
        })?;
        parse_env(&env, "LOOKUP_CACHE_TTL", |v| {
            parse_duration(v).map(|d| l.cache_ttl = d).ok()
        })?;
        parse_env(&env, "LOOKUP_CACHE_MISSING_KEY", |v| {
            v.parse().map(|b| l.cache_missing_key = b).ok()
        })?;
        parse_env(&env, "LOOKUP_CACHE_MISSING_TTL", |v| {
            parse_duration(v).map(|d| l.cache_missing_ttl = d).ok()
        })?;
        parse_env(&env, "LOOKUP_FULL_RELOAD_INTERVAL", |v| {
            parse_duration(v).map(|d| l.full_reload_interval = d).ok()
        })?;
        parse_env(&env, "LOOKUP_TIMEOUT", |v| {
            parse_duration(v).map(|d| l.timeout = d).ok()
        })?;
        parse_env(&env, "LOOKUP_MAX_RETRIES", |v| {
            v.parse().map(|n| l.max_retries = n).ok()
        })?;
        parse_env(&env, "LOOKUP_RETRY_BACKOFF", |v| {
            parse_duration(v).map(|d| l.retry_backoff = d).ok()
        })?;
        parse_env(&env, "LOOKUP_RETRY_BACKOFF_MAX", |v| {
            parse_duration(v).map(|d| l.retry_backoff_max = d).ok()
        })?;
        let p = &mut self.pipeline;
        parse_env(&env, "ENRICHER_BATCH_SIZE", |v| {
            v.parse().map(|n| p.batch_size = n).ok()
        })?;
        parse_env(&env, "ENRICHER_MAX_RECORD_BYTES", |v| {
            v.parse().map(|n| p.max_record_bytes = n).ok()
        })?;
        let pl = &mut self.plugin;
        parse_env(&env, "ENRICHER_PLUGIN_MAX_MEMORY_BYTES", |v| {
            v.parse().map(|n| pl.max_memory_bytes = n).ok()
        })?;
        parse_env(&env, "ENRICHER_PLUGIN_CPU_DEADLINE", |v| {
            parse_duration(v).map(|d| pl.cpu_deadline = d).ok()
        })?;
        if let Some(v) = env("ENRICHER_PLUGIN") {
            self.plugin.path = Some(PathBuf::from(v));
        }
        Ok(())
    }

    /// Reject settings that cannot work, with the setting's name in the message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: &str| Err(ConfigError::Invalid(format!("{name}: {why}")));
        self.duckdb.path()?;
        if self.pipeline.batch_size == 0 || self.pipeline.batch_size > 100_000 {
            return bad("pipeline.batch-size", "must be between 1 and 100000");
        }
        if self.pipeline.max_record_bytes == 0 {
            return bad("pipeline.max-record-bytes", "must be positive");
        }
        if self.lookup.cache == CacheMode::Partial && self.lookup.cache_max_rows == 0 {
            return bad(
                "lookup.cache-max-rows",
                "must be positive with the partial cache",
            );
        }
        if self.lookup.timeout.is_zero() {
            return bad("lookup.timeout", "must be positive");
        }
        if self.plugin.max_memory_bytes < (1 << 20) {
            return bad("plugin.max-memory-bytes", "must be at least 1 MiB");
        }
        if self.plugin.cpu_deadline < Duration::from_millis(10) {
            return bad("plugin.cpu-deadline", "must be at least 10ms");
        }
        self.kafka.validate()?;
        self.deploy.validate()?;
        Ok(())
    }
}

pub(crate) fn parse_env(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
    mut apply: impl FnMut(&str) -> Option<()>,
) -> Result<(), ConfigError> {
    match env(name) {
        Some(v) => apply(v.trim()).ok_or_else(|| invalid_env(name, &v, "a valid value")),
        None => Ok(()),
    }
}

pub(crate) fn invalid_env(name: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid(format!("{name}={value:?}: expected {expected}"))
}

/// The file a `DUCKDB_URL` names: a plain path, `jdbc:duckdb:<path>`,
/// `duckdb:<path>` or `file:<path>`; `:memory:` (or an empty path) means in memory.
pub fn parse_duckdb_url(url: &str) -> Result<Option<PathBuf>, ConfigError> {
    let rest = url
        .strip_prefix("jdbc:duckdb:")
        .or_else(|| url.strip_prefix("duckdb:"))
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url);
    let rest = rest
        .strip_prefix("//")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(rest);
    if rest.contains("://") {
        return Err(ConfigError::Invalid(format!(
            "DUCKDB_URL {url:?}: DuckDB is embedded here; give a file path (or jdbc:duckdb:<path>), not a server URL"
        )));
    }
    match rest.trim() {
        "" | ":memory:" => Ok(None),
        path => Ok(Some(PathBuf::from(path))),
    }
}

/// `250ms`, `2s`, `1min`, `1m`, `1h`, or a plain number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 2s or 1min"))?;
    let seconds = match unit.trim() {
        "" | "ms" => n / 1000.0,
        "s" | "sec" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, min, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// Serde glue: durations as text in the TOML file.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_url_accepts_the_original_forms() {
        let p = |u: &str| parse_duckdb_url(u).expect("valid");
        assert_eq!(p("claims.duckdb"), Some(PathBuf::from("claims.duckdb")));
        assert_eq!(
            p("jdbc:duckdb:/data/claims.db"),
            Some(PathBuf::from("/data/claims.db"))
        );
        assert_eq!(
            p("duckdb:rel/claims.db"),
            Some(PathBuf::from("rel/claims.db"))
        );
        assert_eq!(
            p("file:///abs/claims.db"),
            Some(PathBuf::from("/abs/claims.db"))
        );
        assert_eq!(p("jdbc:duckdb:"), None);
        assert_eq!(p(":memory:"), None);
        let err =
            parse_duckdb_url("jdbc:duckdb:http://localhost:8080/database").expect_err("server url");
        assert!(err.to_string().contains("embedded"));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1min"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("40"), Ok(Duration::from_millis(40)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn file_then_env_override_in_order() {
        let file = r#"
            [duckdb]
            url = "jdbc:duckdb:/from/file.db"
            [lookup]
            cache = "full"
            cache-ttl = "5min"
            [kafka.properties]
            "compression.type" = "lz4"
        "#;
        let mut c: Config = toml::from_str(file).expect("parses");
        assert_eq!(c.lookup.cache, CacheMode::Full);
        assert_eq!(c.lookup.cache_ttl, Duration::from_secs(300));
        assert_eq!(
            c.kafka
                .properties
                .get("compression.type")
                .map(String::as_str),
            Some("lz4")
        );
        let env = |name: &str| match name {
            "DUCKDB_URL" => Some("/from/env.db".to_string()),
            "LOOKUP_MAX_RETRIES" => Some("7".to_string()),
            "PAYMENT_EVENTS_TOPIC" => Some("payments-v2".to_string()),
            _ => None,
        };
        c.apply_env(env).expect("env applies");
        assert_eq!(
            c.duckdb.path().expect("path"),
            Some(PathBuf::from("/from/env.db"))
        );
        assert_eq!(c.lookup.max_retries, 7);
        assert_eq!(c.kafka.payment_events_topic, "payments-v2");
        assert_eq!(c.lookup.cache, CacheMode::Full, "untouched by env");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let err = toml::from_str::<Config>("[lookup]\ncache-rows = 5").expect_err("unknown key");
        assert!(err.to_string().contains("cache-rows"));
        let mut c = Config::default();
        let err = c
            .apply_env(|n| (n == "LOOKUP_TIMEOUT").then(|| "fast".to_string()))
            .expect_err("bad duration");
        assert!(err.to_string().contains("LOOKUP_TIMEOUT"));
        c.pipeline.batch_size = 0;
        assert!(
            c.validate()
                .expect_err("zero batch")
                .to_string()
                .contains("batch-size")
        );
    }
}
