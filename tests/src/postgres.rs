//! The test PostgreSQL `scripts/test` starts (`scripts/pg-up`), from
//! `ENRICHER_TEST_POSTGRES`, and a small synchronous client to set tables up
//! (each test makes its own, uniquely named, so tests run in parallel).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

/// The test server's URL (`postgres://postgres@127.0.0.1:19432/postgres`).
/// Unset, the test fails: it never passes without having run.
pub fn test_postgres() -> String {
    std::env::var("ENRICHER_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "no test PostgreSQL: run the suite with scripts/test, or start one with \
                `PG_PORT=19432 scripts/pg-up` and set \
                ENRICHER_TEST_POSTGRES=postgres://postgres@127.0.0.1:19432/postgres"
        )
    })
}

/// The test server that serves TLS (`scripts/pg-up --tls`, started by
/// scripts/test) and the certificate clients trust for it (self-signed, for
/// localhost and 127.0.0.1).
pub fn test_postgres_tls() -> (String, std::path::PathBuf) {
    let need = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the suite with scripts/test, or start the TLS server with \
                 `PG_PORT=19433 scripts/pg-up --tls` and set ENRICHER_TEST_POSTGRES_TLS=\
                 postgres://postgres@127.0.0.1:19433/postgres and \
                 ENRICHER_TEST_POSTGRES_CA=/tmp/enricher-pg/19433/tls/ca.crt"
            )
        })
    };
    (
        need("ENRICHER_TEST_POSTGRES_TLS"),
        need("ENRICHER_TEST_POSTGRES_CA").into(),
    )
}

/// A table name no other test (or run) uses.
pub fn unique_table(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "claims_{label}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The claims URL of `table` on the server at `base` (a URL without `?`).
pub fn claims_url(base: &str, table: &str) -> String {
    format!("{base}?table={table}&application_name={table}")
}

/// A claim as both sides show it: member, amount text, status, created_date
/// as microseconds since the epoch (text).
pub type ClaimText = (String, String, Option<String>, Option<String>);

/// One connection, used synchronously.
pub struct Pg {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Pg {
    pub fn connect(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(url, NoTls))
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL {url}: {e}"));
        runtime.spawn(connection);
        Self { runtime, client }
    }

    /// Run `sql` (one or more statements); panics with the server's message.
    pub fn execute(&self, sql: &str) {
        if let Err(e) = self.try_execute(sql) {
            panic!("{sql}: {e}");
        }
    }

    pub fn try_execute(&self, sql: &str) -> Result<(), String> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.to_string(),
                None => e.to_string(),
            })
    }

    /// The first column of the first row of `sql`, as a number.
    pub fn number(&self, sql: &str) -> i64 {
        let row = self
            .runtime
            .block_on(self.client.query_one(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.get(0)
    }

    /// A claims table `table` as `claims load` makes it, filled from the
    /// claims CSV `csv` (a server-side COPY: the file must be readable by
    /// the server's user, as the tests' temp files are).
    pub fn claims_table(&self, table: &str, csv: Option<&std::path::Path>) {
        let ddl = enricher::claims_load::CLAIMS_DDL.replacen("claims", table, 1);
        self.execute(&ddl);
        if let Some(csv) = csv {
            self.execute(&format!(
                "COPY {table} FROM '{}' WITH (FORMAT csv, HEADER true); ANALYZE {table}",
                csv.display()
            ));
        }
    }

    /// A login role of its own for the lookup of `table` (it may read it), so
    /// one test can take "the server" away from its lookup alone: see [`Pg::down`].
    pub fn reader_role(&self, table: &str) -> String {
        let role = format!("{table}_r");
        self.execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT SELECT ON {table} TO {role}"
        ));
        role
    }

    /// As a server restart is, for `role`'s sessions: they are ended and no
    /// new one is let in until [`Pg::up`].
    pub fn down(&self, role: &str, application_name: &str) -> i64 {
        self.execute(&format!("ALTER ROLE {role} CONNECTION LIMIT 0"));
        let ended = self.terminate(application_name);
        // pg_terminate_backend only signals: wait until the sessions are gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.number(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application_name}'"
        )) > 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "sessions of {application_name} still there"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        ended
    }

    pub fn up(&self, role: &str) {
        self.execute(&format!("ALTER ROLE {role} CONNECTION LIMIT -1"));
    }

    /// Drop `table` and the roles reading it.
    pub fn drop_table(&self, table: &str, role: Option<&str>) {
        self.execute(&format!("DROP TABLE IF EXISTS {table}"));
        if let Some(role) = role {
            self.execute(&format!("DROP ROLE IF EXISTS {role}"));
        }
    }

    /// End the server sessions of `application_name` (the pool's connections
    /// of one test), as a restart of the server would.
    pub fn terminate(&self, application_name: &str) -> i64 {
        self.number(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = '{application_name}' AND pid <> pg_backend_pid()"
        ))
    }

    /// The rows of `sql`, every value as text.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let messages = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Every claim of `table`.
    pub fn claims(&self, table: &str) -> BTreeMap<String, ClaimText> {
        self.rows(&format!(
            "SELECT claim_id, member_id, claim_amount::text, claim_status, \
             (extract(epoch from created_date) * 1000000)::int8::text FROM {table}"
        ))
        .into_iter()
        .map(|r| {
            let text = |i: usize| r[i].clone();
            (
                text(0).expect("id"),
                (
                    text(1).expect("member"),
                    text(2).expect("amount"),
                    text(3),
                    text(4),
                ),
            )
        })
        .collect()
    }

    /// Drop the slot (once no session holds it), the publication and the table.
    pub fn drop_sync(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let active = self.rows(&format!(
                "SELECT active::text FROM pg_replication_slots WHERE slot_name = '{name}'"
            ));
            match active.first().and_then(|r| r[0].as_deref()) {
                None => break,
                Some("false") => {
                    self.execute(&format!("SELECT pg_drop_replication_slot('{name}')"));
                    break;
                }
                _ if Instant::now() > deadline => panic!("slot {name} still active"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        self.execute(&format!(
            "DROP PUBLICATION IF EXISTS {name}; DROP TABLE IF EXISTS {name}"
        ));
    }
}
