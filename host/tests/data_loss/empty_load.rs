//! `claims load` never replaces a table with nothing by mistake: a
//! header-only CSV, an empty JSON-lines file, or a file whose every row is
//! bad (with `--skip-bad-rows`) is refused and the table kept, unless
//! `--allow-empty` says it is meant.

use super::checks::{Dir, enricher, ok, refused, row_count};

fn load(dir: &Dir, file: &str, flags: &[&str]) -> std::process::Command {
    let mut args = vec!["claims", "load", file, "--db", "claims.duckdb"];
    args.extend_from_slice(flags);
    enricher(dir, &args)
}

#[test]
fn an_empty_claims_file_does_not_replace_a_ten_thousand_row_table() {
    let dir = Dir::new("empty-load");
    let db = dir.join("claims.duckdb");
    ok(enricher(
        &dir,
        &[
            "generate",
            "--count",
            "1",
            "--claims",
            "10000",
            "--out",
            "events.jsonl",
            "--claims-out",
            "claims.csv",
        ],
    ));
    let loaded = ok(load(&dir, "claims.csv", &[]));
    assert!(loaded.contains("loaded 10000 claims"), "{loaded}");

    std::fs::write(
        dir.join("header.csv"),
        "claim_id,member_id,claim_amount,claim_status,created_date\n",
    )
    .expect("write");
    std::fs::write(dir.join("empty.jsonl"), "").expect("write");
    std::fs::write(dir.join("empty.csv"), "").expect("write");
    std::fs::write(
        dir.join("bad.csv"),
        "claim_id,member_id,claim_amount\nCLM-1,MBR-1,lots\nCLM-2,,1.00\n",
    )
    .expect("write");
    for (file, flags) in [
        ("header.csv", &[][..]),
        ("empty.jsonl", &[][..]),
        ("empty.csv", &[][..]),
        ("header.csv", &["--skip-bad-rows"][..]),
        ("bad.csv", &["--skip-bad-rows"][..]),
    ] {
        let stderr = refused(load(&dir, file, flags));
        assert!(
            stderr.contains(&format!("no claims to load from {file}"))
                && stderr.contains("the claims table is kept")
                && stderr.contains("--allow-empty"),
            "{file} {flags:?}: {stderr}"
        );
        assert_eq!(
            row_count(&db),
            10_000,
            "{file} {flags:?}: the table is kept"
        );
    }
    let stderr = refused(load(&dir, "bad.csv", &["--skip-bad-rows"]));
    assert!(
        stderr.contains("(all 2 row(s) are bad)")
            && stderr.contains("line 2: claim_amount is not a decimal number (lots)")
            && stderr.contains("line 3: missing or empty member_id"),
        "{stderr}"
    );

    // Asked for: the table is emptied, by a header-only file or an empty one.
    let emptied = ok(load(&dir, "header.csv", &["--allow-empty"]));
    assert!(emptied.contains("loaded 0 claims"), "{emptied}");
    assert_eq!(row_count(&db), 0);
    ok(load(&dir, "claims.csv", &[]));
    assert_eq!(row_count(&db), 10_000);
    let emptied = ok(load(&dir, "empty.csv", &["--allow-empty"]));
    assert!(emptied.contains("loaded 0 claims"), "{emptied}");
    assert_eq!(row_count(&db), 0);
}
