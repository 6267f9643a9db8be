//! Opening DuckDB: every connection the host makes to a claims database
//! goes through here, so each gets the same guards.
//!
//! - A file that exists and is not a DuckDB database (by its header) is
//!   refused by name; DuckDB itself would otherwise treat some such files as
//!   empty databases and lose what is written to them.
//! - Extensions are never installed nor loaded on their own: a path such as
//!   `md:...` or a query naming a format DuckDB has as an extension fails at
//!   once instead of trying to download code.
//! - `duckdb.threads` (`DUCKDB_THREADS`) is applied, and a value DuckDB
//!   refuses is reported with the setting's name.
//!
//! [`classify`] sorts DuckDB's errors (opening or querying) into what the lookup does with them.

use std::io::Read;
use std::path::Path;

use duckdb::{AccessMode, Config, Connection};

use crate::error::StoreError;

/// Where DuckDB's magic bytes sit in a database file (after an 8-byte checksum).
const MAGIC_AT: usize = 8;
const MAGIC: &[u8; 4] = b"DUCK";

/// A read-only connection to an existing database file.
pub fn open_read_only(path: &Path, threads: Option<u32>) -> Result<Connection, StoreError> {
    check_header(path)?;
    let config = settings(threads)?
        .access_mode(AccessMode::ReadOnly)
        .map_err(classify)?;
    Connection::open_with_flags(path, config).map_err(classify)
}

/// A read-write connection, creating the file (and its folder) when missing.
pub fn open_writable(path: &Path, threads: Option<u32>) -> Result<Connection, StoreError> {
    check_header(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Permanent(format!("creating {}: {e}", parent.display())))?;
    }
    Connection::open_with_flags(path, settings(threads)?).map_err(classify)
}

/// An empty in-memory database.
pub fn open_in_memory(threads: Option<u32>) -> Result<Connection, StoreError> {
    Connection::open_in_memory_with_flags(settings(threads)?).map_err(classify)
}

/// The settings of every connection: no extension autoload or autoinstall,
/// and the configured threads.
fn settings(threads: Option<u32>) -> Result<Config, StoreError> {
    let mut config = Config::default()
        .enable_autoload_extension(false)
        .map_err(classify)?;
    if let Some(n) = threads {
        config = config.threads(i64::from(n)).map_err(|e| {
            StoreError::Permanent(format!(
                "duckdb.threads (DUCKDB_THREADS) = {n}: DuckDB refused it ({e}); give a number \
                 of threads from 1 up, or leave it unset"
            ))
        })?;
    }
    Ok(config)
}

/// Refuse a file that exists, has content and does not start with DuckDB's
/// header. A missing or empty file is left to DuckDB (it creates a database).
pub fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Permanent(format!(
                "opening {}: {e}",
                path.display()
            )));
        }
    };
    let mut head = [0u8; MAGIC_AT + MAGIC.len()];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(StoreError::Permanent(format!(
                    "reading {}: {e}",
                    path.display()
                )));
            }
        }
    }
    if read == 0 || head[MAGIC_AT..] == MAGIC[..] {
        return Ok(());
    }
    Err(StoreError::Permanent(format!(
        "{} exists and is not a DuckDB database (its first bytes are not DuckDB's header); \
         give the path of a claims database (`enricher claims load FILE --db NEW.duckdb` creates one)",
        path.display()
    )))
}

/// Sort a DuckDB error into what the lookup does with it.
pub fn classify(e: duckdb::Error) -> StoreError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("interrupt") {
        StoreError::Interrupted(text)
    } else if [
        "catalog error",
        "binder error",
        "parser error",
        "conversion error",
        "does not exist",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        StoreError::Permanent(text)
    } else {
        StoreError::Transient(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder of its own under the system's temporary folder.
    fn scratch(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "enricher-duckdb-open-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_by_name_and_left_as_it_was() {
        let dir = scratch("not-a-db");
        let events = dir.join("ev.jsonl");
        let text = "{\"payment_id\":\"P1\"}\n".repeat(10);
        std::fs::write(&events, &text).expect("write");
        for open in [open_read_only, open_writable] {
            let err = open(&events, None).expect_err("refused").to_string();
            assert!(err.contains("is not a DuckDB database"), "{err}");
            assert!(err.contains("ev.jsonl"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&events).expect("read"), text);
    }

    #[test]
    fn a_database_file_and_a_new_path_open() {
        let dir = scratch("new");
        let db = dir.join("sub").join("c.duckdb");
        let conn = open_writable(&db, Some(1)).expect("creates");
        conn.execute_batch("CREATE TABLE t(x INT); INSERT INTO t VALUES (1)")
            .expect("write");
        drop(conn);
        let conn = open_read_only(&db, None).expect("reopens");
        let x: i32 = conn
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .expect("row");
        assert_eq!(x, 1);
    }

    #[test]
    fn no_extension_is_loaded_on_its_own() {
        let conn = open_in_memory(None).expect("db");
        let on: String = conn
            .query_row(
                "SELECT current_setting('autoinstall_known_extensions')::VARCHAR || ',' || \
                 current_setting('autoload_known_extensions')::VARCHAR",
                [],
                |r| r.get(0),
            )
            .expect("settings");
        assert_eq!(on, "false,false");
    }
}
