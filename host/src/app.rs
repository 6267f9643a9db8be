//! Wiring shared by the commands: config → claims lookup → plugin → pipeline,
//! and for Kafka mode the deployer, the fleet topic and the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::deploy::admin::{AdminServer, Observed};
use crate::deploy::{
    Deployer, DirWatcher, FixedPlugin, Fleet, FleetPublisher, FleetWatcher, LocalOnly, PluginAdmin,
    canaries_from_file, default_canaries,
};
use crate::error::{ConfigError, PluginError, StoreError};
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
    #[error("cannot serve the admin API on {addr}: {error} (set ENRICHER_ADMIN_BIND, or `off`)")]
    Admin {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

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

/// The component bytes the config names, or those of the plugin built with the host.
pub fn plugin_bytes(config: &Config) -> Result<(String, Vec<u8>), StartError> {
    match &config.plugin.path {
        Some(path) => Ok((path.display().to_string(), read_component(path)?)),
        None => Ok(("built-in".into(), DEFAULT_PLUGIN.to_vec())),
    }
}

/// The plugin the config names, or the one built with the host.
pub fn load_plugin(engine: &PluginEngine, config: &Config) -> Result<Plugin, StartError> {
    let (source, bytes) = plugin_bytes(config)?;
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

/// File mode: serve `/metrics`, the status page and the plugin's identity
/// (deploys are refused) on `deploy.admin-bind`, if set. A port already in
/// use is a warning, not a failed run: a file job does not need the API.
pub fn serve_file_admin(config: &Config, pipeline: &Pipeline) -> Option<AdminServer> {
    let addr = config.deploy.admin_bind?;
    let (_, bytes) = plugin_bytes(config).ok()?;
    let plugins = Arc::new(FixedPlugin::new(
        pipeline.plugin(),
        &bytes,
        Arc::clone(pipeline.meter()),
    ));
    let observed = Observed {
        meter: Arc::clone(pipeline.meter()),
        lookup: Arc::clone(pipeline.lookup()),
        plugins: Arc::clone(&plugins) as Arc<dyn PluginAdmin>,
        mode: "file",
    };
    match AdminServer::start_observed(addr, plugins, Some(observed)) {
        Ok(server) => {
            tracing::info!(addr = %server.local_addr(), "admin API (metrics, status page) listening");
            Some(server)
        }
        Err(error) => {
            tracing::warn!(%addr, %error, "no admin API for this file run (set ENRICHER_ADMIN_BIND, or `off`)");
            None
        }
    }
}

/// A Kafka-mode host: the pipeline following a deployer, the fleet topic's
/// watcher and the admin API. Dropping it stops the latter two.
pub struct KafkaHost {
    pub pipeline: Pipeline,
    pub deployer: Arc<Deployer>,
    admin: Option<AdminServer>,
    _watcher: Option<FleetWatcher>,
    _dir_watcher: Option<DirWatcher>,
}

impl KafkaHost {
    /// Where the admin API listens, if it does.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }
}

/// Build a Kafka-mode host: read the fleet topic first (a late host starts on
/// the fleet's version), then serve the admin API.
pub fn build_kafka_host(config: &Config) -> Result<KafkaHost, StartError> {
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let (source, bytes) = plugin_bytes(config)?;
    let initial = engine.load_bytes(&source, &bytes)?;
    let lookup = open_lookup(config)?;
    let canaries = match &config.deploy.canary_file {
        Some(path) => canaries_from_file(path).map_err(ConfigError::Invalid)?,
        None => default_canaries(),
    };
    let publisher = match config.deploy.fleet_topic(&config.kafka.group_id) {
        Some(topic) => Some(Arc::new(FleetPublisher::connect(&config.kafka, &topic)?)),
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
        .answer_when_live(WAIT_LIVE),
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
    let pipeline = Pipeline::following(deployer.feed(), lookup, config.pipeline.max_record_bytes);
    let admin = match config.deploy.admin_bind {
        Some(addr) => {
            let api: Arc<dyn PluginAdmin> = Arc::clone(&deployer) as Arc<dyn PluginAdmin>;
            let observed = Observed {
                meter: Arc::clone(pipeline.meter()),
                lookup: Arc::clone(pipeline.lookup()),
                plugins: Arc::clone(&api),
                mode: "kafka",
            };
            let server = AdminServer::start_observed(addr, api, Some(observed))
                .map_err(|error| StartError::Admin { addr, error })?;
            tracing::info!(addr = %server.local_addr(), "admin API listening");
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
        admin,
        _watcher: watcher,
        _dir_watcher: dir_watcher,
    })
}
