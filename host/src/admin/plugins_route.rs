//! The plugin routes of the admin API (`/v1/plugins`, `/v1/plugins/rollback`,
//! `/v1/status`) as an axum [`Router`] over a [`PluginAdmin`]: the handlers,
//! their JSON answers and refusals (404, 401/403 from `access`, 415/413 from
//! `upload`, 422 for an unsafe plugin name), and the `name` query parameter. The [`PluginAdmin`] calls block (a deploy
//! compiles wasm), so they run on tokio's blocking pool. Deploys and
//! rollbacks leave an audit log line (target `audit`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;

use enricher_parse::query::query_param;

use super::access::{AdminAccess, Reader, Writer, audit};
use super::refusal;
use super::respond::{allow, blocking, json, refused};
use super::upload::{check_content_type, read_component};
use crate::deploy::signature::SIGNATURE_HEADER;
use crate::deploy::{AdminError, PluginAdmin, PluginStatus, check_name, printable, sha256_hex};
use crate::lookup::{CacheChoice, ClaimsLookup};

type Api = Arc<dyn PluginAdmin>;

/// What every handler may use: the operations and who may call them.
#[derive(Clone)]
pub(super) struct AppState {
    api: Api,
    access: Arc<AdminAccess>,
    /// The host's lookup, whose cache mode `/v1/status` reports (when known).
    lookup: Option<Arc<ClaimsLookup>>,
}

impl FromRef<AppState> for Arc<AdminAccess> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.access)
    }
}

/// Every route of the API (see the table in [`super`]).
pub(super) fn router(
    api: Api,
    access: Arc<AdminAccess>,
    lookup: Option<Arc<ClaimsLookup>>,
) -> Router {
    Router::new()
        .route("/v1/plugins", allow(get(list).post(deploy), "GET, POST"))
        .route("/v1/plugins/rollback", allow(post(rollback), "POST"))
        .route("/v1/status", allow(get(status), "GET"))
        .fallback(|uri: Uri| async move {
            let why = format!("no such route: {}", uri.path());
            refusal(AdminError::BadRequest(why), StatusCode::NOT_FOUND)
        })
        .with_state(AppState {
            api,
            access,
            lookup,
        })
}

/// `POST /v1/plugins`: the body is the component, `name` an optional query
/// parameter, the `X-Enricher-Signature` header its signature (checked by the
/// deployer when the host requires signed plugins). Who may, the content type
/// and the name are checked before the body is read.
async fn deploy(
    State(app): State<AppState>,
    who: Writer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bad = |why: String| refusal(AdminError::BadRequest(why), StatusCode::BAD_REQUEST);
    let name = match query_param(query.as_deref().unwrap_or_default(), "name") {
        Ok(name) => name.filter(|n| !n.trim().is_empty()),
        Err(why) => return bad(why),
    };
    if let Err(why) = name.as_deref().map_or(Ok(()), |n| check_name(n.trim())) {
        audit("deploy", &who, name.as_deref().unwrap_or("-"), "-", &why);
        return refused(AdminError::Rejected(why));
    }
    if let Err(why) = check_content_type(&headers) {
        let unsupported = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return refusal(AdminError::BadRequest(why), unsupported);
    }
    let wasm = match read_component(&headers, body).await {
        Ok(wasm) => wasm,
        Err(refused) => return refused,
    };
    let (bytes, sha256) = (wasm.len(), sha256_hex(&wasm));
    let api = Arc::clone(&app.api);
    let asked = name.clone();
    let signature = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes().to_vec());
    match blocking(move || api.deploy_signed(&wasm, asked.as_deref(), signature.as_deref())).await {
        Ok(Ok(report)) => {
            let (key, sha256) = (&report.deployed.key, &report.deployed.sha256);
            let (fleet, check_ms) = (report.fleet, report.check_ms);
            tracing::info!(%key, %sha256, fleet, check_ms, "plugin deployed");
            audit("deploy", &who, key, sha256, "deployed");
            json(&report)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, bytes, "plugin deploy refused");
            let key = name.map_or("-".to_owned(), |n| format!("{n}@-"));
            audit("deploy", &who, &key, &sha256, &e.to_string());
            refused(e)
        }
        Err(failed) => failed,
    }
}

async fn list(State(app): State<AppState>, _: Reader) -> Response {
    match blocking(move || app.api.list()).await {
        Ok(versions) => json(&versions),
        Err(failed) => failed,
    }
}

/// `POST /v1/plugins/rollback[?to=NAME@VERSION]`: one step back, or back to
/// that version (404 when this host does not know it). Any other query
/// parameter is a 400: a rollback never ignores what it was asked.
async fn rollback(State(app): State<AppState>, who: Writer, RawQuery(query): RawQuery) -> Response {
    let bad = |why: String| refusal(AdminError::BadRequest(why), StatusCode::BAD_REQUEST);
    let query = query.unwrap_or_default();
    if let Some(other) = unknown_param(&query, &["to"]) {
        return bad(format!(
            "unknown parameter {} (a rollback takes only to=NAME@VERSION)",
            printable(&other)
        ));
    }
    let to = match query_param(&query, "to") {
        Ok(to) => to.map(|t| t.trim().to_owned()),
        Err(why) => return bad(why),
    };
    if let Some(to) = &to
        && to
            .rsplit_once('@')
            .is_none_or(|(n, v)| n.is_empty() || v.is_empty())
    {
        return bad(format!("to={}: expected NAME@VERSION", printable(to)));
    }
    let api = Arc::clone(&app.api);
    let asked = move || {
        let report = match &to {
            Some(key) => api.rollback_to(key),
            None => api.rollback(),
        };
        report.map(|r| (sha256_of(api.as_ref(), &r.to), r))
    };
    match blocking(asked).await {
        Ok(Ok((sha256, report))) => {
            let (from, to) = (&report.from, &report.to);
            tracing::info!(%from, %to, fleet = report.fleet, "plugin rolled back");
            audit(
                "rollback",
                &who,
                to,
                &sha256,
                &format!("rolled back from {from}"),
            );
            json(&report)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "plugin rollback refused");
            audit("rollback", &who, "-", "-", &e.to_string());
            refused(e)
        }
        Err(failed) => failed,
    }
}

/// The first query parameter whose name is not one of `known`.
fn unknown_param(query: &str, known: &[&str]) -> Option<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
        .find(|k| !known.contains(k))
        .map(str::to_owned)
}

/// The SHA-256 of a known version, for the audit log.
fn sha256_of(api: &dyn PluginAdmin, key: &str) -> String {
    let versions = api.list();
    let known = versions.into_iter().find(|v| v.key == key);
    known.map_or("-".to_owned(), |v| v.sha256)
}

/// `/v1/status`: the plugin state, and the lookup's cache mode when the host has one.
#[derive(Serialize)]
struct HostStatus {
    #[serde(flatten)]
    plugin: PluginStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    lookup_cache: Option<CacheChoice>,
}

async fn status(State(app): State<AppState>, _: Reader) -> Response {
    let lookup_cache = app.lookup.as_ref().map(|l| l.cache_choice().clone());
    match blocking(move || app.api.status()).await {
        Ok(plugin) => json(&HostStatus {
            plugin,
            lookup_cache,
        }),
        Err(failed) => failed,
    }
}
