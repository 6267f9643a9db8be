//! The admin HTTP API of a running host, over three things the host owns:
//! the deployer ([`PluginAdmin`](crate::deploy::PluginAdmin)), the claims
//! writer ([`ClaimsAdmin`]) and the stream's meter ([`Observed`]). One file a
//! route family: `plugins_route` (deploy, list, rollback, status),
//! `claims_route`, `metrics_route`, `probes`, `page`; what they share in
//! answering (`respond`), who may call them (`access`), the deploy body
//! (`upload`), the server that runs them (`server`, over TLS with `tls`,
//! probes past the connection cap with `over_limit`), and
//! the client `enricher plugin ...` uses (`client`).
//!
//! | route                                  | who        | answer                    |
//! |----------------------------------------|------------|---------------------------|
//! | `POST /v1/plugins[?name=N]`, body: wasm | writer     | 200 [`DeployReport`]      |
//! | (header `X-Enricher-Signature`: base64) |            |                           |
//! | `GET /v1/plugins`                      | reader     | 200 `[`[`VersionInfo`]`]` |
//! | `POST /v1/plugins/rollback[?to=N@V]`   | writer     | 200 [`RollbackReport`]    |
//! | `POST /v1/claims[?delete=true]`, body: CSV or JSON lines | writer | 200 [`ClaimsReport`] (`claims_route`) |
//! | `GET /v1/status`                       | reader     | 200 [`PluginStatus`]      |
//! | `GET /healthz`                         | anyone     | 200 `ok`, 503 stream stuck (`probes`) |
//! | `GET /readyz`                          | anyone     | 200 ready, 503 with the reasons (`probes`) |
//! | `GET /metrics`                         | reader     | 200 Prometheus text (`metrics_route`) |
//! | `GET /`                                | anyone     | 200 the live status page (`page`) |
//!
//! A writer sends the admin token (when the host has one), no foreign
//! `Origin`, and a `Host` this host answers to (`host_check`); a reader needs the token only when `admin.open-reads` is false.
//! Every refusal answers `{"error": {"kind": ..., "message": ...}}` (an
//! [`AdminError`]) with the status of [`status_of`]; an unknown path is a 404,
//! a wrong method a 405, a missing or wrong token a 401, a foreign origin a
//! 403, a deploy that is not `application/wasm` (or `octet-stream`) a 415, a
//! component above [`MAX_PLUGIN_BYTES`] a 413, one whose signature a host
//! requiring signed plugins refuses a 403, an unsafe plugin name a 422, and a
//! connection over the limit a 503. Claims in a type that is no claims file
//! are a 415, above [`MAX_CLAIMS_BYTES`] a 413, with a bad row a 422 naming
//! it (nothing applied), on a host that takes no claims a 409.
//!
//! [`DeployReport`]: crate::deploy::DeployReport
//! [`VersionInfo`]: crate::deploy::VersionInfo
//! [`RollbackReport`]: crate::deploy::RollbackReport
//! [`PluginStatus`]: crate::deploy::PluginStatus

// Why these crates: well-kept HTTP (axum/hyper on tokio, ureq) replaces hand-written HTTP/1.1.
mod access;
mod claims_route;
mod client;
mod host_check;
mod metrics_route;
mod over_limit;
mod page;
mod plugins_route;
mod probes;
mod respond;
mod server;
mod tls;
mod upload;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::deploy::AdminError;

pub use access::{AdminAccess, token_id};
pub use claims_route::{CLAIMS_TYPES, ClaimsAdmin, ClaimsReport};
pub use client::{AdminClient, ClientError};
pub use metrics_route::Observed;
pub use server::{AdminOptions, AdminServer, AdminStartError, MAX_CONNECTIONS, check_bind};
pub use tls::TlsFiles;
pub use upload::COMPONENT_TYPES;

/// The largest component `POST /v1/plugins` accepts (the deployer's limit).
pub use crate::deploy::MAX_PLUGIN_BYTES;

/// The largest claims file `POST /v1/claims` accepts (16 MiB, ~150,000 claims).
pub const MAX_CLAIMS_BYTES: usize = 16 << 20;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: AdminError,
}

/// The HTTP status each refusal is answered with.
pub fn status_of(error: &AdminError) -> u16 {
    match error {
        AdminError::Rejected(_) => 422,
        AdminError::Conflict(_) => 409,
        AdminError::Unavailable(_) => 503,
        AdminError::BadRequest(_) => 400,
        AdminError::Untrusted(_) => 403,
        AdminError::Unauthorized(_) => 401,
        AdminError::Forbidden(_) => 403,
        AdminError::NotFound(_) => 404,
    }
}

/// An [`AdminError`] answered with `status`, as JSON.
fn refusal(error: AdminError, status: StatusCode) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
