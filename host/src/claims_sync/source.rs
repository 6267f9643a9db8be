//! Where `claims sync` reads from: the `postgres://` URL as both clients take
//! it (tokio-postgres for SQL, pgwire-replication for the stream), and the
//! table, slot and publication names, checked here because they are written
//! into SQL and replication commands (quoted, never bound).

use std::str::FromStr;

use pgwire_replication::{Lsn, ReplicationConfig};
use tokio_postgres::config::{Host, SslMode};

use super::{SyncError, SyncOptions};

/// Both sessions' output pinned to ISO dates, whatever the server's default:
/// `created_date` arrives as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
const SESSION_OPTIONS: &str = "-c DateStyle=ISO,MDY";
const APPLICATION_NAME: &str = "enricher claims sync";

/// The source of one run.
#[derive(Debug, Clone)]
pub struct SyncSource {
    /// The plain SQL session's settings.
    pub(super) sql: tokio_postgres::Config,
    /// The replication session's settings.
    pub(super) replication: ReplicationConfig,
    /// `(schema, table)`; the schema is `public` unless named.
    pub(super) table: (String, String),
    pub(super) slot: String,
    pub(super) publication: String,
}

impl SyncSource {
    /// Check `options` and build both clients' settings.
    pub fn parse(options: &SyncOptions) -> Result<Self, SyncError> {
        let bad = |why: String| SyncError::Setup(format!("--from: {why}"));
        let (url, table_param) = split_table_param(&options.from);
        let mut sql = tokio_postgres::Config::from_str(&url).map_err(|e| bad(e.to_string()))?;
        if sql.get_ssl_mode() == SslMode::Require {
            return Err(bad("sslmode=require: `claims sync` connects without TLS in this \
                 version (sslmode=disable or prefer); run it next to the database or through a tunnel"
                .into()));
        }
        if sql.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            sql.password(password);
        }
        sql.options(SESSION_OPTIONS)
            .application_name(APPLICATION_NAME);
        let user = sql
            .get_user()
            .ok_or_else(|| bad("no user (postgres://USER@host/db)".into()))?
            .to_owned();
        let host = match sql.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(dir)) => dir.display().to_string(),
            None => return Err(bad("no host (postgres://user@HOST/db)".into())),
        };
        let port = sql.get_ports().first().copied().unwrap_or(5432);
        let database = sql.get_dbname().unwrap_or(&user).to_owned();
        let password = sql
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let table = options
            .table
            .clone()
            .or(table_param)
            .unwrap_or_else(|| "claims".into());
        let table = table_name(&table)?;
        let slot = checked("--slot", &options.slot, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        })?;
        let publication = checked("--publication", &options.publication, |c| {
            c.is_ascii_alphanumeric() || c == '_'
        })?;
        let replication =
            ReplicationConfig::new(host, user, password, database, &slot, &*publication)
                .with_port(port)
                // A logical slot streams from its confirmed position when asked for 0/0.
                .with_start_lsn(Lsn::ZERO)
                .with_status_interval(std::time::Duration::from_millis(500))
                .with_options(SESSION_OPTIONS)
                .with_application_name(APPLICATION_NAME);
        Ok(Self {
            sql,
            replication,
            table,
            slot,
            publication,
        })
    }

    /// The table as SQL (`"schema"."table"`).
    pub(super) fn table_sql(&self) -> String {
        format!("\"{}\".\"{}\"", self.table.0, self.table.1)
    }

    /// The table as the status line names it.
    pub fn table_text(&self) -> String {
        format!("{}.{}", self.table.0, self.table.1)
    }
}

/// The URL without its `table=` parameter (the lookup URL's, which
/// tokio-postgres does not know), and that parameter.
fn split_table_param(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut table = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("table=") {
            Some(name) => {
                table = Some(name.to_owned());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, table)
}

/// `name` or `schema.name`, each part letters, digits and `_` (case kept).
fn table_name(text: &str) -> Result<(String, String), SyncError> {
    let part = |p: &str| checked("--table", p, |c| c.is_ascii_alphanumeric() || c == '_');
    match text.split_once('.') {
        Some((schema, table)) => Ok((part(schema)?, part(table)?)),
        None => Ok(("public".into(), part(text)?)),
    }
}

fn checked(flag: &str, name: &str, allowed: impl Fn(char) -> bool) -> Result<String, SyncError> {
    if name.is_empty() || name.len() > 63 || !name.chars().all(allowed) {
        return Err(SyncError::Setup(format!(
            "{flag} {name:?}: use 1 to 63 letters, digits or `_`{}",
            if flag == "--slot" { " (lowercase)" } else { "" }
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(from: &str, table: Option<&str>) -> SyncOptions {
        SyncOptions {
            from: from.into(),
            table: table.map(str::to_owned),
            slot: "enricher".into(),
            publication: "enricher".into(),
            status_every: None,
        }
    }

    #[test]
    fn the_url_gives_both_sessions_and_the_table_comes_from_the_flag_or_the_url() {
        let source = SyncSource::parse(&options(
            "postgres://app:pw@db.local:6543/claimsdb?table=c2",
            None,
        ))
        .expect("valid");
        assert_eq!(source.table, ("public".into(), "c2".into()));
        let r = &source.replication;
        assert_eq!(
            (
                r.host.as_str(),
                r.port,
                r.user.as_str(),
                r.password.as_str(),
                r.database.as_str()
            ),
            ("db.local", 6543, "app", "pw", "claimsdb")
        );
        let source =
            SyncSource::parse(&options("postgres://app@h/db", Some("ops.claims"))).expect("valid");
        assert_eq!(source.table_sql(), "\"ops\".\"claims\"");
        assert_eq!(source.replication.database, "db");
        let source = SyncSource::parse(&options("postgres://app@h", None)).expect("valid");
        assert_eq!(
            (
                source.table.1.as_str(),
                source.replication.database.as_str()
            ),
            ("claims", "app")
        );
    }

    #[test]
    fn names_written_into_commands_are_refused_unless_plain() {
        for (table, slot) in [(Some("x; drop"), "ok"), (None, "Upper"), (None, "a-b")] {
            let mut o = options("postgres://u@h/db", table);
            o.slot = slot.into();
            let e = SyncSource::parse(&o).expect_err("refused").to_string();
            assert!(e.contains("letters, digits"), "{e}");
        }
        let e = SyncSource::parse(&options("postgres://u@h/db?sslmode=require", None))
            .expect_err("no TLS yet")
            .to_string();
        assert!(e.contains("without TLS"), "{e}");
    }
}
