//! Wiring shared by the commands: config → claims lookup → plugin → pipeline,
//! and for Kafka mode the deployer, the fleet topic and the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::changelog::{ChangelogApplier, ClaimsWriter, Publisher, create_topic, topic_exists};
use crate::config::Config;
use crate::deploy::admin::{
    AdminAccess, AdminOptions, AdminServer, AdminStartError, ClaimsAdmin, Observed, TlsFiles,
    check_bind,
};
use crate::deploy::signature::{SignatureError, TrustedKeys, signature_path};
use crate::deploy::{
    Deployer, DirWatcher, Fleet, FleetPublisher, FleetWatcher, LocalOnly, PluginAdmin,
    canaries_from_file, default_canaries,
};
use crate::error::{ConfigError, PluginError, StoreError};
use crate::health::{Health, Source, StoreProbe};
use crate::kafka::KafkaRunError;
use crate::lookup::{ClaimsLookup, DuckDbStore, FetchError, SchemaError};
use crate::pipeline::Pipeline;
use crate::runtime::{DEFAULT_PLUGIN, Plugin, PluginEngine, read_component};

/// The host could not start a run. Each message says it all: none has a
/// `source()` repeating its last words (`main` prints the whole chain).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("claims store: {0}")]
    Store(StoreError),
    #[error("claims store: {0}")]
    Lookup(String),
    /// `duckdb.url` names no file: an in-memory database never holds claims.
    #[error(
        "duckdb.url (DUCKDB_URL) is {0:?}, an in-memory database, which has no claims table: \
         give the database file `enricher claims load FILE --db PATH` wrote (such as claims.duckdb)"
    )]
    InMemory(String),
    /// The database's claims table is not the one the lookup reads.
    #[error(
        "claims database {db}: {problem}; re-create it with `enricher claims load FILE --db {db}`"
    )]
    Schema { db: String, problem: SchemaError },
    #[error(transparent)]
    Kafka(#[from] KafkaRunError),
    /// A key file of `deploy.trusted-keys` is missing or not a public key.
    #[error("deploy.trusted-keys (ENRICHER_TRUSTED_KEYS): {0}")]
    TrustedKeys(SignatureError),
    /// Signed plugins are required and the `--plugin` file's signature does not verify.
    #[error("plugin {plugin}: {error} (its signature is read from {plugin}.sig)")]
    Unsigned {
        plugin: String,
        error: SignatureError,
    },
    /// Another process (a running host) holds the database file.
    #[error(
        "claims database {db} is in use by another process (a running host?): {error}. \
         With the claims changelog on, each host needs its own DuckDB file (hosts that \
         share one file read-only must set CLAIMS_CHANGELOG_TOPIC=off)"
    )]
    InUse { db: String, error: StoreError },
    #[error(transparent)]
    Admin(#[from] AdminStartError),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

mod file_host;

pub use file_host::{FileHost, build_file_host};

/// How long a starting host may take to read the fleet's plugin topic.
const FLEET_CATCH_UP: Duration = Duration::from_secs(60);
/// How long a deploy waits for the stream to reach a commit boundary and swap.
const WAIT_LIVE: Duration = Duration::from_secs(5);

/// Open the claims database the config names and start the lookup over it.
pub fn open_lookup(config: &Config) -> Result<Arc<ClaimsLookup>, StartError> {
    let Some(path) = config.duckdb.path()? else {
        return Err(StartError::InMemory(config.duckdb.url.clone()));
    };
    let store = DuckDbStore::open(Some(&path), config.duckdb.threads)?;
    // Fail fast on a database without a usable claims table.
    store.check_schema().map_err(|problem| StartError::Schema {
        db: path.display().to_string(),
        problem,
    })?;
    let rows = store.count()?;
    tracing::info!(db = %config.duckdb.url, rows, cache = ?config.lookup.cache, "claims store opened");
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    Ok(Arc::new(lookup))
}

/// How long a starting host waits to apply what the changelog holds.
const CHANGELOG_CATCH_UP: Duration = Duration::from_secs(60);
/// How long a host that created the changelog topic waits to see it.
const CHANGELOG_CREATED_WAIT: Duration = Duration::from_secs(15);

/// Whether a DuckDB error says another process holds the file's lock.
pub fn is_lock_conflict(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("could not set lock") || lower.contains("conflicting lock")
}

/// Create the missing changelog `topic` (compacted, as `claims publish`
/// does) and wait until the broker shows it. `false` when it cannot be
/// created (say the host may not create topics): the host then serves the
/// claims its file holds, and says so.
fn create_changelog(config: &Config, topic: &str) -> Result<bool, StartError> {
    if let Err(error) = create_topic(&config.kafka, topic) {
        tracing::warn!(topic, %error, "no claims changelog topic, and it could not be created: \
            the claims are the ones the file holds (create it with `enricher claims publish`, then restart)");
        return Ok(false);
    }
    let deadline = std::time::Instant::now() + CHANGELOG_CREATED_WAIT;
    while !topic_exists(&config.kafka, topic)? {
        if std::time::Instant::now() >= deadline {
            tracing::warn!(
                topic,
                "created the claims changelog topic, but the broker does not show it yet: \
                the claims are the ones the file holds until a restart"
            );
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    tracing::info!(
        topic,
        "created the claims changelog topic (compacted); this host applies it"
    );
    Ok(true)
}

/// The lookup over this host's own, writable database and the thread that
/// applies the claims changelog into it (Kafka mode; a missing topic is
/// created first, compacted); `None` when the changelog is off or its topic
/// could not be created.
pub fn open_changelog_lookup(
    config: &Config,
) -> Result<Option<(Arc<ClaimsLookup>, ChangelogApplier)>, StartError> {
    let Some(topic) = config.claims.changelog() else {
        return Ok(None);
    };
    if !topic_exists(&config.kafka, topic)? && !create_changelog(config, topic)? {
        return Ok(None);
    }
    let Some(path) = config.duckdb.path()? else {
        return Err(StartError::InMemory(config.duckdb.url.clone()));
    };
    let db = path.display().to_string();
    let (writer, store) = ClaimsWriter::open(&path, config.duckdb.threads).map_err(|error| {
        if is_lock_conflict(&error.to_string()) {
            StartError::InUse {
                db: db.clone(),
                error,
            }
        } else {
            StartError::Store(error)
        }
    })?;
    store.check_schema().map_err(|problem| StartError::Schema {
        db: db.clone(),
        problem,
    })?;
    let rows = store.count()?;
    tracing::info!(db = %db, rows, topic, cache = ?config.lookup.cache, "claims store opened read-write for the changelog");
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    let lookup = Arc::new(lookup);
    let applier = ChangelogApplier::start(
        &config.kafka,
        topic,
        writer,
        Arc::clone(&lookup),
        CHANGELOG_CATCH_UP,
    )?;
    Ok(Some((lookup, applier)))
}

/// The component bytes the config names, or those of the plugin built with the host.
pub fn plugin_bytes(config: &Config) -> Result<(String, Vec<u8>), StartError> {
    match &config.plugin.path {
        Some(path) => Ok((path.display().to_string(), read_component(path)?)),
        None => Ok(("built-in".into(), DEFAULT_PLUGIN.to_vec())),
    }
}

/// The startup plugin's trust: the keys of `deploy.trusted-keys`, the
/// plugin's signature (`<plugin>.sig`, if there is one) and the key it
/// verified under. When keys are configured, a `--plugin` file must verify;
/// the built-in plugin is trusted as part of the binary.
pub struct StartupTrust {
    pub keys: TrustedKeys,
    pub signature: Option<Vec<u8>>,
    pub signed_by: Option<String>,
}

/// Check the startup plugin (`bytes`) against `deploy.trusted-keys`.
pub fn startup_trust(config: &Config, bytes: &[u8]) -> Result<StartupTrust, StartError> {
    let keys = TrustedKeys::load(&config.deploy.trusted_keys).map_err(StartError::TrustedKeys)?;
    let Some(path) = &config.plugin.path else {
        if keys.required() {
            tracing::info!(keys = ?keys.fingerprints(), "signed plugins required; the built-in plugin is trusted as part of the binary");
        }
        return Ok(StartupTrust {
            keys,
            signature: None,
            signed_by: None,
        });
    };
    let signature = std::fs::read(signature_path(path)).ok();
    let signed_by =
        keys.verify(bytes, signature.as_deref())
            .map_err(|error| StartError::Unsigned {
                plugin: path.display().to_string(),
                error,
            })?;
    if let Some(key) = &signed_by {
        tracing::info!(plugin = %path.display(), signed_by = %key, "plugin signature verified");
    }
    Ok(StartupTrust {
        keys,
        signature,
        signed_by,
    })
}

/// The plugin the config names, or the one built with the host.
pub fn load_plugin(engine: &PluginEngine, config: &Config) -> Result<Plugin, StartError> {
    let (source, bytes) = plugin_bytes(config)?;
    startup_trust(config, &bytes)?;
    let plugin = engine.load_bytes(&source, &bytes)?;
    let info = plugin.info();
    tracing::info!(name = %info.name, version = %info.version, source = plugin.source(), "plugin loaded");
    Ok(plugin)
}

/// Everything `enricher run` needs.
pub fn build_pipeline(config: &Config) -> Result<Pipeline, StartError> {
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let plugin = load_plugin(&engine, config)?;
    let lookup = open_lookup(config)?;
    Ok(Pipeline::new(
        plugin,
        lookup,
        config.pipeline.max_record_bytes,
    ))
}

/// The pipeline for file mode, where headers are not kept.
pub fn build_file_pipeline(config: &Config) -> Result<Pipeline, StartError> {
    Ok(build_pipeline(config)?.without_plugin_headers())
}

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

/// Refuse an open admin API (or an unreadable token) before anything else:
/// `run` calls this before it waits for the broker.
pub fn check_admin_settings(config: &Config) -> Result<(), StartError> {
    if let Some(addr) = config.deploy.admin_bind {
        check_bind(addr, &admin_options(config)?)?;
    }
    Ok(())
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

/// The admin API's security settings: its token (read from the file now) and TLS files.
pub fn admin_options(config: &Config) -> Result<AdminOptions, ConfigError> {
    let token = config.admin.token()?;
    Ok(AdminOptions {
        access: AdminAccess::new(token.as_deref(), config.admin.open_reads),
        tls: config.admin.tls().map(|(cert, key)| TlsFiles { cert, key }),
        ..AdminOptions::default()
    })
}
