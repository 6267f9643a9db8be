//! The PostgreSQL claims store: claims looked up in the database where they
//! live (`CLAIMS_URL=postgres://user@host:port/db?table=claims`), behind the
//! same [`ClaimsStore`] trait as DuckDB, so every cache mode, the timeout,
//! the retries and serve-stale work the same.
//!
//! - A batch of missed ids is ONE query, `WHERE claim_id = ANY($1)` with the
//!   ids bound as one array, prepared once per connection (the pool's
//!   statement cache): the primary key's index answers each id.
//! - Connections come from a pool (`deadpool-postgres`): a connection the
//!   server closed (a restart, `pg_terminate_backend`) is dropped and a new
//!   one made on the next attempt, so the lookup's retries ride over a restart.
//! - The interrupter is PostgreSQL's cancel request for the query running
//!   now: a lookup that runs out of time stops the query on the server.
//! - The client is async (`tokio-postgres`); the store runs it on a runtime
//!   of its own with one thread, and the lookup's worker thread blocks on each
//!   query, as it does on DuckDB's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{CancelToken, Row};

use super::ClaimRow;
use super::postgres_errors::{classify, describe, pool_error};
use super::postgres_rows::{duckdb_type_name, read_rows};
use super::postgres_tls::{Tls, connector};
use super::schema::{Column, SchemaError, judge};
use super::store::{ClaimsStore, Interrupter, TableSize};
use crate::config::PostgresTarget;
use crate::error::StoreError;

const COLUMNS: &str = "claim_id, member_id, claim_amount, claim_status, created_date";

/// Connections at most: the lookup's worker uses one at a time, cache mode
/// `auto`'s background load another; the rest absorb a reconnect.
const POOL_SIZE: usize = 4;

/// How long a new connection may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the store's handles share: the runtime, the pool, the queries.
struct Shared {
    runtime: tokio::runtime::Runtime,
    pool: Pool,
    /// For cancel requests, which open a connection of their own.
    tls: Tls,
    /// The URL without its password, for messages.
    shown: String,
    /// The table as SQL (quoted), and as text for `to_regclass`.
    table_sql: String,
    fetch_sql: String,
    all_sql: String,
    /// A batch query abandoned past this is cancelled and its connection dropped
    /// (the lookup has given up on it by then): the worker never hangs on a
    /// connection that went silent.
    query_limit: Duration,
}

pub struct PostgresStore {
    shared: Arc<Shared>,
    /// The cancel token of the connection running this handle's query now.
    running: Arc<Mutex<Option<CancelToken>>>,
}

impl PostgresStore {
    /// A pool for `target`; the first connection is made by the first query
    /// (`check_schema` at start). `lookup_timeout` bounds one batch query.
    pub fn connect(target: &PostgresTarget, lookup_timeout: Duration) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("claims-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Permanent(format!("starting the PostgreSQL client: {e}")))?;
        let shown = target.shown();
        let (tls, ssl_mode) =
            connector(target).map_err(|why| StoreError::Permanent(format!("{shown}: {why}")))?;
        let mut pg = tokio_postgres::Config::new();
        let user = target
            .user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".into());
        let connect_timeout = target.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
        pg.host(&target.host)
            .port(target.port)
            .user(&user)
            .ssl_mode(ssl_mode)
            .connect_timeout(connect_timeout)
            .application_name(target.application_name.as_deref().unwrap_or("enricher"));
        if let Some(password) = &target.password {
            pg.password(password.0.as_bytes());
        }
        if let Some(db) = &target.dbname {
            pg.dbname(db);
        }
        let manager_config = ManagerConfig {
            // A closed connection is noticed without a round trip; one broken
            // mid-query fails that attempt and the retry takes a new one.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Tls::Plain(tls) => Manager::from_config(pg, *tls, manager_config),
            Tls::Rustls(tls) => Manager::from_config(pg, tls.clone(), manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(connect_timeout))
            .wait_timeout(Some(connect_timeout))
            .build()
            .map_err(|e| StoreError::Permanent(format!("{shown}: {e}")))?;
        let table_sql = target.table_sql();
        Ok(Self {
            shared: Arc::new(Shared {
                runtime,
                pool,
                tls,
                fetch_sql: format!("SELECT {COLUMNS} FROM {table_sql} WHERE claim_id = ANY($1)"),
                all_sql: format!("SELECT {COLUMNS} FROM {table_sql}"),
                table_sql,
                shown,
                query_limit: lookup_timeout + Duration::from_secs(1),
            }),
            running: Arc::new(Mutex::new(None)),
        })
    }

    /// Make (or take) a connection now: the server is reachable and lets us in.
    pub fn connect_now(&self) -> Result<(), StoreError> {
        let shared = &*self.shared;
        shared
            .runtime
            .block_on(shared.pool.get())
            .map(drop)
            .map_err(|e| pool_error(e, &shared.shown))
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shared.shown
    }

    /// Whether the table has the columns the lookup reads, by the rule the
    /// DuckDB store uses (`schema`), PostgreSQL's types named as DuckDB's.
    pub fn check_schema(&self) -> Result<(), SchemaError> {
        let unreadable = |e: StoreError| SchemaError::Unreadable(e.to_string());
        let columns = self
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&self.shared.table_sql],
                None,
            )
            .map_err(unreadable)?;
        let found: Vec<Column> = columns
            .iter()
            .map(|row| {
                Ok(Column {
                    name: row.try_get(0)?,
                    data_type: duckdb_type_name(row.try_get(1)?),
                    nullable: row.try_get(2)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| SchemaError::Unreadable(describe(&e)))?;
        if found.is_empty() {
            return Err(SchemaError::NoTable);
        }
        let keyed = self
            .query(
                "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) \
                 AND i.indisprimary AND i.indnkeyatts = 1 AND (SELECT a.attname FROM pg_attribute a \
                 WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) = 'claim_id'",
                &[&self.shared.table_sql],
                None,
            )
            .map_err(unreadable)?
            .first()
            .and_then(|row| row.try_get::<_, i64>(0).ok())
            .is_some_and(|n| n > 0);
        judge(&found, keyed)
    }

    /// One query on a pooled connection, cancellable through [`Self::interrupter`];
    /// past `limit` the query is cancelled and its connection dropped.
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        limit: Option<Duration>,
    ) -> Result<Vec<Row>, StoreError> {
        let shared = &*self.shared;
        shared.runtime.block_on(async {
            let client = shared.pool.get().await.map_err(|e| pool_error(e, &shared.shown))?;
            *lock(&self.running) = Some(client.cancel_token());
            let work = async {
                let statement = client.prepare_cached(sql).await?;
                client.query(&statement, params).await
            };
            let answer = match limit {
                None => work.await,
                Some(limit) => {
                    let timed = tokio::time::timeout(limit, work).await;
                    match timed {
                        Ok(answer) => answer,
                        Err(_) => {
                            let token = client.cancel_token();
                            let tls = shared.tls.clone();
                            tokio::spawn(async move { cancel(&token, tls).await });
                            // Never reused: the query may still hold it.
                            drop(deadpool_postgres::Object::take(client));
                            *lock(&self.running) = None;
                            return Err(StoreError::Transient(format!(
                                "PostgreSQL did not answer within {limit:?} (query cancelled, connection dropped)"
                            )));
                        }
                    }
                }
            };
            let answer = answer.map_err(|e| {
                // A failed connection may not know it yet (the server's goodbye
                // still in flight): any error drops it, the retry takes a new one.
                drop(deadpool_postgres::Object::take(client));
                classify(&e)
            });
            *lock(&self.running) = None;
            answer
        })
    }
}

impl ClaimsStore for PostgresStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let limit = Some(self.shared.query_limit);
        let rows = self.query(&self.shared.fetch_sql, &[&ids], limit)?;
        read_rows(&rows)
    }

    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        // No limit of its own: the full load's budget is the lookup's (and its interrupter).
        let rows = self.query(&self.shared.all_sql, &[], None)?;
        read_rows(&rows)
    }

    fn interrupter(&self) -> Option<Interrupter> {
        let running = Arc::clone(&self.running);
        let shared = Arc::clone(&self.shared);
        Some(Arc::new(move || {
            if let Some(token) = lock(&running).clone() {
                let tls = shared.tls.clone();
                shared
                    .runtime
                    .spawn(async move { cancel(&token, tls).await });
            }
        }))
    }

    /// The planner's row count (`pg_class.reltuples`, kept by ANALYZE and
    /// autovacuum) and the text width from its statistics; a table never
    /// analyzed is counted and sampled instead.
    fn table_size(&mut self) -> Result<Option<TableSize>, StoreError> {
        let table = &self.shared.table_sql;
        let estimate = self.query(
            "SELECT c.reltuples::int8, (SELECT coalesce(sum(s.avg_width), 0)::int8 FROM pg_stats s \
             WHERE s.schemaname = n.nspname AND s.tablename = c.relname \
             AND s.attname IN ('claim_id', 'member_id', 'claim_status')) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            &[table],
            None,
        )?;
        let read = |row: Option<&Row>, i: usize| {
            row.and_then(|r| r.try_get::<_, i64>(i).ok()).unwrap_or(-1)
        };
        let (mut rows, mut width) = (read(estimate.first(), 0), read(estimate.first(), 1));
        if rows < 0 {
            let counted = self.query(&format!("SELECT count(*) FROM {table}"), &[], None)?;
            rows = read(counted.first(), 0);
        }
        if width <= 0 {
            let sampled = self.query(
                &format!(
                    "SELECT coalesce(avg(octet_length(claim_id) + octet_length(member_id) \
                     + coalesce(octet_length(claim_status), 0)), 0)::int8 \
                     FROM (SELECT * FROM {table} LIMIT 1000) s"
                ),
                &[],
                None,
            )?;
            width = read(sampled.first(), 0);
        }
        Ok(Some(TableSize {
            rows: u64::try_from(rows).unwrap_or(0),
            avg_text_bytes: u64::try_from(width).unwrap_or(0),
        }))
    }

    fn second_connection(&self) -> Option<Box<dyn ClaimsStore>> {
        Some(Box::new(Self {
            shared: Arc::clone(&self.shared),
            running: Arc::new(Mutex::new(None)),
        }))
    }
}

async fn cancel(token: &CancelToken, tls: Tls) {
    let sent = match tls {
        Tls::Plain(tls) => token.cancel_query(tls).await,
        Tls::Rustls(tls) => token.cancel_query(tls).await,
    };
    if let Err(e) = sent {
        tracing::debug!(error = %describe(&e), "PostgreSQL cancel request not sent");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
