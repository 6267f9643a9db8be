//! The deployment part of the configuration: the admin API's address, the
//! fleet's plugin topic, the canary self-check, automatic rollback and the
//! keys whose signatures a component must carry.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layers::invalid;
use super::values::{optional_addr, optional_path, path_list};
use crate::error::ConfigError;

/// Environment variable of each deployment setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("ENRICHER_ADMIN_BIND", "deploy.admin-bind"),
    ("ENRICHER_PLUGIN_TOPIC", "deploy.topic"),
    ("ENRICHER_CANARY_FILE", "deploy.canary-file"),
    ("ENRICHER_ROLLBACK_ERROR_RATE", "deploy.rollback-error-rate"),
    ("ENRICHER_ROLLBACK_WINDOW", "deploy.rollback-window"),
    (
        "ENRICHER_ROLLBACK_MIN_RECORDS",
        "deploy.rollback-min-records",
    ),
    ("ENRICHER_PLUGIN_WATCH_DIR", "deploy.watch-dir"),
    ("ENRICHER_TRUSTED_KEYS", "deploy.trusted-keys"),
    (
        "ENRICHER_PLUGIN_TOPIC_PARTITIONS",
        "deploy.topic-partitions",
    ),
    (
        "ENRICHER_PLUGIN_TOPIC_REPLICATION",
        "deploy.topic-replication",
    ),
];

/// How plugin versions are deployed, checked and rolled back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeployConfig {
    /// Where the running host serves its admin HTTP API (`enricher plugin ...`);
    /// `None` (`off`, `none` or empty) serves none. Loopback by default: the API can
    /// replace the code that handles payments. env `ENRICHER_ADMIN_BIND`
    #[serde(with = "optional_addr")]
    pub admin_bind: Option<SocketAddr>,
    /// The compacted topic that holds the fleet's plugins and which one is
    /// active. Empty (the default) means `_enricher.plugins.<group-id>`, so each
    /// consumer group is one fleet; `off` keeps deployments local to this host.
    /// env `ENRICHER_PLUGIN_TOPIC`
    pub topic: String,
    /// Partitions of the fleet topic when the host creates it (an existing
    /// topic is kept as it is). Records all go to partition 0, which keeps
    /// them in order; more partitions only satisfy a cluster's policy.
    /// env `ENRICHER_PLUGIN_TOPIC_PARTITIONS`
    pub topic_partitions: i32,
    /// Replication factor of the fleet topic when the host creates it; use 3
    /// on a production cluster, `-1` for the broker's default.
    /// env `ENRICHER_PLUGIN_TOPIC_REPLICATION`
    pub topic_replication: i32,
    /// JSON lines run through a new version before it goes live; unset uses a
    /// built-in set (a valid event, an unknown claim, bad JSON, a missing field).
    /// env `ENRICHER_CANARY_FILE`
    pub canary_file: Option<PathBuf>,
    /// A new version whose plugin-error rate (traps, batch errors, dropped
    /// records; not business failures) exceeds this is rolled back.
    /// env `ENRICHER_ROLLBACK_ERROR_RATE`
    pub rollback_error_rate: f64,
    /// How many records after a swap are watched for that rate.
    /// env `ENRICHER_ROLLBACK_WINDOW`
    pub rollback_window: u64,
    /// The rate is judged only once this many records were seen (one bad
    /// record in the first ten is no verdict). env `ENRICHER_ROLLBACK_MIN_RECORDS`
    pub rollback_min_records: u64,
    /// Local development: deploy `.wasm` files added to (or changed in) this
    /// folder. Off by default (an empty path too). env `ENRICHER_PLUGIN_WATCH_DIR`
    #[serde(deserialize_with = "optional_path::deserialize")]
    pub watch_dir: Option<PathBuf>,
    /// Public key files (ed25519, PEM) of who may sign plugins. When any is
    /// given, this host runs only components whose signature verifies under
    /// one of them, however they arrive (admin API, fleet topic, watched
    /// folder, `--plugin`). Empty (the default): signatures are not checked.
    /// A list in the file; comma-separated in env `ENRICHER_TRUSTED_KEYS`.
    #[serde(deserialize_with = "path_list::deserialize")]
    pub trusted_keys: Vec<PathBuf>,
}

/// The shape of a topic to create: partitions and replication factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicShape {
    pub partitions: i32,
    pub replication: i32,
}

/// The admin API's default address.
pub const DEFAULT_ADMIN_BIND: &str = "127.0.0.1:9464";

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            admin_bind: DEFAULT_ADMIN_BIND.parse().ok(),
            topic: String::new(),
            topic_partitions: 1,
            topic_replication: 1,
            canary_file: None,
            rollback_error_rate: 0.05,
            rollback_window: 10_000,
            rollback_min_records: 100,
            watch_dir: None,
            trusted_keys: Vec::new(),
        }
    }
}

impl DeployConfig {
    /// The fleet topic of consumer group `group`, or `None` when deployments are local.
    pub fn fleet_topic(&self, group: &str) -> Option<String> {
        match self.topic.trim() {
            "off" | "none" => None,
            "" => Some(format!("_enricher.plugins.{group}")),
            topic => Some(topic.to_owned()),
        }
    }

    /// How the fleet topic is created.
    pub fn topic_shape(&self) -> TopicShape {
        TopicShape {
            partitions: self.topic_partitions,
            replication: self.topic_replication,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.topic_partitions < 1 {
            return Err(invalid("deploy.topic-partitions", "must be at least 1"));
        }
        if self.topic_replication < 1 && self.topic_replication != -1 {
            return Err(invalid(
                "deploy.topic-replication",
                "must be at least 1 (or -1 for the broker's default)",
            ));
        }
        if !(0.0..=1.0).contains(&self.rollback_error_rate) {
            return Err(invalid(
                "deploy.rollback-error-rate",
                "must be between 0 and 1",
            ));
        }
        if self.rollback_min_records == 0 {
            return Err(invalid("deploy.rollback-min-records", "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn admin_can_be_turned_off_and_moved() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "ENRICHER_ADMIN_BIND").then(|| "off".to_owned()))
            .expect("valid setting");
        assert_eq!(c.deploy.admin_bind, None);
        c.apply_env(|k| (k == "ENRICHER_ADMIN_BIND").then(|| "0.0.0.0:1234".to_owned()))
            .expect("valid setting");
        assert_eq!(c.deploy.admin_bind, "0.0.0.0:1234".parse().ok());
        let err = c.apply_env(|k| (k == "ENRICHER_ADMIN_BIND").then(|| "nowhere".to_owned()));
        assert!(
            err.expect_err("refused")
                .to_string()
                .contains("ENRICHER_ADMIN_BIND")
        );
    }

    #[test]
    fn each_group_is_its_own_fleet_unless_told_otherwise() {
        let mut c = DeployConfig::default();
        assert_eq!(c.fleet_topic("g1").as_deref(), Some("_enricher.plugins.g1"));
        c.topic = "shared-plugins".into();
        assert_eq!(c.fleet_topic("g1").as_deref(), Some("shared-plugins"));
        c.topic = "off".into();
        assert_eq!(c.fleet_topic("g1"), None);
    }

    #[test]
    fn trusted_keys_are_a_list_in_the_file_and_comma_separated_in_env() {
        let mut c = Config::default();
        assert!(c.deploy.trusted_keys.is_empty(), "off by default");
        c.apply_env(|k| (k == "ENRICHER_TRUSTED_KEYS").then(|| " a.pub, /k/b.pub ,".to_owned()))
            .expect("valid setting");
        let want: Vec<PathBuf> = vec!["a.pub".into(), "/k/b.pub".into()];
        assert_eq!(c.deploy.trusted_keys, want);
        let file = crate::config::Layers::new(&Config::default())
            .toml(
                std::path::Path::new("c.toml"),
                "[deploy]\ntrusted-keys = [\"a.pub\", \"/k/b.pub\"]\n",
            )
            .and_then(|l| l.extract())
            .expect("a list in the file");
        assert_eq!(file.deploy.trusted_keys, want);
    }

    #[test]
    fn trusted_keys_set_to_nothing_are_refused_not_off() {
        for given in ["", ",", " , ,", "  "] {
            let mut c = Config::default();
            let err = c
                .apply_env(|k| (k == "ENRICHER_TRUSTED_KEYS").then(|| given.to_owned()))
                .expect_err(given);
            let err = err.to_string();
            assert!(err.contains("ENRICHER_TRUSTED_KEYS"), "{given:?}: {err}");
            assert!(err.contains("names nothing"), "{given:?}: {err}");
        }
        for toml in ["trusted-keys = \"\"\n", "trusted-keys = [\"\", \" \"]\n"] {
            let text = format!("[deploy]\n{toml}");
            let err = crate::config::Layers::new(&Config::default())
                .toml(std::path::Path::new("c.toml"), &text)
                .and_then(|l| l.extract())
                .expect_err(toml);
            let err = err.to_string();
            assert!(
                err.contains("trusted-keys") && err.contains("names nothing"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_fleet_topic_shape_is_configurable() {
        let mut c = Config::default();
        assert_eq!(
            c.deploy.topic_shape(),
            TopicShape {
                partitions: 1,
                replication: 1
            }
        );
        c.apply_env(|k| match k {
            "ENRICHER_PLUGIN_TOPIC_PARTITIONS" => Some("3".to_owned()),
            "ENRICHER_PLUGIN_TOPIC_REPLICATION" => Some("3".to_owned()),
            _ => None,
        })
        .expect("valid settings");
        assert_eq!(
            c.deploy.topic_shape(),
            TopicShape {
                partitions: 3,
                replication: 3
            }
        );
        c.deploy.topic_replication = 0;
        let err = c.deploy.validate().expect_err("refused").to_string();
        assert!(err.contains("ENRICHER_PLUGIN_TOPIC_REPLICATION"), "{err}");
    }

    #[test]
    fn rollback_rate_is_a_fraction() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "ENRICHER_ROLLBACK_ERROR_RATE").then(|| "1.5".to_owned()))
            .expect("valid setting");
        assert!(
            c.deploy
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("rollback-error-rate")
        );
    }
}
