//! A PostgreSQL claims URL, read without connecting: `postgres://` (also
//! `postgresql://` and the original job's JDBC form `jdbc:postgresql://`)
//! `[user[:password]@]host[:port][/dbname][?table=claims&sslmode=...]`.
//! The store (`lookup/postgres_store.rs`) turns it into a client config; this
//! file only reads it, so `config check` can refuse a bad one and print it
//! with its password masked.

use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::admin::{MASK, Secret};

/// The parameters a claims URL may carry after `?`.
const PARAMETERS: &str =
    "table, sslmode, sslrootcert, connect_timeout, application_name, user, password, dbname";

/// TLS to the server, libpq's `sslmode` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without checking its certificate (libpq's default).
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS with a certificate signed by a trusted CA (`sslrootcert`), any host name.
    VerifyCa,
    /// TLS with a trusted certificate for the host name connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "allow" | "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            _ => Err(format!(
                "sslmode={text}: expected disable, prefer, require, verify-ca or verify-full"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where the claims table is in PostgreSQL and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresTarget {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    /// From the URL, `claims.password` or `claims.password-file`.
    pub password: Option<Secret>,
    pub dbname: Option<String>,
    /// The table as given (`claims`, `public.claims`).
    pub table: String,
    pub sslmode: SslMode,
    /// PEM file of the CA certificates trusted for `verify-ca`/`verify-full`.
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
}

/// Whether `url` names PostgreSQL (else it is a DuckDB file).
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["postgres://", "postgresql://", "jdbc:postgresql://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// `url` with the password of a PostgreSQL URL (user info or `password=`)
/// replaced by `***`; any other text as it is.
pub fn masked_url(url: &str) -> String {
    if !is_postgres_url(url) {
        return url.to_owned();
    }
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let mut shown = String::with_capacity(url.len());
    match url[start..end].rfind('@').map(|at| start + at) {
        Some(at) => match url[start..at].find(':') {
            Some(colon) => {
                shown.push_str(&url[..start + colon + 1]);
                shown.push_str(MASK);
                shown.push_str(&url[at..end]);
            }
            None => shown.push_str(&url[..end]),
        },
        None => shown.push_str(&url[..end]),
    }
    let rest = &url[end..];
    match rest.split_once('?') {
        None => shown.push_str(rest),
        Some((path, query)) => {
            shown.push_str(path);
            shown.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            shown.push_str(&params.join("&"));
        }
    }
    shown
}

fn decode(text: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|t| t.into_owned())
        .map_err(|_| format!("{text:?} is not UTF-8 once percent-decoded"))
}

impl PostgresTarget {
    /// Read a PostgreSQL URL; the error says what is wrong (never the password).
    pub fn parse(url: &str) -> Result<Self, String> {
        let shown = masked_url(url);
        let fail = |why: String| format!("{shown}: {why}");
        let url = url.trim();
        let start = url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &url[start..];
        let (authority, rest) = rest
            .find(['/', '?'])
            .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let mut target = PostgresTarget {
            host: "localhost".into(),
            port: 5432,
            user: None,
            password: None,
            dbname: None,
            table: "claims".into(),
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: None,
            application_name: None,
        };
        if let Some(info) = userinfo {
            let (user, password) = info
                .split_once(':')
                .map_or((info, None), |(u, p)| (u, Some(p)));
            target.user = Some(decode(user).map_err(fail)?).filter(|u| !u.is_empty());
            if let Some(password) = password {
                target.password = Some(Secret(decode(password).map_err(fail)?));
            }
        }
        if hostport.contains(',') {
            return Err(fail(
                "give one host (several hosts are not supported)".into(),
            ));
        }
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| fail("an IPv6 host needs its closing ]".into()))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            target.host = decode(host).map_err(fail)?;
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            target.port = port
                .parse()
                .map_err(|_| fail(format!("port {port:?} is not a port number")))?;
        }
        let db = path.trim_start_matches('/');
        if !db.is_empty() {
            target.dbname = Some(decode(db).map_err(fail)?);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value).map_err(fail)?;
            match key {
                "table" => target.table = value,
                "sslmode" => target.sslmode = SslMode::parse(&value).map_err(fail)?,
                "sslrootcert" => target.sslrootcert = Some(PathBuf::from(value)),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        fail(format!("connect_timeout={value}: expected whole seconds"))
                    })?;
                    target.connect_timeout = Some(Duration::from_secs(secs));
                }
                "application_name" => target.application_name = Some(value),
                "user" => target.user = Some(value),
                "password" => target.password = Some(Secret(value)),
                "dbname" => target.dbname = Some(value),
                other => {
                    return Err(fail(format!(
                        "unknown parameter {other:?}; a claims URL takes {PARAMETERS}"
                    )));
                }
            }
        }
        target.table_parts().map_err(fail)?;
        if matches!(target.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
            && target.sslrootcert.is_none()
        {
            return Err(fail(format!(
                "sslmode={} checks the server's certificate: give the CA certificates \
                 that sign it as sslrootcert=/path/to/ca.pem",
                target.sslmode.name()
            )));
        }
        Ok(target)
    }

    /// The table's name as SQL, each part quoted (`"public"."claims"`). A part
    /// in double quotes keeps its case; any other is folded to lower case, as
    /// PostgreSQL folds an unquoted name.
    pub fn table_sql(&self) -> String {
        self.table_parts()
            .unwrap_or_default()
            .iter()
            .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(".")
    }

    fn table_parts(&self) -> Result<Vec<String>, String> {
        let parts: Vec<&str> = self.table.split('.').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(format!(
                "table={:?}: expected a table name, optionally with its schema (public.claims)",
                self.table
            ));
        }
        Ok(parts
            .iter()
            .map(
                |p| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                    Some(quoted) => quoted.to_owned(),
                    None => p.to_ascii_lowercase(),
                },
            )
            .collect())
    }

    /// The URL as printed in logs and errors: no password.
    pub fn shown(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| match self.password {
                Some(_) => format!("{u}:{MASK}@"),
                None => format!("{u}@"),
            })
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "postgres://{user}{host}:{}/{}?table={}&sslmode={}",
            self.port,
            self.dbname.as_deref().unwrap_or_default(),
            self.table,
            self.sslmode.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_the_url_is_read() {
        let t = PostgresTarget::parse(
            "postgres://svc%40pay:p%3Ass@db.internal:6432/payments?table=Billing.\"Claims\"&sslmode=require&connect_timeout=5&application_name=enricher",
        )
        .expect("valid");
        assert_eq!(t.user.as_deref(), Some("svc@pay"));
        assert_eq!(t.password.as_ref().map(|p| p.0.as_str()), Some("p:ss"));
        assert_eq!((t.host.as_str(), t.port), ("db.internal", 6432));
        assert_eq!(t.dbname.as_deref(), Some("payments"));
        assert_eq!(t.table_sql(), "\"billing\".\"Claims\"");
        assert_eq!(t.sslmode, SslMode::Require);
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(5)));
        let shown = t.shown();
        assert!(
            shown.starts_with("postgres://svc@pay:***@db.internal:6432/payments"),
            "{shown}"
        );
        assert!(!shown.contains("p:ss"));

        let jdbc = PostgresTarget::parse("jdbc:postgresql://[::1]/claimsdb?user=a&password=b")
            .expect("jdbc form");
        assert_eq!((jdbc.host.as_str(), jdbc.port), ("::1", 5432));
        assert_eq!(jdbc.user.as_deref(), Some("a"));
        assert_eq!(
            (jdbc.table.as_str(), jdbc.sslmode),
            ("claims", SslMode::Prefer)
        );
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        let why = |url: &str| PostgresTarget::parse(url).expect_err(url);
        let e = why("postgres://u:hunter2@h/db?tabel=claims");
        assert!(
            e.contains("unknown parameter \"tabel\"") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(why("postgres://h:99999/db").contains("not a port number"));
        assert!(why("postgres://h/db?sslmode=strict").contains("verify-full"));
        assert!(why("postgres://h/db?sslmode=verify-full").contains("sslrootcert"));
        assert!(why("postgres://h/db?table=a.b.c").contains("schema"));
        assert!(why("postgres://h1,h2/db").contains("one host"));
    }

    #[test]
    fn a_url_password_is_masked_wherever_it_is() {
        assert_eq!(
            masked_url("postgres://u:secret@h:5432/db?table=claims"),
            "postgres://u:***@h:5432/db?table=claims"
        );
        assert_eq!(
            masked_url("jdbc:postgresql://h/db?user=u&password=secret&table=t"),
            "jdbc:postgresql://h/db?user=u&password=***&table=t"
        );
        assert_eq!(masked_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(masked_url("claims.duckdb"), "claims.duckdb");
    }
}
