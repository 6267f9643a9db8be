//! `POST /v1/claims[?delete=true][&skip-bad-rows=true]`: claims changed on a
//! running host. The body is a claims file, CSV (`Content-Type: text/csv`)
//! or JSON lines (`application/x-ndjson`, `application/jsonl`), read and
//! checked exactly as `enricher claims load` and `claims publish` check a
//! file (`claims_load::read_claims`; a deletion needs only each row's
//! `claim_id`, `read_claim_ids`): any bad row is a 422 naming each bad
//! row, and nothing is applied (unless `skip-bad-rows`). A writer only
//! ([`Writer`]: the admin token), bounded in size (`upload`), one audit line
//! per call. What the host does with the rows is its [`ClaimsAdmin`]: file
//! mode applies them into its own DuckDB file on its `claims-apply` thread,
//! Kafka mode publishes them to the claims changelog. A host with neither
//! answers 409.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use enricher_parse::query::query_param;

use super::access::{AdminAccess, Writer};
use super::refusal;
use super::respond::{allow, blocking, json, refused};
use super::upload::read_claims_body;
use crate::claims_load::{Claim, InputFormat, LoadOptions, read_claim_ids, read_claims};
use crate::deploy::{AdminError, printable};
use crate::error::LoadError;

/// The content types a claims file may be sent as, and how each is read.
pub const CLAIMS_TYPES: [(&str, InputFormat); 4] = [
    ("text/csv", InputFormat::Csv),
    ("application/x-ndjson", InputFormat::JsonLines),
    ("application/jsonl", InputFormat::JsonLines),
    ("application/json", InputFormat::JsonLines),
];

/// What a host does with checked claims.
pub trait ClaimsAdmin: Send + Sync {
    /// Apply `claims` (or, with `delete`, delete their ids), all or none,
    /// and answer once it is done (file mode: committed and visible to the
    /// next lookup; Kafka mode: acknowledged by the changelog topic).
    fn submit(&self, claims: Vec<Claim>, delete: bool) -> Result<ClaimsReport, AdminError>;
}

/// The answer of `POST /v1/claims`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsReport {
    /// Claims applied (or, for a deletion, ids deleted).
    pub rows: u64,
    pub delete: bool,
    /// Where they went: `duckdb <file>` (file mode) or `changelog <topic>`.
    pub applied_to: String,
    /// Bad rows passed over (with `skip-bad-rows` only; otherwise a bad row is a 422).
    pub rows_rejected: u64,
    /// The first of them, as `line N: why (value)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<String>,
}

#[derive(Clone)]
struct ClaimsState {
    claims: Option<Arc<dyn ClaimsAdmin>>,
    access: Arc<AdminAccess>,
}

impl FromRef<ClaimsState> for Arc<AdminAccess> {
    fn from_ref(state: &ClaimsState) -> Self {
        Arc::clone(&state.access)
    }
}

/// The `/v1/claims` route; `claims` is `None` on a host that takes no claims.
pub(super) fn router(claims: Option<Arc<dyn ClaimsAdmin>>, access: Arc<AdminAccess>) -> Router {
    Router::new()
        .route("/v1/claims", allow(post(submit), "POST"))
        .with_state(ClaimsState { claims, access })
}

/// The input format the request's `Content-Type` names, or why it is a 415.
fn claims_format(headers: &HeaderMap) -> Result<InputFormat, String> {
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let essence = declared
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if let Some(&(_, format)) = CLAIMS_TYPES
        .iter()
        .find(|(t, _)| essence.as_deref() == Some(*t))
    {
        return Ok(format);
    }
    let types: Vec<&str> = CLAIMS_TYPES.iter().map(|(t, _)| *t).collect();
    let sent = declared.map_or("none".to_owned(), printable);
    Err(format!(
        "claims are sent as Content-Type {} (this request: {sent})",
        types.join(", ")
    ))
}

/// A yes/no query parameter (`delete`, `skip-bad-rows`); absent is no.
fn flag(query: &str, key: &str) -> Result<bool, String> {
    match query_param(query, key)?.as_deref().map(str::trim) {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("" | "true" | "1" | "yes") => Ok(true),
        Some(other) => Err(format!(
            "{key}={} is not a yes/no value (true or false)",
            printable(other)
        )),
    }
}

async fn submit(
    State(state): State<ClaimsState>,
    who: Writer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = query.unwrap_or_default();
    let (delete, skip_bad_rows) = match (flag(&query, "delete"), flag(&query, "skip-bad-rows")) {
        (Ok(delete), Ok(skip)) => (delete, skip),
        (Err(why), _) | (_, Err(why)) => {
            return refusal(AdminError::BadRequest(why), StatusCode::BAD_REQUEST);
        }
    };
    let Some(claims) = state.claims.clone() else {
        let why = "this host takes no claims: in file mode it could not open its DuckDB file \
                   for writing (another process holds it; see its log), in Kafka mode the \
                   claims changelog is off (CLAIMS_CHANGELOG_TOPIC)";
        audit(&who, delete, 0, why);
        return refused(AdminError::Conflict(why.to_owned()));
    };
    let format = match claims_format(&headers) {
        Ok(format) => format,
        Err(why) => {
            let unsupported = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return refusal(AdminError::BadRequest(why), unsupported);
        }
    };
    let bytes = match read_claims_body(&headers, body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    let options = LoadOptions {
        skip_bad_rows,
        allow_empty: false,
    };
    let answer = blocking(move || {
        let source = Path::new("the request body");
        let read = if delete { read_claim_ids } else { read_claims };
        let (rows, report) = read(format, &bytes[..], source, &options).map_err(rejected)?;
        let mut done = claims.submit(rows, delete)?;
        done.rows_rejected = report.rows_rejected;
        done.rejected = report.rejected;
        Ok::<_, AdminError>(done)
    })
    .await;
    match answer {
        Ok(Ok(report)) => {
            let result = format!("applied to {}", report.applied_to);
            audit(&who, delete, report.rows, &result);
            json(&report)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "claims refused");
            audit(&who, delete, 0, &e.to_string());
            refused(e)
        }
        Err(failed) => failed,
    }
}

/// A file that cannot be applied: 422 with every bad row `read_claims` named.
fn rejected(error: LoadError) -> AdminError {
    match error {
        LoadError::Empty {
            rows_rejected,
            details,
            ..
        } => {
            let bad = match rows_rejected {
                0 => String::new(),
                n => format!(" (all {n} row(s) are bad):\n{details}"),
            };
            AdminError::Rejected(format!(
                "no claims in the request body{bad}; nothing applied"
            ))
        }
        LoadError::BadRows { count, details, .. } => AdminError::Rejected(format!(
            "{count} bad row(s) in the request body, nothing applied:\n{details}"
        )),
        other => AdminError::Rejected(other.to_string()),
    }
}

/// The audit log line of a claims call (target `audit`).
fn audit(who: &Writer, delete: bool, rows: u64, result: &str) {
    let token_id = &who.token_id;
    let action = if delete { "claims delete" } else { "claims" };
    tracing::info!(target: "audit", action, token_id, rows, result = printable(result), "admin {action}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn content_types_name_the_format_and_flags_read_yes_or_no() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        assert_eq!(claims_format(&headers), Ok(InputFormat::Csv));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        assert_eq!(claims_format(&headers), Ok(InputFormat::JsonLines));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let why = claims_format(&headers).expect_err("a form's type");
        assert!(
            why.contains("text/csv") && why.contains("text/plain"),
            "{why}"
        );
        assert_eq!(flag("delete=true&x=1", "delete"), Ok(true));
        assert_eq!(flag("delete", "delete"), Ok(true));
        assert_eq!(flag("x=1", "delete"), Ok(false));
        assert!(flag("delete=maybe", "delete").is_err());
    }
}
