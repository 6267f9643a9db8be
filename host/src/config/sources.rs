//! Where each setting of a resolved configuration came from, for `enricher
//! config check`: every key with its effective value (secrets masked) and
//! its layer: the built-in default, the file, an environment variable or a
//! flag. The layer is figment's own record of the value (its `Metadata`), so
//! this says what [`Layers`] did, not what it is thought to do.

use std::fmt;
use std::path::PathBuf;

use figment::Source;
use serde_json::Value;

use super::Config;
use super::layers::{ENV_SOURCE, FLAG_SOURCE, Layers, env_name};
use super::postgres::masked_url;

/// The layer a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// The environment variable's name.
    Env(String),
    /// The flag, such as `--db`.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One setting: its file key, its effective value as text (`***` for a
/// secret, `(unset)` for none) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Tables whose keys are free (and may hold dots): one setting per entry.
const FREE_MAPS: &[&str] = &["kafka.properties", "plugin.params"];

pub use super::admin::MASK;

/// Settings holding a URL that may carry a password (`postgres://u:pw@...`).
const URL_KEYS: &[&str] = &["claims.url", "duckdb.url"];

/// Whether the setting at `key` holds a secret: the admin token, the
/// PostgreSQL password, and any librdkafka property
/// (`kafka.properties."sasl.password"`) whose name says password, secret or
/// key. (A claims URL shows all but its password: see [`shown`].)
pub fn is_secret(key: &str) -> bool {
    if key == "admin.token" || key == "claims.password" {
        return true;
    }
    key.strip_prefix("kafka.properties.")
        .is_some_and(|property| {
            let p = property.to_ascii_lowercase();
            ["password", "secret", "key"].iter().any(|w| p.contains(w))
        })
}

/// The environment variable of the setting at file key `key`, if it has one.
pub fn env_var_of(key: &str) -> Option<&'static str> {
    env_name(key)
}

/// The built-in default of the setting at `key` as text (`claims.duckdb`,
/// `2s`), or `None` when it is unset by default or no such setting exists.
pub fn default_text(key: &str) -> Option<String> {
    let defaults = serde_json::to_value(Config::default()).ok()?;
    let value = key.split('.').try_fold(&defaults, |v, part| v.get(part))?;
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

impl Layers {
    /// Every setting of `config` (resolved from these layers) in file order,
    /// with its origin; secrets are masked.
    pub fn sources(&self, config: &Config) -> Vec<Setting> {
        let mut settings = Vec::new();
        // serde_json keeps every key, an unset option as null.
        let tree = serde_json::to_value(config).unwrap_or(Value::Null);
        self.walk("", &tree, &mut settings);
        settings
    }

    fn walk(&self, prefix: &str, value: &Value, out: &mut Vec<Setting>) {
        match value {
            Value::Object(map) if map.is_empty() => {
                out.push(self.setting(prefix, "{}".to_owned()));
            }
            Value::Object(map) if !FREE_MAPS.contains(&prefix) => {
                for (key, value) in map {
                    let path = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}.{key}"),
                    };
                    self.walk(&path, value, out);
                }
            }
            // Free-form tables (librdkafka properties, plugin parameters):
            // keys may hold dots, so each is quoted, as in TOML.
            Value::Object(map) => {
                for (name, value) in map {
                    let key = format!("{prefix}.{name:?}");
                    let origin = self.entry_origin(prefix, name);
                    out.push(Setting {
                        value: shown(&key, value),
                        key,
                        origin,
                    });
                }
            }
            leaf => out.push(self.setting(prefix, shown(prefix, leaf))),
        }
    }

    fn setting(&self, key: &str, value: String) -> Setting {
        let metadata = self.figment().find_metadata(key);
        Setting {
            key: key.to_owned(),
            value,
            origin: origin(metadata, || env_name(key).map(str::to_owned)),
        }
    }

    /// The origin of entry `name` of the free-form table at `table`.
    fn entry_origin(&self, table: &str, name: &str) -> Origin {
        let metadata = self
            .figment()
            .find_value(table)
            .ok()
            .and_then(|v| v.into_dict())
            .and_then(|dict| dict.get(name).map(figment::value::Value::tag))
            .and_then(|tag| self.figment().get_metadata(tag));
        origin(metadata, || match table {
            "kafka.properties" => self.property_env(name).map(str::to_owned),
            _ => None,
        })
    }
}

/// The origin figment recorded; `env` names the variable of an env value.
fn origin(metadata: Option<&figment::Metadata>, env: impl FnOnce() -> Option<String>) -> Origin {
    let Some(metadata) = metadata else {
        return Origin::Default;
    };
    match (&metadata.source, metadata.name.as_ref()) {
        (Some(Source::File(path)), _) => Origin::File(path.clone()),
        (Some(Source::Custom(flag)), FLAG_SOURCE) => Origin::Flag(flag.clone()),
        (_, ENV_SOURCE) => Origin::Env(env().unwrap_or_else(|| "?".to_owned())),
        _ => Origin::Default,
    }
}

/// A value as `config check` prints it.
fn shown(key: &str, value: &Value) -> String {
    match value {
        Value::Null => "(unset)".to_owned(),
        _ if is_secret(key) => MASK.to_owned(),
        Value::String(url) if URL_KEYS.contains(&key) => Value::String(masked_url(url)).to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn defaults_and_env_names_come_from_the_config() {
        assert_eq!(default_text("duckdb.url").as_deref(), Some("claims.duckdb"));
        assert_eq!(default_text("lookup.timeout").as_deref(), Some("2s"));
        assert_eq!(default_text("lookup.cache").as_deref(), Some("auto"));
        assert_eq!(default_text("plugin.path"), None, "unset by default");
        assert_eq!(default_text("lookup.no-such-key"), None);
        assert_eq!(env_var_of("lookup.cache"), Some("LOOKUP_CACHE"));
    }

    #[test]
    fn each_setting_names_its_layer_and_secrets_are_masked() {
        let file = "[lookup]\ntimeout = \"5s\"\ncache-ttl = \"3min\"\n\
                    [admin]\ntoken = \"file-token-0123456789\"\n\
                    [kafka.properties]\n\"ssl.key.password\" = \"pem-secret\"\n\"client.id\" = \"me\"\n\
                    [plugin.params]\n\"region.code\" = \"eu\"\n";
        let env = |name: &str| (name == "LOOKUP_TIMEOUT").then(|| "6s".to_owned());
        let vars = [("KAFKA_SASL_PASSWORD", "hunter2"), ("HOME", "/root")]
            .map(|(n, v)| (n.to_owned(), v.to_owned()));
        let layers = Layers::new(&Config::default())
            .toml(Path::new("/etc/enricher.toml"), file)
            .expect("valid file")
            .env(env)
            .env_properties(vars)
            .flag("pipeline.batch-size", "--batch-size", 64)
            .expect("serializable");
        let config = layers.extract().expect("valid");
        let settings = layers.sources(&config);
        let find = |key: &str| {
            settings
                .iter()
                .find(|s| s.key == key)
                .unwrap_or_else(|| panic!("{key} not listed: {settings:?}"))
        };
        let file = Origin::File(PathBuf::from("/etc/enricher.toml"));
        assert_eq!(find("lookup.timeout").value, "\"6s\"");
        assert_eq!(
            find("lookup.timeout").origin,
            Origin::Env("LOOKUP_TIMEOUT".into())
        );
        assert_eq!(find("lookup.cache-ttl").value, "\"3m\"");
        assert_eq!(find("lookup.cache-ttl").origin, file);
        assert_eq!(find("duckdb.url").origin, Origin::Default);
        assert_eq!(find("duckdb.threads").value, "(unset)");
        assert_eq!(find("pipeline.batch-size").value, "64");
        assert_eq!(
            find("pipeline.batch-size").origin,
            Origin::Flag("--batch-size".into())
        );
        let token = find("admin.token");
        assert_eq!((token.value.as_str(), &token.origin), (MASK, &file));
        let sasl = find("kafka.properties.\"sasl.password\"");
        assert_eq!(sasl.value, MASK);
        assert_eq!(sasl.origin, Origin::Env("KAFKA_SASL_PASSWORD".into()));
        assert_eq!(find("kafka.properties.\"ssl.key.password\"").value, MASK);
        assert_eq!(find("kafka.properties.\"client.id\"").value, "\"me\"");
        let param = find("plugin.params.\"region.code\"");
        assert_eq!((param.value.as_str(), &param.origin), ("\"eu\"", &file));
        let text = format!("{settings:?}");
        for secret in ["hunter2", "pem-secret", "file-token"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
        // Every setting the defaults hold is listed.
        let defaults = serde_json::to_value(Config::default()).expect("serializes");
        for (section, keys) in defaults.as_object().expect("a table") {
            for key in keys.as_object().expect("a section").keys() {
                let key = format!("{section}.{key}");
                assert!(
                    settings
                        .iter()
                        .any(|s| s.key == key || s.key.starts_with(&format!("{key}."))),
                    "{key} not listed"
                );
            }
        }
    }

    #[test]
    fn a_postgres_password_is_masked_in_the_url_and_in_its_own_setting() {
        let env = |name: &str| {
            let value = match name {
                "CLAIMS_URL" => "postgres://svc:url-secret@db:5432/pay?table=claims",
                "DUCKDB_URL" => "jdbc:postgresql://db/pay?user=svc&password=jdbc-secret",
                "CLAIMS_PASSWORD" => "env-secret",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let layers = Layers::new(&Config::default()).env(env);
        let config = layers.extract().expect("valid");
        let settings = layers.sources(&config);
        let value = |key: &str| {
            settings
                .iter()
                .find(|s| s.key == key)
                .map(|s| s.value.clone())
                .unwrap_or_else(|| panic!("{key} not listed"))
        };
        assert_eq!(
            value("claims.url"),
            "\"postgres://svc:***@db:5432/pay?table=claims\""
        );
        assert_eq!(
            value("duckdb.url"),
            "\"jdbc:postgresql://db/pay?user=svc&password=***\""
        );
        assert_eq!(value("claims.password"), MASK);
        let text = format!("{settings:?}");
        for secret in ["url-secret", "jdbc-secret", "env-secret"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
    }
}
