//! Where deployments and rollbacks go besides this host: the fleet. A
//! [`Fleet`] is passed to the deployer; the Kafka topic implementation is in
//! `fleet_kafka`, and [`LocalOnly`] is the fleet of one (file mode, tests,
//! `deploy.topic = off`).

/// Publishes versions and activations so every host of the fleet follows.
pub trait Fleet: Send + Sync {
    /// The shared channel's name (the topic), or `None` for a fleet of one.
    fn topic(&self) -> Option<&str>;
    /// Publish a version's bytes under `key` with its signature (base64),
    /// acknowledged before returning.
    fn publish_plugin(
        &self,
        key: &str,
        name: Option<&str>,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<(), String>;
    /// Publish the activation history every host should follow.
    fn publish_active(&self, history: &[String], reason: &str) -> Result<(), String>;
}

/// A fleet of one host: nothing to publish.
pub struct LocalOnly;

impl Fleet for LocalOnly {
    fn topic(&self) -> Option<&str> {
        None
    }

    fn publish_plugin(
        &self,
        _: &str,
        _: Option<&str>,
        _: &[u8],
        _: Option<&str>,
    ) -> Result<(), String> {
        Ok(())
    }

    fn publish_active(&self, _: &[String], _: &str) -> Result<(), String> {
        Ok(())
    }
}
