//! Claims changed over the admin API without Kafka (file mode, one host):
//! `POST /v1/claims` hands each call's rows to this host's `claims-apply`
//! thread, which applies them into its own DuckDB file in ONE transaction
//! (the changelog's apply path, `apply`: exactly those ids invalidated in
//! the cache, the full cache updated in place) and answers. The HTTP handler
//! waits for that answer; the stream thread never sees any of it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::apply::{Batch, ClaimsWriter};
use super::codec::change_of;
use crate::admin::{ClaimsAdmin, ClaimsReport};
use crate::claims_load::Claim;
use crate::deploy::AdminError;
use crate::error::StoreError;
use crate::lookup::{ChangelogProgress, ClaimsLookup};

/// How long a call waits for the apply thread's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// What `ChangelogStatus::source` says for changes made over the admin API.
pub const ADMIN_SOURCE: &str = "admin-api";

/// One call's changes and where its answer goes.
struct Request {
    batch: Batch,
    answer: SyncSender<Result<(), StoreError>>,
}

/// The running `claims-apply` thread of a file-mode host. Dropping it stops
/// the thread (after the call it is applying).
pub struct LocalClaims {
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<ChangelogProgress>,
    /// `duckdb <file>`, for the answers.
    applied_to: String,
}

impl LocalClaims {
    /// Start the thread applying into `writer`'s database and telling `lookup`.
    pub fn start(
        writer: ClaimsWriter,
        lookup: Arc<ClaimsLookup>,
        db: &str,
    ) -> std::io::Result<Self> {
        let progress = Arc::new(ChangelogProgress::new(ADMIN_SOURCE));
        lookup.track_changelog(Arc::clone(&progress));
        let (requests, incoming) = channel();
        let shared = Arc::clone(&progress);
        let thread = std::thread::Builder::new()
            .name("claims-apply".into())
            .spawn(move || apply_loop(writer, &lookup, &shared, &incoming))?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
            progress,
            applied_to: format!("duckdb {db}"),
        })
    }

    /// How much was applied so far.
    pub fn progress(&self) -> &Arc<ChangelogProgress> {
        &self.progress
    }

    /// Apply `claims` (or their deletions) in one transaction and wait for it.
    pub fn apply(&self, claims: Vec<Claim>, delete: bool) -> Result<u64, AdminError> {
        let rows = claims.len() as u64;
        let batch = Batch {
            changes: claims.into_iter().map(|c| change_of(c, delete)).collect(),
            offsets: Vec::new(),
        };
        let (answer, answered) = sync_channel(1);
        let stopped = || AdminError::Unavailable("the host is stopping; nothing applied".into());
        let requests = self.requests.as_ref().ok_or_else(stopped)?;
        requests
            .send(Request { batch, answer })
            .map_err(|_| stopped())?;
        match answered.recv_timeout(ANSWER_WAIT) {
            Ok(Ok(())) => Ok(rows),
            Ok(Err(e)) => Err(AdminError::Unavailable(format!(
                "applying the claims to DuckDB failed, nothing applied: {e}"
            ))),
            Err(_) => Err(AdminError::Unavailable(format!(
                "the claims-apply thread did not answer within {ANSWER_WAIT:?}; the claims \
                 may still be applied (see the host's log)"
            ))),
        }
    }
}

impl ClaimsAdmin for LocalClaims {
    fn submit(&self, claims: Vec<Claim>, delete: bool) -> Result<ClaimsReport, AdminError> {
        let rows = self.apply(claims, delete)?;
        Ok(ClaimsReport {
            rows,
            delete,
            applied_to: self.applied_to.clone(),
            ..ClaimsReport::default()
        })
    }
}

impl Drop for LocalClaims {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the claims-apply thread panicked");
        }
    }
}

/// Apply each request as it comes, until every sender is gone.
fn apply_loop(
    mut writer: ClaimsWriter,
    lookup: &ClaimsLookup,
    progress: &ChangelogProgress,
    requests: &Receiver<Request>,
) {
    while let Ok(request) = requests.recv() {
        let result = writer.apply(&request.batch, lookup);
        let changes = &request.batch.changes;
        match &result {
            Ok(()) => {
                let deleted = changes.iter().filter(|c| c.row.is_none()).count() as u64;
                tracing::info!(
                    changes = changes.len(),
                    deleted,
                    "claims applied (admin API)"
                );
                progress.update(|s| {
                    s.applied += changes.len() as u64;
                    s.deleted += deleted;
                    s.last_applied_ms = Some(crate::clock::now_ms());
                    s.last_error = None;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, changes = changes.len(), "applying claims (admin API) failed; nothing applied");
                let why = e.to_string();
                progress.update(|s| s.last_error = Some(why));
            }
        }
        // The caller may have stopped waiting: then only the log says it.
        let _ = request.answer.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CacheMode, LookupConfig};
    use crate::lookup::LookupAnswer;
    use rust_decimal::Decimal;

    fn claim(id: &str, cents: i64) -> Claim {
        Claim {
            claim_id: id.into(),
            member_id: "MBR-1".into(),
            claim_amount: Decimal::new(cents, 2),
            claim_status: None,
            created_micros: None,
        }
    }

    #[test]
    fn each_call_is_applied_on_the_thread_and_seen_by_the_next_lookup() {
        let dir = std::env::temp_dir().join(format!("local-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let (writer, store) = ClaimsWriter::open(&dir.join("c.duckdb"), Some(1)).expect("open");
        let config = LookupConfig {
            cache: CacheMode::Partial,
            cache_missing_ttl: Duration::from_secs(3600),
            ..LookupConfig::default()
        };
        let lookup = Arc::new(ClaimsLookup::start(Box::new(store), &config).expect("lookup"));
        let ids = ["CLM-9".to_owned()];
        assert_eq!(
            lookup.lookup(&ids),
            [LookupAnswer::NotFound],
            "cached missing"
        );
        let local = LocalClaims::start(writer, Arc::clone(&lookup), "c.duckdb").expect("start");
        let report = local
            .submit(vec![claim("CLM-9", 1250)], false)
            .expect("applied");
        assert_eq!(
            (report.rows, report.applied_to.as_str()),
            (1, "duckdb c.duckdb")
        );
        match lookup.lookup(&ids).remove(0) {
            LookupAnswer::Found(row) => assert_eq!(row.claim_amount, Decimal::new(1250, 2)),
            other => panic!("not seen: {other:?}"),
        }
        local
            .submit(vec![claim("CLM-9", 1)], true)
            .expect("deleted");
        assert_eq!(lookup.lookup(&ids), [LookupAnswer::NotFound]);
        let status = lookup.changelog().expect("tracked");
        assert_eq!(
            (status.source.as_str(), status.applied, status.deleted),
            (ADMIN_SOURCE, 2, 1)
        );
        drop(local);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
