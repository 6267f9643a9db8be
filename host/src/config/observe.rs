//! The observing part of the configuration: how often a Kafka-mode run logs
//! its one-line status, and how often long commands print a progress line
//! when stderr is not a terminal (on a terminal they draw a bar instead).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::layers::invalid;
use super::values::duration_text;
use crate::error::ConfigError;

/// Environment variable of each observing setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("ENRICHER_STATUS_INTERVAL", "observe.status-interval"),
    ("ENRICHER_PROGRESS_INTERVAL", "observe.progress-interval"),
];

/// Status and progress lines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObserveConfig {
    /// A Kafka-mode run logs a one-line status (rate, consumer lag, failures
    /// by reason, changelog lag) this often; `off` logs none.
    /// env `ENRICHER_STATUS_INTERVAL`
    #[serde(with = "optional_duration")]
    pub status_interval: Option<Duration>,
    /// Long commands (`generate`, `claims load`, `claims publish`, `run` on a
    /// file, `bench`) print a progress line this often when stderr is not a
    /// terminal. env `ENRICHER_PROGRESS_INTERVAL`
    #[serde(with = "duration_text")]
    pub progress_interval: Duration,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        Self {
            status_interval: Some(Duration::from_secs(30)),
            progress_interval: Duration::from_secs(5),
        }
    }
}

impl ObserveConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.status_interval.is_some_and(|d| d.is_zero()) {
            return Err(invalid(
                "observe.status-interval",
                "must be positive (or off)",
            ));
        }
        if self.progress_interval < Duration::from_millis(10) {
            return Err(invalid(
                "observe.progress-interval",
                "must be at least 10ms",
            ));
        }
        Ok(())
    }
}

/// Serde glue: a duration as text, where `off`, `none` or empty means none.
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "" | "off" | "none" => Ok(None),
            t => crate::config::parse_duration(t)
                .map(Some)
                .map_err(|why| D::Error::custom(format!("{why}, or off"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::time::Duration;

    #[test]
    fn status_interval_is_a_duration_or_off() {
        let mut c = Config::default();
        assert_eq!(c.observe.status_interval, Some(Duration::from_secs(30)));
        c.apply_env(|n| (n == "ENRICHER_STATUS_INTERVAL").then(|| "off".into()))
            .expect("off");
        assert_eq!(c.observe.status_interval, None);
        c.apply_env(|n| (n == "ENRICHER_STATUS_INTERVAL").then(|| "2s".into()))
            .expect("2s");
        assert_eq!(c.observe.status_interval, Some(Duration::from_secs(2)));
        let err = c
            .apply_env(|n| (n == "ENRICHER_STATUS_INTERVAL").then(|| "often".into()))
            .expect_err("not a duration");
        assert!(
            err.to_string().contains("ENRICHER_STATUS_INTERVAL"),
            "{err}"
        );
        c.observe.status_interval = Some(Duration::ZERO);
        assert!(c.validate().is_err(), "zero is refused: off says it");
    }
}
