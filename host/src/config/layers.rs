//! The layering of the configuration with `figment`: a base (the built-in
//! defaults), the TOML file, the environment, then flags, each later layer
//! winning. Environment names come from the `ENV` table of each section, so a
//! setting's name is declared once; errors name the setting and what is valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::Serialize;

use super::{Config, admin, claims, deploy, kafka, lookup, observe, plugin};
use crate::error::ConfigError;

/// Every setting that has an environment variable: (name, key in the file).
pub(super) fn env_table() -> impl Iterator<Item = (&'static str, &'static str)> {
    [
        super::ENV,
        lookup::ENV,
        plugin::ENV,
        kafka::ENV,
        deploy::ENV,
        admin::ENV,
        claims::ENV,
        observe::ENV,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// The environment variable of the setting at file key `key`, if it has one.
pub(super) fn env_name(key: &str) -> Option<&'static str> {
    env_table().find(|&(_, k)| k == key).map(|(name, _)| name)
}

/// A refused setting, named by its file key and its environment variable.
pub(super) fn invalid(key: &str, why: &str) -> ConfigError {
    match env_name(key) {
        Some(name) => ConfigError::Invalid(format!("{key} ({name}): {why}")),
        None => ConfigError::Invalid(format!("{key}: {why}")),
    }
}

pub(super) const ENV_SOURCE: &str = "environment variable";
/// The metadata name of a value a command-line flag set.
pub(super) const FLAG_SOURCE: &str = "command-line flag";

/// One setting read from the environment: (name, file key, trimmed value).
type EnvVar = (&'static str, &'static str, String);

/// The layers of one configuration, later ones winning; `extract` resolves them.
pub struct Layers {
    figment: Figment,
    env: Vec<EnvVar>,
    /// The variable that set each librdkafka property (`sasl.password` ->
    /// `KAFKA_SASL_PASSWORD`), for `config check`.
    property_env: BTreeMap<String, String>,
}

impl Layers {
    /// Start from `base`: the built-in defaults, or a config resolved earlier.
    pub fn new(base: &Config) -> Self {
        Self {
            figment: Figment::from(Serialized::defaults(base.clone())),
            env: Vec::new(),
            property_env: BTreeMap::new(),
        }
    }

    /// The TOML file at `path`.
    pub fn file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        self.toml(path, &text)
    }

    /// TOML text read from `path`. It is checked on its own first, so unknown keys
    /// and bad values are reported with their line, as `ConfigError::Parse`.
    pub(super) fn toml(mut self, path: &Path, text: &str) -> Result<Self, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        };
        toml::from_str::<Config>(text).map_err(parse_error)?;
        let table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        self.figment = self.figment.merge(TomlFile {
            path: path.to_owned(),
            table,
        });
        Ok(self)
    }

    /// The environment, asked through `env` for each name in the `ENV` tables.
    /// Values are trimmed; numbers and `true`/`false` (also `yes`/`no`, `on`/`off`,
    /// `1`/`0`) are read from their text.
    pub fn env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        let vars: Vec<EnvVar> = env_table()
            .filter_map(|(name, key)| env(name).map(|v| (name, key, v.trim().to_owned())))
            .collect();
        self.figment = self.figment.merge(EnvVars(vars.clone()));
        self.env.extend(vars);
        self
    }

    /// librdkafka properties from the environment (`KAFKA_SASL_USERNAME`,
    /// `KAFKA_SASL_PASSWORD`, `KAFKA_PROPERTY_<KEY>`), over the file's
    /// `[kafka.properties]`; the other variables in `vars` are ignored.
    pub fn env_properties(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut properties = Dict::new();
        for (name, value) in vars {
            if let Some(key) = kafka::property_of_env(&name) {
                properties.insert(key.clone(), Value::from(value.trim().to_owned()));
                self.property_env.insert(key, name);
            }
        }
        if !properties.is_empty() {
            let mut kafka = Dict::new();
            kafka.insert("properties".into(), Value::from(properties));
            let mut root = Dict::new();
            root.insert("kafka".into(), Value::from(kafka));
            self.figment = self.figment.merge(EnvProperties(root));
        }
        self
    }

    /// One setting by its file key (`duckdb.url`), given by `flag` (`--db`):
    /// the last layer, and `config check` says which flag set it.
    pub fn flag(
        mut self,
        key: &str,
        flag: &'static str,
        value: impl Serialize,
    ) -> Result<Self, ConfigError> {
        let value =
            Value::serialize(value).map_err(|e| ConfigError::Invalid(format!("{flag}: {e}")))?;
        let mut root = Dict::new();
        insert(&mut root, key, value);
        self.figment = self.figment.merge(Flag { flag, root });
        Ok(self)
    }

    /// The layered values and where each came from (see `sources`).
    pub(super) fn figment(&self) -> &Figment {
        &self.figment
    }

    /// The variable that set librdkafka property `property`, if one did.
    pub(super) fn property_env(&self, property: &str) -> Option<&str> {
        self.property_env.get(property).map(String::as_str)
    }

    /// One setting by its file key (`lookup.timeout`), the way a flag gives it.
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.figment = self.figment.merge(Serialized::default(key, value));
        self
    }

    /// The configuration the layers make (not yet validated).
    pub fn extract(&self) -> Result<Config, ConfigError> {
        self.figment.extract_lossy().map_err(|e| self.explain(e))
    }

    fn explain(&self, e: figment::Error) -> ConfigError {
        let key = e.path.join(".");
        let what = match &e.kind {
            Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
                match expected.as_str() {
                    "u8" | "u16" | "u32" | "u64" | "usize" => {
                        format!("expected a whole number ({expected})")
                    }
                    "f32" | "f64" => "expected a number".to_owned(),
                    _ => format!("expected {expected}"),
                }
            }
            other => other.to_string(),
        };
        let from_env = e.metadata.as_ref().is_some_and(|m| m.name == ENV_SOURCE);
        match self
            .env
            .iter()
            .rev()
            .find(|(_, k, _)| from_env && *k == key)
        {
            Some((name, _, value)) => ConfigError::Invalid(format!("{name}={value:?}: {what}")),
            None if key.is_empty() => ConfigError::Invalid(what),
            None => invalid(&key, &what),
        }
    }
}

/// The TOML file as a figment layer.
struct TomlFile {
    path: PathBuf,
    table: toml::Table,
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::named("TOML file").source(self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = Value::serialize(&self.table)?
            .into_dict()
            .ok_or_else(|| figment::Error::from("a TOML file is a table"))?;
        Ok(Profile::Default.collect(dict))
    }
}

/// Settings read from the environment as a figment layer; errors name the variable.
struct EnvVars(Vec<EnvVar>);

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE).interpolater(|_: &Profile, path: &[&str]| {
            let key = path.join(".");
            env_name(&key).map_or(key, str::to_owned)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (_, key, value) in &self.0 {
            insert(&mut root, key, Value::from(value.as_str()));
        }
        Ok(Profile::Default.collect(root))
    }
}

/// librdkafka properties read from the environment as a figment layer.
struct EnvProperties(Dict);

impl Provider for EnvProperties {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// A setting given by a command-line flag, as a figment layer.
struct Flag {
    flag: &'static str,
    root: Dict,
}

impl Provider for Flag {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAG_SOURCE).source(Source::Custom(self.flag.to_owned()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.root.clone()))
    }
}

/// Put `value` at dotted `key` (`lookup.timeout`) in `dict`.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CacheMode, DeliveryMode};

    #[test]
    fn every_kind_of_value_comes_from_env_text() {
        let env = |name: &str| {
            let value = match name {
                "DUCKDB_URL" => "jdbc:duckdb:/data/claims.db",
                "DUCKDB_THREADS" => " 4 ",
                "LOOKUP_CACHE" => "LRU",
                "LOOKUP_CACHE_MISSING_KEY" => "false",
                "LOOKUP_CACHE_MISSING_TTL" => "1h 30m",
                "ENRICHER_PLUGIN" => "/p.wasm",
                "ENRICHER_DELIVERY" => "eos",
                "ENRICHER_ROLLBACK_ERROR_RATE" => "0.5",
                "ENRICHER_PLUGIN_WATCH_DIR" => " ",
                "ENRICHER_ADMIN_BIND" => "none",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let c = Layers::new(&Config::default())
            .env(env)
            .extract()
            .expect("valid");
        assert_eq!(
            c.duckdb.path().ok().flatten(),
            Some(PathBuf::from("/data/claims.db"))
        );
        assert_eq!(c.duckdb.threads, Some(4));
        assert_eq!(c.lookup.cache, CacheMode::Partial);
        assert!(!c.lookup.cache_missing_key);
        assert_eq!(c.lookup.cache_missing_ttl.as_secs(), 5400);
        assert_eq!(c.plugin.path, Some(PathBuf::from("/p.wasm")));
        assert_eq!(c.kafka.delivery, DeliveryMode::ExactlyOnce);
        assert_eq!(c.deploy.rollback_error_rate, 0.5);
        assert_eq!((c.deploy.watch_dir, c.deploy.admin_bind), (None, None));
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_with_the_unit_to_add() {
        let env = |name: &str| (name == "LOOKUP_TIMEOUT").then(|| "500".to_string());
        let err = Layers::new(&Config::default())
            .env(env)
            .extract()
            .expect_err("a bare number");
        assert_eq!(
            err.to_string(),
            "invalid setting LOOKUP_TIMEOUT=\"500\": add a unit, e.g. 500ms or 500s"
        );
        for value in ["500", "\"500\"", "2.5"] {
            let file = format!("[kafka]\ncommit-interval = {value}\n");
            let err = Layers::new(&Config::default())
                .toml(Path::new("c.toml"), &file)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("add a unit, e.g. "), "{value}: {err}");
            assert!(!err.contains("invalid type"), "{value}: {err}");
        }
        let zero = Layers::new(&Config::default())
            .env(|name| (name == "LOOKUP_SERVE_STALE_FOR").then(|| "0".to_string()))
            .extract()
            .expect("zero needs no unit");
        assert!(zero.lookup.serve_stale_for.is_zero());
        let schedule = Layers::new(&Config::default())
            .env(|name| (name == "LOOKUP_RETRY_NOT_FOUND").then(|| "30s,5".to_string()))
            .extract()
            .expect_err("a delay without a unit");
        assert!(
            schedule.to_string().contains("add a unit, e.g. 5ms or 5s"),
            "{schedule}"
        );
    }

    #[test]
    fn kafka_secrets_come_from_env_over_the_file() {
        let file = "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.username\" = \"file\"\n";
        let vars = [
            ("KAFKA_SASL_USERNAME", "svc"),
            ("KAFKA_SASL_PASSWORD", " s3cret "),
            ("KAFKA_PROPERTY_SSL_CA_LOCATION", "/etc/kafka/ca.pem"),
            ("HOME", "/root"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        let c = Layers::new(&Config::default())
            .toml(Path::new("c.toml"), file)
            .expect("valid file")
            .env_properties(vars)
            .extract()
            .expect("valid");
        let p = |k: &str| c.kafka.properties.get(k).map(String::as_str);
        assert_eq!(p("security.protocol"), Some("SASL_SSL"), "file key kept");
        assert_eq!(p("sasl.username"), Some("svc"), "env over file");
        assert_eq!(p("sasl.password"), Some("s3cret"));
        assert_eq!(p("ssl.ca.location"), Some("/etc/kafka/ca.pem"));
        assert_eq!(c.kafka.properties.len(), 4);
    }

    #[test]
    fn errors_name_the_variable_or_the_file_line() {
        let env = |name: &str| (name == "DUCKDB_THREADS").then(|| "many".to_string());
        let err = Layers::new(&Config::default())
            .env(env)
            .extract()
            .expect_err("not a number");
        assert!(
            matches!(&err, ConfigError::Invalid(m) if m.starts_with("DUCKDB_THREADS=\"many\": expected")),
            "{err}"
        );
        let file =
            Layers::new(&Config::default()).toml(Path::new("c.toml"), "[lookup]\ncache-rows = 5\n");
        match file.err() {
            Some(ConfigError::Parse { path, message }) => {
                assert_eq!(path, Path::new("c.toml"));
                assert!(
                    message.contains("cache-rows") && message.contains("line 2"),
                    "{message}"
                );
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        let bad = Layers::new(&Config::default())
            .toml(Path::new("c.toml"), "[deploy]\nadmin-bind = \"x\"");
        assert!(
            bad.err()
                .is_some_and(|e| e.to_string().contains("host:port"))
        );
        let off = Layers::new(&Config::default())
            .toml(Path::new("c.toml"), "[deploy]\nadmin-bind = \"off\"");
        let off = off.and_then(|l| l.extract()).expect("off is valid");
        assert_eq!(off.deploy.admin_bind, None);
    }
}
