//! The admin HTTP API of a running host: its routes over
//! [`PluginAdmin`](crate::deploy::PluginAdmin), their status codes and
//! JSON bodies (`routes`), the server that runs them (`server`), and the
//! client `enricher plugin ...` uses (`client`).
//!
//! | route                                  | answer                        |
//! |----------------------------------------|-------------------------------|
//! | `POST /v1/plugins[?name=N]`, body: wasm | 200 [`DeployReport`]          |
//! | `GET /v1/plugins`                      | 200 `[`[`VersionInfo`]`]`     |
//! | `POST /v1/plugins/rollback`            | 200 [`RollbackReport`]        |
//! | `GET /v1/status`                       | 200 [`PluginStatus`]          |
//! | `GET /healthz`                         | 200 `ok`                      |
//! | `GET /metrics`                         | 200 Prometheus text (`metrics_route`) |
//! | `GET /`                                | 200 the live status page (`page`) |
//!
//! Every refusal answers `{"error": {"kind": ..., "message": ...}}` (an
//! [`AdminError`]) with the status of [`status_of`]; an unknown path is a 404,
//! a wrong method a 405, a component above [`MAX_PLUGIN_BYTES`] a 413.
//!
//! [`DeployReport`]: crate::deploy::DeployReport
//! [`VersionInfo`]: crate::deploy::VersionInfo
//! [`RollbackReport`]: crate::deploy::RollbackReport
//! [`PluginStatus`]: crate::deploy::PluginStatus

// Why these crates: well-kept HTTP (axum/hyper on tokio, ureq) replaces hand-written HTTP/1.1.
mod client;
mod metrics_route;
mod page;
mod routes;
mod server;

use serde::{Deserialize, Serialize};

use crate::deploy::AdminError;

pub use client::{AdminClient, ClientError};
pub use metrics_route::Observed;
pub use server::AdminServer;

/// The largest component `POST /v1/plugins` accepts (64 MiB).
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

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
    }
}

#[cfg(test)]
mod tests;
