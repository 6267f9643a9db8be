//! The host's one typed configuration.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config`),
//! environment variables (the original design's names, such as `DUCKDB_URL` and
//! `KAFKA_BOOTSTRAP_SERVERS`, plus `ENRICHER_*` for the rest), then CLI flags
//! (applied by `main.rs`). See docs/operations.md for the table. Each setting is declared
//! once: a field (its file key) and, if it has one, a row `(env name, file key)`
//! in its section's `ENV` table; [`Layers`] (`figment`) does the layering.
//! Variables that look like settings but are none are reported at start
//! ([`warn_unknown_env`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

mod admin;
mod claims;
mod deploy;
mod env_check;
mod instance;
mod kafka;
mod layers;
mod lookup;
mod observe;
mod plugin;
mod postgres;
mod sources;
mod values;
pub use admin::{AdminConfig, MIN_TOKEN_LEN, Secret};
pub use claims::{BadChange, ChangelogFormat, ClaimsConfig, ClaimsSource};
pub use deploy::{DEFAULT_ADMIN_BIND, DeployConfig, TopicShape};
pub use env_check::{
    UnknownVar, is_read_elsewhere, is_setting_env, unknown_env_vars, warn_unknown_env,
};
pub use kafka::{DeliveryMode, KafkaConfig, OUR_MEMBER_PREFIX};
pub use layers::Layers;
pub use lookup::{CacheMode, LookupConfig};
pub use observe::ObserveConfig;
pub use plugin::{PipelineConfig, PluginConfig};
pub use postgres::{PostgresTarget, SslMode, is_postgres_url, masked_url};
pub use sources::{MASK, Origin, Setting, default_text, env_var_of, is_secret};
pub use values::{RetrySchedule, parse_duckdb_url, parse_duration};

use layers::invalid;

/// Everything the host can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub duckdb: DuckDbConfig,
    pub lookup: LookupConfig,
    pub pipeline: PipelineConfig,
    pub plugin: PluginConfig,
    pub kafka: KafkaConfig,
    pub deploy: DeployConfig,
    pub admin: AdminConfig,
    pub claims: ClaimsConfig,
    pub observe: ObserveConfig,
}

/// The most rows `lookup.cache-max-rows` may ask for: the cache grows as it
/// fills (nothing is allocated up front), and this bounds what it may grow to.
const MAX_CACHE_ROWS: usize = 50_000_000;

/// Environment variable of each DuckDB setting: (name, key in the file).
const ENV: &[(&str, &str)] = &[
    ("DUCKDB_URL", "duckdb.url"),
    ("DUCKDB_THREADS", "duckdb.threads"),
];

/// Where the claims table lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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

impl Config {
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config = Self::layers(file)?.extract()?;
        config.validate()?;
        Ok(config)
    }

    /// The layers [`Config::load`] resolves: defaults, the file (if any) and
    /// the process environment; flags may be added (`Layers::flag`).
    pub fn layers(file: Option<&Path>) -> Result<Layers, ConfigError> {
        let mut layers = Layers::new(&Self::default());
        if let Some(path) = file {
            layers = layers.file(path)?;
        }
        Ok(layers
            .env(|name| std::env::var(name).ok())
            // vars_os: a variable that is not UTF-8 is skipped, not a panic.
            .env_properties(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
            ))
    }

    /// Defaults, then the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Layers::new(&Self::default()).file(path)?.extract()
    }

    /// Apply overrides from an environment (a function so tests need not touch the real one).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        *self = Layers::new(self).env(env).extract()?;
        Ok(())
    }

    /// Where the lookup reads claims: `claims.url` when set, else
    /// `duckdb.url`; either may be a DuckDB file or a PostgreSQL URL.
    pub fn claims_source(&self) -> Result<ClaimsSource, ConfigError> {
        self.claims.source(&self.duckdb.url)
    }

    /// The DuckDB file claims are read from; `None` when they are looked up
    /// in PostgreSQL, or in memory.
    pub fn duckdb_file(&self) -> Result<Option<PathBuf>, ConfigError> {
        match self.claims_source()? {
            ClaimsSource::DuckDb(path) => Ok(path),
            ClaimsSource::Postgres(_) => Ok(None),
        }
    }

    /// Reject settings that cannot work, with the setting's name in the message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.claims_source()?;
        if self.duckdb.threads == Some(0) {
            return Err(invalid(
                "duckdb.threads",
                "must be at least 1 (or unset, to let DuckDB choose)",
            ));
        }
        if self.pipeline.batch_size == 0 || self.pipeline.batch_size > 100_000 {
            return Err(invalid(
                "pipeline.batch-size",
                "must be between 1 and 100000",
            ));
        }
        if self.pipeline.max_record_bytes == 0 {
            return Err(invalid("pipeline.max-record-bytes", "must be positive"));
        }
        if self.pipeline.max_batch_wait < Duration::from_millis(1) {
            return Err(invalid("pipeline.max-batch-wait", "must be at least 1ms"));
        }
        let partial = matches!(self.lookup.cache, CacheMode::Partial | CacheMode::Auto);
        if partial && self.lookup.cache_max_rows == 0 {
            return Err(invalid(
                "lookup.cache-max-rows",
                "must be positive with the partial cache",
            ));
        }
        if self.lookup.cache_max_rows > MAX_CACHE_ROWS {
            return Err(invalid(
                "lookup.cache-max-rows",
                &format!(
                    "{} is more than the {MAX_CACHE_ROWS} rows a cache may hold (a row costs \
                     ~200 bytes: {MAX_CACHE_ROWS} is ~10 GB); for a table that large, use \
                     lookup.cache = full",
                    self.lookup.cache_max_rows
                ),
            ));
        }
        if self.lookup.timeout.is_zero() {
            return Err(invalid("lookup.timeout", "must be positive"));
        }
        if self.plugin.max_memory_bytes < (1 << 20) {
            return Err(invalid("plugin.max-memory-bytes", "must be at least 1 MiB"));
        }
        if self.plugin.cpu_deadline < Duration::from_millis(10) {
            return Err(invalid("plugin.cpu-deadline", "must be at least 10ms"));
        }
        self.kafka.validate()?;
        self.deploy.validate()?;
        self.admin.validate()?;
        self.observe.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn one_setting_resolves_file_then_env_then_flag() {
        let file = || {
            Layers::new(&Config::default())
                .toml(Path::new("test.toml"), "[lookup]\ntimeout = \"5s\"\n")
                .expect("valid file")
        };
        let env = |name: &str| (name == "LOOKUP_TIMEOUT").then(|| " 6s ".to_string());
        let no_env = |_: &str| None;
        let timeout = |layers: Layers| layers.extract().expect("resolves").lookup.timeout;
        let secs = Duration::from_secs;
        assert_eq!(timeout(Layers::new(&Config::default())), secs(2), "default");
        assert_eq!(timeout(file()), secs(5), "file over default");
        assert_eq!(
            timeout(file().env(no_env)),
            secs(5),
            "unset env keeps the file's"
        );
        assert_eq!(timeout(file().env(env)), secs(6), "env over file");
        let flag = file().env(env).set("lookup.timeout", "7s");
        assert_eq!(timeout(flag), secs(7), "flag over env");
    }

    #[test]
    fn env_names_are_the_documented_ones_and_each_names_a_setting() {
        let mut names: Vec<&str> = layers::env_table().map(|(name, _)| name).collect();
        names.sort_unstable();
        let documented: Vec<&str> = "CLAIMS_BAD_CHANGE CLAIMS_CHANGELOG_FORMAT CLAIMS_CHANGELOG_TOPIC \
            CLAIMS_PASSWORD CLAIMS_PASSWORD_FILE CLAIMS_URL DUCKDB_THREADS DUCKDB_URL ENRICHED_PAYMENTS_TOPIC \
            ENRICHER_ADMIN_ALLOWED_HOSTS ENRICHER_ADMIN_BIND ENRICHER_ADMIN_OPEN_READS ENRICHER_ADMIN_TLS_CERT \
            ENRICHER_ADMIN_TLS_KEY ENRICHER_ADMIN_TOKEN ENRICHER_ADMIN_TOKEN_FILE ENRICHER_BATCH_SIZE ENRICHER_CACHE_DIR \
            ENRICHER_CANARY_FILE ENRICHER_COMMIT_INTERVAL \
            ENRICHER_COMMIT_MAX_RECORDS ENRICHER_DELIVERY ENRICHER_INSTANCE_ID \
            ENRICHER_KAFKA_DELIVERY_TIMEOUT ENRICHER_KAFKA_STALL_WARNING ENRICHER_KAFKA_STARTUP_TIMEOUT \
            ENRICHER_KAFKA_STATIC_MEMBERSHIP ENRICHER_LIVENESS_TIMEOUT \
            ENRICHER_MAX_BATCH_WAIT ENRICHER_MAX_RECORD_BYTES ENRICHER_PLUGIN \
            ENRICHER_PLUGIN_CPU_DEADLINE ENRICHER_PLUGIN_MAX_MEMORY_BYTES ENRICHER_PLUGIN_TOPIC \
            ENRICHER_PLUGIN_TOPIC_PARTITIONS ENRICHER_PLUGIN_TOPIC_REPLICATION \
            ENRICHER_PLUGIN_WATCH_DIR ENRICHER_PROGRESS_INTERVAL ENRICHER_ROLLBACK_ERROR_RATE ENRICHER_ROLLBACK_MIN_RECORDS \
            ENRICHER_ROLLBACK_WINDOW ENRICHER_STATUS_INTERVAL ENRICHER_TOOLCHAINS ENRICHER_TRUSTED_KEYS FAILED_PAYMENTS_TOPIC KAFKA_BOOTSTRAP_SERVERS \
            KAFKA_GROUP_ID KAFKA_RETRY_TOPIC \
            KAFKA_TRANSACTIONAL_ID LOOKUP_CACHE LOOKUP_CACHE_MAX_ROWS LOOKUP_CACHE_MISSING_KEY \
            LOOKUP_CACHE_MISSING_TTL LOOKUP_CACHE_TTL LOOKUP_FULL_CACHE_MAX_BYTES LOOKUP_FULL_RELOAD_INTERVAL LOOKUP_MAX_RETRIES \
            LOOKUP_RETRY_BACKOFF LOOKUP_RETRY_BACKOFF_MAX LOOKUP_RETRY_NOT_FOUND LOOKUP_SERVE_STALE_FOR \
            LOOKUP_TIMEOUT PAYMENT_EVENTS_TOPIC"
            .split_whitespace()
            .collect();
        assert_eq!(names, documented);
        let defaults =
            figment::Figment::from(figment::providers::Serialized::defaults(Config::default()));
        for (name, key) in layers::env_table() {
            assert!(
                defaults.find_value(key).is_ok(),
                "{name} names no setting ({key})"
            );
        }
    }
}
