//! File mode's host: the pipeline and, when asked (`ENRICHER_ADMIN_BIND`),
//! the admin API, over this host's DuckDB file opened read-write so that
//! `POST /v1/claims` can change it (on the `claims-apply` thread of
//! `changelog::LocalClaims`; the stream never waits for it).

use std::net::SocketAddr;
use std::sync::Arc;

use super::{
    StartError, admin_options, build_file_pipeline, check_admin_settings, is_lock_conflict,
    load_plugin, open_lookup, plugin_bytes,
};
use crate::admin::{AdminOptions, AdminServer, ClaimsAdmin, Observed};
use crate::changelog::{ClaimsWriter, LocalClaims};
use crate::config::Config;
use crate::deploy::{FixedPlugin, PluginAdmin};
use crate::health::{Health, Source, StoreProbe};
use crate::lookup::{ClaimsLookup, FetchError};
use crate::pipeline::Pipeline;
use crate::runtime::PluginEngine;

/// A file-mode host: the pipeline, and when asked the admin API (metrics,
/// the status page, the plugin's identity, and `POST /v1/claims` applied into
/// this host's DuckDB file on its `claims-apply` thread).
pub struct FileHost {
    pub pipeline: Pipeline,
    admin: Option<AdminServer>,
    /// Applies `POST /v1/claims` (stopped on drop, after the admin API).
    claims: Option<Arc<LocalClaims>>,
}

impl FileHost {
    /// Where the admin API listens, if it does.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// Whether `POST /v1/claims` is applied into this host's database.
    pub fn takes_claims(&self) -> bool {
        self.claims.is_some()
    }
}

/// File mode serves the admin API on `deploy.admin-bind` only when it is set
/// to another address than the default (or `ENRICHER_ADMIN_BIND` is set):
/// file jobs run side by side and beside Kafka hosts, which own the default port.
fn file_admin_bind(config: &Config) -> Option<SocketAddr> {
    let addr = config.deploy.admin_bind?;
    let default = crate::config::DEFAULT_ADMIN_BIND.parse().ok();
    if Some(addr) == default && std::env::var_os("ENRICHER_ADMIN_BIND").is_none() {
        return None;
    }
    Some(addr)
}

/// Everything a file job needs. With the admin API on, the database is
/// opened read-write (this host alone), so `POST /v1/claims` can change it;
/// when other hosts read the file, it is opened read-only as without the API,
/// and `POST /v1/claims` answers 409. An admin API on an open address without
/// a token is refused before anything starts, as in Kafka mode.
pub fn build_file_host(config: &Config) -> Result<FileHost, StartError> {
    let Some(addr) = file_admin_bind(config) else {
        return Ok(FileHost {
            pipeline: build_file_pipeline(config)?,
            admin: None,
            claims: None,
        });
    };
    check_admin_settings(config)?;
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let plugin = load_plugin(&engine, config)?;
    let (lookup, claims) = match open_file_claims(config)? {
        Some((lookup, claims)) => (lookup, claims.map(Arc::new)),
        None => (open_lookup(config)?, None),
    };
    let pipeline =
        Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes).without_plugin_headers();
    let admin = serve_file_admin(addr, config, &pipeline, claims.clone());
    Ok(FileHost {
        pipeline,
        admin,
        claims,
    })
}

/// The lookup over a host's file, and what applies `POST /v1/claims` into it (if it may).
type FileClaims = (Arc<ClaimsLookup>, Option<LocalClaims>);

/// The lookup over the file opened read-write, and the thread applying
/// `POST /v1/claims` into it; `None` when the file is missing (the
/// read-only open says so). When other processes read the file, the lookup
/// alone, read-only; when one writes it, [`StartError::HeldByWriter`] (DuckDB
/// lets no other process open a file one writes, even read-only).
fn open_file_claims(config: &Config) -> Result<Option<FileClaims>, StartError> {
    let Some(path) = config.duckdb_file()?.filter(|p| p.exists()) else {
        return Ok(None);
    };
    let db = path.display().to_string();
    let (writer, store) = match ClaimsWriter::open(&path, config.duckdb.threads) {
        Ok(opened) => opened,
        Err(error) if is_lock_conflict(&error.to_string()) => {
            let lookup = open_lookup(config)?;
            tracing::warn!(db = %db, %error, "other processes read the claims database: opened read-only, \
                POST /v1/claims will answer 409");
            return Ok(Some((lookup, None)));
        }
        Err(error) => return Err(StartError::Store(error)),
    };
    store.check_schema().map_err(|problem| StartError::Schema {
        db: db.clone(),
        problem,
    })?;
    let rows = store.count()?;
    tracing::info!(db = %db, rows, cache = ?config.lookup.cache, "claims store opened read-write (POST /v1/claims)");
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    let lookup = Arc::new(lookup);
    let claims = LocalClaims::start(writer, Arc::clone(&lookup), &db)
        .map_err(|e| StartError::Lookup(format!("starting the claims-apply thread: {e}")))?;
    Ok(Some((lookup, Some(claims))))
}

/// File mode's admin API on `addr`: `/metrics`, the status page, the
/// plugin's identity (deploys are refused) and `POST /v1/claims` (when
/// `claims`). A port already in use is a warning, not a failed run: a file
/// job does not need the API.
fn serve_file_admin(
    addr: SocketAddr,
    config: &Config,
    pipeline: &Pipeline,
    claims: Option<Arc<LocalClaims>>,
) -> Option<AdminServer> {
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
    // Readiness as file mode means it: the plugin runs and the claims store
    // answers; no partitions, no broker (a host is built for the run that
    // reads its input from here on).
    let probe_lookup = Arc::clone(pipeline.lookup());
    let probe: StoreProbe = Arc::new(move || probe_lookup.ping());
    let health = Health::new(Source::File, config.kafka.liveness_timeout, Some(probe));
    health.set_plugin_loaded(true);
    health.set_input_open(true);
    let options = match admin_options(config) {
        Ok(options) => AdminOptions {
            health,
            observed: Some(observed),
            claims: claims.map(|c| c as Arc<dyn ClaimsAdmin>),
            ..options
        },
        Err(error) => {
            tracing::warn!(%error, "no admin API for this file run");
            return None;
        }
    };
    match AdminServer::start(addr, plugins, options) {
        Ok(server) => {
            tracing::info!(addr = %server.local_addr(), "admin API (metrics, status page, POST /v1/claims) listening");
            Some(server)
        }
        Err(error) => {
            tracing::warn!(%addr, %error, "no admin API for this file run (set ENRICHER_ADMIN_BIND, or `off`)");
            None
        }
    }
}
