//! The claims part of the configuration: the changelog topic every host
//! applies while it runs (see `changelog`).

use serde::{Deserialize, Serialize};

/// Environment variable of each claims setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[("CLAIMS_CHANGELOG_TOPIC", "claims.changelog-topic")];

/// Keeping claims fresh while hosts run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClaimsConfig {
    /// The compacted topic of claim changes (key = claim_id, value = the claim
    /// as JSON, a tombstone deletes); `off` (or empty) applies none. A Kafka-mode
    /// host applies it when the topic exists. env `CLAIMS_CHANGELOG_TOPIC`
    pub changelog_topic: String,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            changelog_topic: "claims-changelog".into(),
        }
    }
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
}
