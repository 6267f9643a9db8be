//! The admin HTTP API of a running host: its routes over
//! [`PluginAdmin`](crate::deploy::PluginAdmin), their status codes and
//! JSON bodies ([`server`]), and the client `enricher plugin ...` uses ([`client`]).
//!
//! | route                                  | answer                        |
//! |----------------------------------------|-------------------------------|
//! | `POST /v1/plugins[?name=N]`, body: wasm | 200 [`DeployReport`]          |
//! | `GET /v1/plugins`                      | 200 `[`[`VersionInfo`]`]`     |
//! | `POST /v1/plugins/rollback`            | 200 [`RollbackReport`]        |
//! | `GET /v1/status`                       | 200 [`PluginStatus`]          |
//! | `GET /healthz`                         | 200 `ok`                      |
//!
//! Every refusal answers `{"error": {"kind": ..., "message": ...}}` (an
//! [`AdminError`]) with the status of [`status_of`]; an unknown path is a 404,
//! a wrong method a 405, a component above [`MAX_PLUGIN_BYTES`] a 413.
//!
//! [`DeployReport`]: crate::deploy::DeployReport
//! [`VersionInfo`]: crate::deploy::VersionInfo
//! [`RollbackReport`]: crate::deploy::RollbackReport
//! [`PluginStatus`]: crate::deploy::PluginStatus

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};

use crate::deploy::AdminError;

pub use client::{AdminClient, ClientError};
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

/// Everything but the unreserved characters of RFC 3986 as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`percent_encode`]; a `+` is a space (form encoding).
fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                match hex.map(|d| d.and_then(|d| char::from(d).to_digit(16))) {
                    [Some(hi), Some(lo)] => (hi * 16 + lo) as u8,
                    _ => return Err(format!("bad percent-encoding in the query: {s}")),
                }
            }
            b => b,
        });
    }
    String::from_utf8(out).map_err(|_| format!("the query is not UTF-8: {s}"))
}

/// An answer, written with a `Content-Length` and `Connection: close`.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    /// The methods a path allows, for a 405.
    allow: Option<&'static str>,
}

impl Answer {
    fn json(status: u16, value: &impl Serialize) -> Answer {
        match serde_json::to_string(value) {
            Ok(body) => Answer {
                status,
                content_type: "application/json",
                body,
                allow: None,
            },
            Err(e) => Answer::text(500, &format!("encoding the answer: {e}")),
        }
    }

    fn refusal(status: u16, error: AdminError) -> Answer {
        Answer::json(status, &ErrorBody { error })
    }

    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            allow: None,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            411 => "Length Required",
            413 => "Content Too Large",
            422 => "Unprocessable Content",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let allow = self
            .allow
            .map(|a| format!("Allow: {a}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}\
             Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        [head.as_bytes(), self.body.as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests;
