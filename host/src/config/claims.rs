//! The claims part of the configuration: where claims are looked up
//! (`claims.url`: a DuckDB file or a PostgreSQL table) and the password of a
//! PostgreSQL URL, and the changelog topic every host applies while it runs
//! (see `changelog`): its format and what a bad change does.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::layers::invalid;
use super::postgres::{PostgresTarget, is_postgres_url};
use super::values::{optional_path, parse_duckdb_url};
use crate::error::ConfigError;

/// Environment variable of each claims setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("CLAIMS_URL", "claims.url"),
    ("CLAIMS_PASSWORD", "claims.password"),
    ("CLAIMS_PASSWORD_FILE", "claims.password-file"),
    ("CLAIMS_CHANGELOG_TOPIC", "claims.changelog-topic"),
    ("CLAIMS_CHANGELOG_FORMAT", "claims.changelog-format"),
    ("CLAIMS_BAD_CHANGE", "claims.bad-change"),
];

/// Where claims come from and how they are kept fresh while hosts run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClaimsConfig {
    /// Where the lookup reads claims, over `duckdb.url` when set: a DuckDB
    /// file (as `duckdb.url` takes it), or a PostgreSQL table looked up
    /// directly, `postgres://user@host:port/db?table=claims&sslmode=require`
    /// (`DUCKDB_URL` takes that form too). env `CLAIMS_URL`
    pub url: Option<String>,
    /// The PostgreSQL password, when the URL has none. env `CLAIMS_PASSWORD`
    pub password: Option<Secret>,
    /// A file holding the PostgreSQL password (surrounding whitespace
    /// ignored), such as a mounted Kubernetes Secret. env `CLAIMS_PASSWORD_FILE`
    #[serde(deserialize_with = "optional_path::deserialize")]
    pub password_file: Option<PathBuf>,
    /// The compacted topic of claim changes (key = claim_id, value = the claim
    /// as JSON, a tombstone deletes); `off` (or empty) applies none. A Kafka-mode
    /// host applies it when the topic exists. env `CLAIMS_CHANGELOG_TOPIC`
    pub changelog_topic: String,
    /// How the changelog's records are written: `enricher` (ours, `claims
    /// publish`) or `debezium` (Debezium's JSON change events, with or without
    /// the schema wrapper). env `CLAIMS_CHANGELOG_FORMAT`
    pub changelog_format: ChangelogFormat,
    /// A changelog record that is no valid change: `skip` it (logged with its
    /// partition and offset, counted as rejected) or `stop` applying there
    /// until the host is restarted. env `CLAIMS_BAD_CHANGE`
    pub bad_change: BadChange,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            url: None,
            password: None,
            password_file: None,
            changelog_topic: "claims-changelog".into(),
            changelog_format: ChangelogFormat::Enricher,
            bad_change: BadChange::Skip,
        }
    }
}

/// The record format of the claims changelog.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum ChangelogFormat {
    /// Ours: key = claim_id, value = the claim as JSON, a tombstone deletes.
    Enricher,
    /// Debezium's change events (`op`, `before`, `after`, `source.ts_ms`).
    Debezium,
}

impl FromStr for ChangelogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "enricher" => Ok(Self::Enricher),
            "debezium" => Ok(Self::Debezium),
            _ => Err("expected enricher or debezium".into()),
        }
    }
}

impl TryFrom<String> for ChangelogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// What the changelog's reader does with a record that is no valid change.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum BadChange {
    /// Log it with its partition and offset, count it, go on (the default).
    Skip,
    /// Apply everything before it, then stop reading until a restart.
    Stop,
}

impl FromStr for BadChange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(Self::Skip),
            "stop" => Ok(Self::Stop),
            _ => Err("expected stop or skip".into()),
        }
    }
}

impl TryFrom<String> for BadChange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// Where the lookup reads claims: resolved from `claims.url`, else `duckdb.url`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimsSource {
    /// A DuckDB file (`None`: in memory, which holds no claims).
    DuckDb(Option<PathBuf>),
    /// A table in PostgreSQL, looked up directly.
    Postgres(PostgresTarget),
}

impl ClaimsConfig {
    /// The changelog topic, or `None` when it is off.
    pub fn changelog(&self) -> Option<&str> {
        let topic = self.changelog_topic.trim();
        (!topic.is_empty()
            && !topic.eq_ignore_ascii_case("off")
            && !topic.eq_ignore_ascii_case("none"))
        .then_some(topic)
    }

    /// The URL `claims.url` gives, if set.
    pub(super) fn given_url(&self) -> Option<&str> {
        self.url.as_deref().map(str::trim).filter(|u| !u.is_empty())
    }

    /// Where claims are read from, `duckdb_url` when `claims.url` is unset.
    /// A PostgreSQL URL gets its password from the URL, `claims.password` or
    /// `claims.password-file` (one of them at most).
    pub(super) fn source(&self, duckdb_url: &str) -> Result<ClaimsSource, ConfigError> {
        let (key, url) = match self.given_url() {
            Some(url) => ("claims.url", url),
            None => ("duckdb.url", duckdb_url),
        };
        if !is_postgres_url(url) {
            return parse_duckdb_url(url).map(ClaimsSource::DuckDb);
        }
        let mut target = PostgresTarget::parse(url).map_err(|why| invalid(key, &why))?;
        let given = self
            .password
            .as_ref()
            .map(|p| p.0.trim().to_owned())
            .filter(|p| !p.is_empty());
        let sources = [
            target.password.is_some(),
            given.is_some(),
            self.password_file.is_some(),
        ];
        if sources.iter().filter(|&&s| s).count() > 1 {
            return Err(invalid(
                "claims.password",
                "the PostgreSQL password is given twice: set it in the URL, CLAIMS_PASSWORD \
                 or CLAIMS_PASSWORD_FILE, one of them",
            ));
        }
        if let Some(password) = given {
            target.password = Some(Secret(password));
        } else if let Some(path) = &self.password_file {
            target.password = Some(Secret(read_password(path)?));
        }
        Ok(ClaimsSource::Postgres(target))
    }
}

fn read_password(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(
            "claims.password-file",
            &format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let password = text.trim();
    if password.is_empty() {
        return Err(invalid(
            "claims.password-file",
            &format!("{} is empty", path.display()),
        ));
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres(config: &ClaimsConfig, duckdb_url: &str) -> PostgresTarget {
        match config.source(duckdb_url).expect("valid") {
            ClaimsSource::Postgres(target) => target,
            other => panic!("not PostgreSQL: {other:?}"),
        }
    }

    #[test]
    fn the_url_comes_from_claims_url_over_duckdb_url_and_either_may_name_postgres() {
        let config = ClaimsConfig::default();
        assert_eq!(
            config.source("claims.duckdb").expect("valid"),
            ClaimsSource::DuckDb(Some(PathBuf::from("claims.duckdb")))
        );
        let target = postgres(&config, "postgres://svc@db:5433/pay?table=claims");
        assert_eq!((target.host.as_str(), target.port), ("db", 5433));
        let config = ClaimsConfig {
            url: Some("postgresql://svc@db/pay?table=public.claims".into()),
            ..ClaimsConfig::default()
        };
        let target = postgres(&config, "claims.duckdb");
        assert_eq!(target.table, "public.claims");
        let local = ClaimsConfig {
            url: Some("/data/claims.duckdb".into()),
            ..ClaimsConfig::default()
        };
        assert_eq!(
            local.source("ignored.duckdb").expect("valid"),
            ClaimsSource::DuckDb(Some(PathBuf::from("/data/claims.duckdb")))
        );
    }

    #[test]
    fn the_password_comes_from_one_place() {
        let dir = std::env::temp_dir().join(format!("claims-password-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("password");
        std::fs::write(&file, "from-file\n").expect("write");
        let url = "postgres://svc@db/pay";
        let with_file = ClaimsConfig {
            password_file: Some(file.clone()),
            ..ClaimsConfig::default()
        };
        let password = |t: PostgresTarget| t.password.map(|p| p.0);
        assert_eq!(
            password(postgres(&with_file, url)).as_deref(),
            Some("from-file")
        );
        let with_env = ClaimsConfig {
            password: Some(Secret("from-env".into())),
            ..ClaimsConfig::default()
        };
        assert_eq!(
            password(postgres(&with_env, url)).as_deref(),
            Some("from-env")
        );
        let twice = with_env
            .source("postgres://svc:inurl@db/pay")
            .expect_err("twice");
        assert!(twice.to_string().contains("given twice"), "{twice}");
        assert!(!twice.to_string().contains("inurl"), "{twice}");
        let missing = ClaimsConfig {
            password_file: Some(dir.join("nope")),
            ..ClaimsConfig::default()
        };
        let err = missing.source(url).expect_err("no file");
        assert!(err.to_string().contains("CLAIMS_PASSWORD_FILE"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn format_and_policy_take_their_names_in_any_case() {
        assert_eq!("Debezium".parse(), Ok(ChangelogFormat::Debezium));
        assert_eq!(" enricher ".parse(), Ok(ChangelogFormat::Enricher));
        assert!("avro".parse::<ChangelogFormat>().is_err());
        assert_eq!("STOP".parse(), Ok(BadChange::Stop));
        assert_eq!(ClaimsConfig::default().bad_change, BadChange::Skip);
        assert!("halt".parse::<BadChange>().is_err());
    }
}
