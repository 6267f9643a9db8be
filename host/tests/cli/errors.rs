//! Errors of the `enricher` binary that name their cause: each refusal says
//! which setting or file is wrong and what would be valid, each cause is
//! printed once, and variables that look like settings are reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Dir, enricher, event, loaded_db, path};

/// Run `cmd`, require it to fail, and return its `error: ...` text.
fn error_of(mut cmd: Command) -> String {
    let out = cmd.output().expect("run enricher");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a refusal; stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    match lines.iter().position(|l| l.starts_with("error: ")) {
        Some(at) => lines[at..].join("\n"),
        None => panic!("no error line in: {stderr}"),
    }
}

/// The first `X: X` in `text` (a cause printed twice in a row), if any.
fn repeated_cause(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(": ").collect();
    for len in 1..=parts.len() / 2 {
        for i in 0..=parts.len() - 2 * len {
            if parts[i..i + len] == parts[i + len..i + 2 * len] {
                return Some(parts[i..i + len].join(": "));
            }
        }
    }
    None
}

/// `enricher run` in file mode on `input`, writing into `dir`, with `--db db` if given.
fn run(dir: &Dir, input: &Path, enriched: &Path, db: Option<&Path>) -> Command {
    let failed = dir.join("failed.jsonl");
    let mut args = vec![
        "run",
        "--input",
        path(input),
        "--enriched-out",
        path(enriched),
        "--failed-out",
        path(&failed),
    ];
    if let Some(db) = db {
        args.extend(["--db", path(db)]);
    }
    enricher(&args)
}

fn events(dir: &Dir) -> PathBuf {
    let input = dir.join("events.jsonl");
    std::fs::write(&input, event("PAY-1", "CLM-001")).expect("write events");
    input
}

#[test]
fn a_claims_table_of_another_shape_is_refused_at_start_with_the_expected_table() {
    let dir = Dir::new("err-schema");
    let db = dir.join("other.duckdb");
    let conn = duckdb::Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TABLE claims (claim_id VARCHAR, member_id VARCHAR, claim_amount DOUBLE);
         INSERT INTO claims VALUES ('CLM-001', 'MBR-1', 2000.0);",
    )
    .expect("a table of another shape");
    drop(conn);
    let enriched = dir.join("enriched.jsonl");
    let error = error_of(run(&dir, &events(&dir), &enriched, Some(&db)));
    for expected in [
        &format!("claims database {}: ", db.display()),
        "(claim_id is not the primary key; member_id allows NULL; claim_amount is DOUBLE, not DECIMAL(10,2); \
         claim_status is missing; created_date is missing)",
        "expected claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL, \
         claim_amount DECIMAL(10,2) NOT NULL, claim_status VARCHAR, created_date TIMESTAMP)",
        "enricher claims load",
    ] {
        assert!(error.contains(expected), "{expected:?} not in: {error}");
    }
    assert!(!enriched.exists(), "refused before any output is written");
}

#[test]
fn settings_without_a_valid_value_name_the_variable_and_what_is_valid() {
    let dir = Dir::new("err-settings");
    let db = loaded_db(&dir);
    let input = events(&dir);
    let enriched = dir.join("enriched.jsonl");
    let cases: [(&str, &str, Option<&Path>, &[&str]); 4] = [
        (
            "DUCKDB_URL",
            "",
            None,
            &["duckdb.url (DUCKDB_URL): empty; expected", "claims.duckdb"],
        ),
        (
            "DUCKDB_URL",
            ":memory:",
            None,
            &["DUCKDB_URL", "in-memory database", "claims load"],
        ),
        (
            "DUCKDB_THREADS",
            "0",
            Some(db.as_path()),
            &["duckdb.threads (DUCKDB_THREADS): must be at least 1"],
        ),
        (
            "LOOKUP_CACHE_TTL",
            "-1s",
            Some(db.as_path()),
            &[
                "LOOKUP_CACHE_TTL=\"-1s\"",
                "a duration such as",
                "cannot be negative",
            ],
        ),
    ];
    for (name, value, db, expected) in cases {
        let mut cmd = run(&dir, &input, &enriched, db);
        cmd.env(name, value);
        let error = error_of(cmd);
        for part in expected {
            assert!(
                error.contains(part),
                "{name}={value:?}: {part:?} not in: {error}"
            );
        }
        assert!(!error.contains("pg_class"), "{error}");
        assert_eq!(repeated_cause(&error), None, "{error}");
    }
}

#[test]
fn a_missing_database_is_named_and_not_created() {
    let dir = Dir::new("err-no-db");
    let db = dir.join("nowhere.duckdb");
    let error = error_of(run(&dir, &events(&dir), &dir.join("e.jsonl"), Some(&db)));
    let expected = format!("claims database {} does not exist", db.display());
    assert!(error.contains(&expected), "{error}");
    assert!(error.contains("enricher claims load"), "{error}");
    assert!(!db.exists(), "no empty database was made");
}

#[test]
fn an_input_directory_and_a_full_disk_name_the_file() {
    let dir = Dir::new("err-io");
    let db = loaded_db(&dir);
    let folder = dir.join("a-folder");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let error = error_of(run(&dir, &folder, &dir.join("e.jsonl"), Some(&db)));
    // Refused before the outputs are created (reading it would fail only after).
    let expected = format!("--input {} is a folder", folder.display());
    assert!(error.contains(&expected), "{error}");
    assert!(!dir.join("e.jsonl").exists(), "no output was created");

    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("no /dev/full here: the full-disk case is not checked");
        return;
    }
    let error = error_of(run(&dir, &events(&dir), full, Some(&db)));
    assert!(
        error.contains("cannot write /dev/full: No space left on device"),
        "{error}"
    );
}

#[test]
fn each_cause_is_printed_once() {
    let dir = Dir::new("err-once");
    let missing = dir.join("missing.toml");
    let config = error_of(enricher(&[
        "--config",
        path(&missing),
        "generate",
        "--count",
        "1",
    ]));
    let csv = dir.join("missing.csv");
    let load = error_of(enricher(&[
        "claims",
        "load",
        path(&csv),
        "--db",
        path(&dir.join("c.duckdb")),
    ]));
    for (error, file) in [(&config, &missing), (&load, &csv)] {
        assert!(error.contains(&file.display().to_string()), "{error}");
        assert_eq!(
            error.matches("No such file or directory").count(),
            1,
            "{error}"
        );
    }
    // A database that is not a DuckDB file: DuckDB's own message, once.
    let not_db = dir.join("not-a-db.duckdb");
    std::fs::write(&not_db, "claim_id,member_id\n").expect("write");
    let store = error_of(run(
        &dir,
        &events(&dir),
        &dir.join("e.jsonl"),
        Some(&not_db),
    ));
    assert!(store.starts_with("error: claims store: "), "{store}");
    for error in [&config, &load, &store] {
        assert_eq!(repeated_cause(error), None, "{error}");
    }
}

#[test]
fn a_claims_csv_whose_header_is_not_utf8_names_the_file_line_and_column() {
    let dir = Dir::new("err-utf8-header");
    let csv = dir.join("latin1.csv");
    std::fs::write(
        &csv,
        b"\nclaim_id,member_id,claim_amount,claim_status,cr\xe9ated_date\nCLM-1,MBR-1,1.00,OK,\n",
    )
    .expect("write");
    let error = error_of(enricher(&[
        "claims",
        "load",
        path(&csv),
        "--db",
        path(&dir.join("c.duckdb")),
    ]));
    assert_eq!(
        error,
        format!(
            "error: cannot read {}: line 2: the header row is not valid UTF-8 (column 5, after 2 valid byte(s)); save the file as UTF-8",
            csv.display()
        )
    );
    assert!(!error.contains("Utf8"), "no Debug dump: {error}");
}

#[test]
fn a_variable_that_looks_like_a_setting_is_reported_with_the_nearest_name() {
    let mut cmd = enricher(&["generate", "--count", "1"]);
    cmd.env("ENRICHER_LOOKUP_CACHE", "full")
        .env("KAFKA_BOOTSTRAP_SERVER", "localhost:9092")
        .env("ENRICHER_TEST_ANYTHING", "1")
        .env("ENRICHER_ADMIN_ADDR", "127.0.0.1:1")
        .env("KAFKA_PORT", "9092")
        .env("LOOKUP_CACHE", "full");
    let out = cmd.output().expect("run enricher");
    assert!(out.status.success(), "a warning does not stop the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "environment variable ENRICHER_LOOKUP_CACHE is not a setting and is ignored: \
         did you mean LOOKUP_CACHE (lookup.cache)?",
        "environment variable KAFKA_BOOTSTRAP_SERVER is not a setting and is ignored: \
         did you mean KAFKA_BOOTSTRAP_SERVERS (kafka.bootstrap-servers)?",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
    }
    for quiet in [
        "ENRICHER_TEST_ANYTHING",
        "ENRICHER_ADMIN_ADDR",
        "KAFKA_PORT",
        "variable LOOKUP_CACHE ",
    ] {
        assert!(!stderr.contains(quiet), "{quiet} reported: {stderr}");
    }
}
