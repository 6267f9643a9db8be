//! Kafka mode's host: the pipeline following a deployer that reads the
//! fleet's plugin topic first (a late host starts on the fleet's version),
//! the claims changelog, the plugin directory watcher and the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::StartError;
use super::admin::admin_options;
use super::claims::{open_changelog_lookup, open_lookup};
use super::plugin::{plugin_bytes, startup_trust};
use crate::admin::{AdminOptions, AdminServer, ClaimsAdmin, Observed, check_bind};
use crate::changelog::{ChangelogApplier, Publisher};
use crate::config::Config;
use crate::deploy::{
    Deployer, DirWatcher, Fleet, FleetPublisher, FleetWatcher, LocalOnly, PluginAdmin,
    canaries_from_file, default_canaries,
};
use crate::error::ConfigError;
use crate::health::{Health, Source, StoreProbe};
use crate::pipeline::Pipeline;
use crate::runtime::PluginEngine;

/// How long a starting host may take to read the fleet's plugin topic.
const FLEET_CATCH_UP: Duration = Duration::from_secs(60);
/// How long a deploy waits for the stream to reach a commit boundary and swap.
const WAIT_LIVE: Duration = Duration::from_secs(5);

/// A Kafka-mode host: the pipeline following a deployer, the fleet topic's
/// watcher and the admin API. Dropping it stops the latter two.
pub struct KafkaHost {
    pub pipeline: Pipeline,
    pub deployer: Arc<Deployer>,
    /// What the probes answer; the stream loop publishes to it.
    pub health: Health,
    admin: Option<AdminServer>,
    /// Applies the claims changelog (stopped on drop).
    changelog: Option<ChangelogApplier>,
    _watcher: Option<FleetWatcher>,
    _dir_watcher: Option<DirWatcher>,
}

impl KafkaHost {
    /// Where the admin API listens, if it does.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// Whether this host applies the claims changelog.
    pub fn applies_changelog(&self) -> bool {
        self.changelog.is_some()
    }
}

/// Build a Kafka-mode host: read the fleet topic first (a late host starts on
/// the fleet's version), then serve the admin API.
pub fn build_kafka_host(config: &Config) -> Result<KafkaHost, StartError> {
    // Refuse an open admin API (or an unreadable token) before connecting to anything.
    let admin_options = match config.deploy.admin_bind {
        Some(addr) => {
            let options = admin_options(config)?;
            check_bind(addr, &options)?;
            Some((addr, options))
        }
        None => None,
    };
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let (source, bytes) = plugin_bytes(config)?;
    let trust = startup_trust(config, &bytes)?;
    let initial = engine.load_bytes(&source, &bytes)?;
    let (lookup, changelog) = match open_changelog_lookup(config)? {
        Some((lookup, applier)) => (lookup, Some(applier)),
        None => (open_lookup(config)?, None),
    };
    let probe_lookup = Arc::clone(&lookup);
    let probe: StoreProbe = Arc::new(move || probe_lookup.ping());
    let health = Health::new(Source::Kafka, config.kafka.liveness_timeout, Some(probe));
    let canaries = match &config.deploy.canary_file {
        Some(path) => canaries_from_file(path).map_err(ConfigError::Invalid)?,
        None => default_canaries(),
    };
    let publisher = match config.deploy.fleet_topic(&config.kafka.group_id) {
        Some(topic) => Some(Arc::new(FleetPublisher::connect(
            &config.kafka,
            &topic,
            config.deploy.topic_shape(),
        )?)),
        None => None,
    };
    let fleet: Arc<dyn Fleet> = match &publisher {
        Some(publisher) => Arc::clone(publisher) as Arc<dyn Fleet>,
        None => Arc::new(LocalOnly),
    };
    let deployer = Arc::new(
        Deployer::new(
            engine,
            initial,
            &bytes,
            Arc::clone(&lookup),
            canaries,
            &config.deploy,
            fleet,
        )
        .answer_when_live(WAIT_LIVE)
        .trusting(trust.keys)
        .initial_signature(trust.signature.as_deref(), trust.signed_by),
    );
    let watcher = match &publisher {
        Some(publisher) => Some(FleetWatcher::start(
            &config.kafka,
            Arc::clone(&deployer),
            publisher,
            FLEET_CATCH_UP,
        )?),
        None => None,
    };
    watch_internal_topics(&health, changelog.as_ref(), watcher.as_ref());
    // The deployer always holds an active plugin (the initial one at least).
    health.set_plugin_loaded(true);
    let pipeline = Pipeline::following(deployer.feed(), lookup, config.pipeline.max_record_bytes);
    let admin = match admin_options {
        Some((addr, options)) => {
            let api: Arc<dyn PluginAdmin> = Arc::clone(&deployer) as Arc<dyn PluginAdmin>;
            let (token, tls) = (options.access.has_token(), options.tls.is_some());
            let observed = Observed {
                meter: Arc::clone(pipeline.meter()),
                lookup: Arc::clone(pipeline.lookup()),
                plugins: Arc::clone(&api),
                mode: "kafka",
            };
            let options = AdminOptions {
                health: health.clone(),
                observed: Some(observed),
                claims: changelog_publisher(config),
                ..options
            };
            let server = AdminServer::start(addr, api, options)?;
            tracing::info!(addr = %server.local_addr(), token, tls, "admin API listening");
            Some(server)
        }
        None => None,
    };
    let dir_watcher = match &config.deploy.watch_dir {
        Some(dir) => Some(
            DirWatcher::start(dir.clone(), Arc::clone(&deployer), Duration::from_secs(1))
                .map_err(|e| ConfigError::Invalid(format!("deploy.watch-dir: {e}")))?,
        ),
        None => None,
    };
    Ok(KafkaHost {
        pipeline,
        deployer,
        health,
        admin,
        changelog,
        _watcher: watcher,
        _dir_watcher: dir_watcher,
    })
}

/// Readiness names a claims changelog that cannot be read or applied, and a
/// plugin topic that cannot be followed (each gone topic is recreated by its
/// own thread; these say why while that fails).
fn watch_internal_topics(
    health: &Health,
    changelog: Option<&ChangelogApplier>,
    fleet: Option<&FleetWatcher>,
) {
    if let Some(applier) = changelog {
        let progress = Arc::clone(applier.progress());
        health.add_check(Arc::new(move || {
            let status = progress.snapshot();
            status.read_error.or(status
                .last_error
                .map(|e| format!("claims changelog {}: {e}", status.source)))
        }));
    }
    if let Some(fleet) = fleet {
        let problem = fleet.problem_handle();
        health.add_check(Arc::new(problem));
    }
}

/// What a Kafka-mode host's `POST /v1/claims` does: publish to the claims
/// changelog (every host applies it, this one too); none when it is off.
fn changelog_publisher(config: &Config) -> Option<Arc<dyn ClaimsAdmin>> {
    let topic = config.claims.changelog()?;
    match Publisher::connect(&config.kafka, topic) {
        Ok(publisher) => Some(Arc::new(publisher)),
        Err(error) => {
            tracing::warn!(topic, %error, "POST /v1/claims will answer 409: no producer for the claims changelog");
            None
        }
    }
}
