//! `enricher run` refuses, before opening anything for writing, an output
//! that is the input, the claims database or the other output, however the
//! path is spelled (`./x`, `dir/../x`, a symlink, a hard link).

use super::checks::{Dir, claims_db, enricher, event, ok, refused, row_count};

/// `run` with these outputs, reading `events.jsonl` and `claims.duckdb`.
fn run_into(dir: &Dir, enriched: &str, failed: &str) -> std::process::Command {
    enricher(
        dir,
        &[
            "run",
            "--input",
            "events.jsonl",
            "--enriched-out",
            enriched,
            "--failed-out",
            failed,
            "--db",
            "claims.duckdb",
        ],
    )
}

fn write_events(dir: &Dir) -> Vec<u8> {
    let events = format!(
        "{}\n{}\n",
        event("PAY-1", "CLM-001"),
        event("PAY-2", "CLM-404")
    );
    std::fs::write(dir.join("events.jsonl"), &events).expect("write events");
    events.into_bytes()
}

#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_kept() {
    let dir = Dir::new("same-as-input");
    claims_db(&dir);
    let events = write_events(&dir);
    std::os::unix::fs::symlink("events.jsonl", dir.join("soft.jsonl")).expect("symlink");
    std::fs::hard_link(dir.join("events.jsonl"), dir.join("hard.jsonl")).expect("hard link");
    std::fs::create_dir(dir.join("sub")).expect("dir");
    for (enriched, failed, clash) in [
        ("./events.jsonl", "f.jsonl", "--enriched-out ./events.jsonl"),
        ("e.jsonl", "soft.jsonl", "--failed-out soft.jsonl"),
        ("hard.jsonl", "f.jsonl", "--enriched-out hard.jsonl"),
        (
            "e.jsonl",
            "sub/../events.jsonl",
            "--failed-out sub/../events.jsonl",
        ),
    ] {
        let stderr = refused(run_into(&dir, enriched, failed));
        assert!(
            stderr.contains(&format!("{clash} is the same file as --input events.jsonl")),
            "{enriched} {failed}: {stderr}"
        );
        let kept = std::fs::read(dir.join("events.jsonl")).expect("input");
        assert_eq!(kept, events, "the input is untouched");
        assert!(!dir.join("e.jsonl").exists() && !dir.join("f.jsonl").exists());
    }
    // The same files, distinct, run as before.
    let summary = ok(run_into(&dir, "e.jsonl", "f.jsonl"));
    assert!(summary.contains("2 in, 1 enriched, 1 failed"), "{summary}");
}

#[test]
fn an_output_that_is_the_database_is_refused_and_the_table_kept() {
    let dir = Dir::new("same-as-db");
    let db = claims_db(&dir);
    write_events(&dir);
    let before = std::fs::read(&db).expect("db");
    std::fs::create_dir(dir.join("sub")).expect("dir");
    let stderr = refused(run_into(&dir, "sub/../claims.duckdb", "f.jsonl"));
    assert!(
        stderr
            .contains("--enriched-out sub/../claims.duckdb is the same file as --db claims.duckdb"),
        "{stderr}"
    );
    // The database named by DUCKDB_URL instead of --db.
    let mut command = enricher(
        &dir,
        &[
            "run",
            "--input",
            "events.jsonl",
            "--enriched-out",
            "e.jsonl",
            "--failed-out",
            &dir.arg("claims.duckdb"),
        ],
    );
    command.env("DUCKDB_URL", "jdbc:duckdb:./claims.duckdb");
    let stderr = refused(command);
    assert!(
        stderr.contains("is the same file as --db ./claims.duckdb"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).expect("db"),
        before,
        "database untouched"
    );
    assert_eq!(row_count(&db), 2);
    assert!(!dir.join("e.jsonl").exists() && !dir.join("f.jsonl").exists());
}

#[test]
fn two_outputs_that_are_one_file_are_refused_before_either_is_created() {
    let dir = Dir::new("same-outputs");
    claims_db(&dir);
    write_events(&dir);
    let stderr = refused(run_into(
        &dir,
        "out/new/same.jsonl",
        "out/new/../new/same.jsonl",
    ));
    assert!(
        stderr.contains(
            "--failed-out out/new/../new/same.jsonl is the same file as \
             --enriched-out out/new/same.jsonl"
        ),
        "{stderr}"
    );
    assert!(!dir.join("out").exists(), "no folder was created");
    std::fs::write(dir.join("same.jsonl"), "keep me\n").expect("write");
    refused(run_into(&dir, "same.jsonl", "./same.jsonl"));
    let kept = std::fs::read_to_string(dir.join("same.jsonl")).expect("read");
    assert_eq!(kept, "keep me\n");
    // Throwing both away is no clash.
    let summary = ok(run_into(&dir, "/dev/null", "/dev/null"));
    assert!(summary.contains("2 in"), "{summary}");
}
