//! Who may call what on the admin API, as axum extractors a route takes:
//! [`Writer`] on every route that changes state (deploy, rollback, and any
//! future write such as claims) and [`Reader`] on the read routes.
//!
//! - A writer must send `Authorization: Bearer <token>` when the host has a
//!   token (`ENRICHER_ADMIN_TOKEN` or `ENRICHER_ADMIN_TOKEN_FILE`), compared
//!   in constant time (of the SHA-256 digests, so lengths leak nothing), and
//!   must not come from a foreign origin: a browser's `Origin` must name the
//!   `Host` it was sent to, and `Sec-Fetch-Site` must not be cross-site.
//!   A cross-origin page cannot then deploy code with a form or `text/plain`.
//! - A writer must name a known `Host` (`host_check`): against DNS rebinding,
//!   where a page on `evil.example` re-points its name at 127.0.0.1 and its
//!   requests arrive same-origin with `Host: evil.example:PORT`.
//! - A reader needs the token only when `admin.open-reads` is false, and
//!   must name a known `Host` as a writer does.
//!
//! The token's id in the audit log is [`token_id`]: the first 8 hex digits of
//! its SHA-256, never the token itself.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::host_check::AllowedHosts;
use super::refusal;
use crate::deploy::{AdminError, printable};

/// The token id of calls made without one (on a host that has none).
pub const NO_TOKEN: &str = "none";

/// What the admin API asks of its callers.
#[derive(Clone, Default)]
pub struct AdminAccess {
    /// The token writers (and readers, unless `open_reads`) must send.
    token: Option<Token>,
    /// Whether the read routes answer without the token.
    closed_reads: bool,
    /// The `Host` names a writer may use.
    hosts: AllowedHosts,
}

#[derive(Clone)]
struct Token {
    digest: [u8; 32],
    id: String,
}

impl std::fmt::Debug for AdminAccess {
    // Never the token: its id only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token_id", &self.token.as_ref().map(|t| &t.id))
            .field("open_reads", &!self.closed_reads)
            .finish()
    }
}

impl AdminAccess {
    /// Writes need `token` (when given); reads are open unless `open_reads` is false.
    pub fn new(token: Option<&str>, open_reads: bool) -> Self {
        let token = token.map(|token| Token {
            digest: Sha256::digest(token.as_bytes()).into(),
            id: token_id(token),
        });
        Self {
            closed_reads: token.is_some() && !open_reads,
            hosts: AllowedHosts::default(),
            token,
        }
    }

    /// Writes also accept these `Host` names (`admin.allowed-hosts`).
    pub fn allowing_hosts(mut self, names: &[String]) -> Self {
        self.hosts = AllowedHosts::new(names);
        self
    }

    /// The address the server listens on is a `Host` writers may name.
    pub(super) fn bound_to(&mut self, addr: std::net::SocketAddr) {
        self.hosts.bound_to(addr.ip());
    }

    /// Whether calls must carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// A 403 (logged for the audit) unless the request's `Host` is one this
    /// API answers to (`host_check`); `token_id` says who, for the log.
    fn check_host(&self, parts: &Parts, token_id: &str) -> Result<(), Response> {
        let host = parts
            .headers
            .get(HOST)
            .map(|v| v.to_str().unwrap_or("(not text)"));
        self.hosts.check(host, self.token.is_some()).map_err(|why| {
            let (method, path) = (&parts.method, parts.uri.path());
            tracing::warn!(target: "audit", %method, path, token_id, result = "unknown host", "admin API call refused");
            refusal(AdminError::Forbidden(why), StatusCode::FORBIDDEN)
        })
    }

    /// The id of the token a request carries, or why it may not go on.
    fn check_token(&self, headers: &HeaderMap) -> Result<String, &'static str> {
        let Some(token) = &self.token else {
            return Ok(NO_TOKEN.to_owned());
        };
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")));
        let Some(presented) = presented.map(str::trim) else {
            return Err(
                "this needs the admin token: send `Authorization: Bearer <token>` \
                 (`enricher plugin` sends ENRICHER_ADMIN_TOKEN or ENRICHER_ADMIN_TOKEN_FILE)",
            );
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(&token.digest)) {
            Ok(token.id.clone())
        } else {
            Err("the admin token does not match this host's")
        }
    }
}

/// The first 8 hex digits of the token's SHA-256: who, in the audit log.
pub fn token_id(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unauthorized(why: &str) -> Response {
    let mut answer = refusal(
        AdminError::Unauthorized(why.to_owned()),
        StatusCode::UNAUTHORIZED,
    );
    answer.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"enricher-admin\""),
    );
    answer
}

/// Why a request comes from another site, if it does: its `Origin` is not
/// the `Host` it was sent to, or its browser says it is cross-site.
fn foreign_origin(headers: &HeaderMap) -> Option<String> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)"))
    };
    if let Some(site @ ("cross-site" | "same-site")) = text("sec-fetch-site") {
        return Some(format!("the browser says this request is {site}"));
    }
    let origin = text(ORIGIN.as_str())?;
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, text(HOST.as_str())) {
        (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => None,
        _ => Some(format!(
            "requests from origin {} are refused (only the API's own origin, or none)",
            printable(origin)
        )),
    }
}

/// A caller allowed to change state; `token_id` says who, for the audit log.
pub struct Writer {
    pub token_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Writer
where
    Arc<AdminAccess>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let access = Arc::<AdminAccess>::from_ref(state);
        let (method, path) = (&parts.method, parts.uri.path());
        let token_id = access.check_token(&parts.headers).map_err(|why| {
            tracing::warn!(target: "audit", %method, path, result = "unauthorized", "admin API call refused");
            unauthorized(why)
        })?;
        access.check_host(parts, &token_id)?;
        if let Some(why) = foreign_origin(&parts.headers) {
            tracing::warn!(target: "audit", %method, path, token_id, result = "foreign origin", "admin API call refused");
            return Err(refusal(AdminError::Forbidden(why), StatusCode::FORBIDDEN));
        }
        Ok(Writer { token_id })
    }
}

/// A caller allowed to read (anyone naming a known `Host`, unless
/// `admin.open-reads` is false).
pub struct Reader;

impl<S: Send + Sync> FromRequestParts<S> for Reader
where
    Arc<AdminAccess>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let access = Arc::<AdminAccess>::from_ref(state);
        let token_id = if access.closed_reads {
            access.check_token(&parts.headers).map_err(unauthorized)?
        } else {
            NO_TOKEN.to_owned()
        };
        // A rebinding page may not read a host without a token either (its
        // plugins, claims counts and topics are the operator's business).
        access.check_host(parts, &token_id)?;
        Ok(Reader)
    }
}

/// The audit log line of a deploy or rollback (target `audit`).
pub fn audit(action: &str, who: &Writer, key: &str, sha256: &str, result: &str) {
    let (name, version) = key.rsplit_once('@').unwrap_or((key, ""));
    let (name, version) = (printable(name), printable(version));
    let token_id = &who.token_id;
    tracing::info!(target: "audit", action, token_id, name, version, sha256, result = printable(result), "admin {action}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn only_the_same_origin_or_none_may_write() {
        let host = ("host", "127.0.0.1:9464");
        assert_eq!(foreign_origin(&headers(&[host])), None);
        let same = headers(&[host, ("origin", "http://127.0.0.1:9464")]);
        assert_eq!(foreign_origin(&same), None);
        for origin in ["http://evil.example", "null", "http://127.0.0.1:9465"] {
            let why = foreign_origin(&headers(&[host, ("origin", origin)]));
            assert!(why.is_some_and(|w| w.contains(origin)), "{origin}");
        }
        let cross = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert!(foreign_origin(&cross).is_some());
    }

    #[test]
    fn tokens_are_checked_and_known_by_their_id_only() {
        let access = AdminAccess::new(Some("s3cret-token-of-the-admin"), true);
        let ok = headers(&[("authorization", "Bearer s3cret-token-of-the-admin")]);
        let id = access.check_token(&ok).expect("the right token");
        assert_eq!(id, token_id("s3cret-token-of-the-admin"));
        assert_eq!(id.len(), 8);
        assert!(!format!("{access:?}").contains("s3cret"));
        for bad in ["Bearer s3cret", "Basic czNjcmV0", ""] {
            let refused = access.check_token(&headers(&[("authorization", bad)]));
            assert!(refused.is_err(), "{bad}");
        }
        let answer = unauthorized("no");
        assert_eq!(answer.status(), 401);
        assert!(answer.headers().contains_key(WWW_AUTHENTICATE));
        assert_eq!(
            AdminAccess::default().check_token(&ok).ok().as_deref(),
            Some(NO_TOKEN)
        );
    }
}
