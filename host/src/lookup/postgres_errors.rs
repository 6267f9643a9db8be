//! What a PostgreSQL error means to the lookup: its whole text (the
//! server's message and SQLSTATE, or the chain of causes of a connection
//! error), and its kind: transient (retry), permanent, or interrupted (the
//! query was cancelled because it ran out of time).

use std::error::Error as _;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::error::StoreError;

pub(super) fn pool_error(e: PoolError, shown: &str) -> StoreError {
    match e {
        PoolError::Backend(e) => {
            let error = classify(&e);
            let text = format!("{shown}: {error}");
            match error {
                StoreError::Permanent(_) => StoreError::Permanent(text),
                _ => StoreError::Transient(text),
            }
        }
        PoolError::Timeout(_) => {
            StoreError::Transient(format!("{shown}: no connection to PostgreSQL in time"))
        }
        other => StoreError::Transient(format!("{shown}: {other}")),
    }
}

/// The error's whole story: tokio-postgres's own text names only its kind.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "PostgreSQL {}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let mut text = format!("PostgreSQL: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    if text.contains("server does not support TLS") {
        text.push_str(
            " (the URL's sslmode requires TLS and this server does not offer it: \
             use sslmode=disable or prefer, or turn ssl on in the server)",
        );
    }
    text
}

/// Sort a PostgreSQL error into what the lookup does with it.
pub(super) fn classify(e: &tokio_postgres::Error) -> StoreError {
    let text = describe(e);
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection (I/O, closed, TLS refused...).
        if text.contains("TLS") {
            return StoreError::Permanent(text);
        }
        return StoreError::Transient(text);
    };
    if *code == SqlState::QUERY_CANCELED {
        return StoreError::Interrupted(text);
    }
    // Classes that fail the same way again: syntax or access (42), auth
    // (28), no such database (3D), data (22), and a wrong setting (F0, 0A).
    let class = &code.code()[..2];
    if ["42", "28", "3D", "22", "0A", "F0"].contains(&class) {
        StoreError::Permanent(text)
    } else {
        StoreError::Transient(text)
    }
}
