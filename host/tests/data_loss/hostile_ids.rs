//! `claims load` refuses claim and member ids with control characters or of
//! absurd length, naming the line and the reason like every other row check;
//! the table is kept (strict) or holds only the good rows (`--skip-bad-rows`).

use super::checks::{Dir, claim_ids, claims_db, enricher, ok, refused};

fn load(dir: &Dir, file: &str, flags: &[&str]) -> std::process::Command {
    let mut args = vec!["claims", "load", file, "--db", "claims.duckdb"];
    args.extend_from_slice(flags);
    enricher(dir, &args)
}

#[test]
fn hostile_ids_are_refused_with_their_line() {
    let dir = Dir::new("hostile-ids");
    let db = claims_db(&dir);
    let huge = "9".repeat(1_000_000);
    let csv = format!(
        "claim_id,member_id,claim_amount\n\
         CLM-GOOD,MBR-1,1.00\n\
         CLM\u{0}NUL,MBR-2,2.00\n\
         CLM-ESC,\u{1b}[2JMBR,3.00\n\
         {huge},MBR-4,4.00\n\
         CLM-LONG,{},5.00\n\
         \"CLM\nBREAK\",MBR-6,6.00\n",
        "m".repeat(257)
    );
    std::fs::write(dir.join("hostile.csv"), csv).expect("write");
    let stderr = refused(load(&dir, "hostile.csv", &[]));
    for expected in [
        "5 bad row(s)",
        "line 3: claim_id holds a control character (U+0000 at byte 3) (CLM\\0NUL)",
        "line 4: member_id holds a control character (U+001B at byte 0) (\\u{1b}[2JMBR)",
        "line 5: claim_id is 1000000 bytes long, more than 256 (999",
        "line 6: member_id is 257 bytes long, more than 256 (mmm",
        "line 7: claim_id holds a control character (U+000A at byte 3) (CLM\\nBREAK)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "no raw escape reaches the terminal"
    );
    assert!(stderr.len() < 10_000, "the huge id is not printed whole");
    assert_eq!(claim_ids(&db), ["CLM-001", "CLM-002"], "the table is kept");

    let report = ok(load(&dir, "hostile.csv", &["--skip-bad-rows"]));
    assert!(report.contains("loaded 1 claims"), "{report}");
    assert_eq!(claim_ids(&db), ["CLM-GOOD"]);

    let json = "{\"claim_id\":\"CLM\\u0000J\",\"member_id\":\"MBR-1\",\"claim_amount\":1}\n\
                {\"claim_id\":\"CLM-J\",\"member_id\":\"MBR\\u0007\",\"claim_amount\":1}\n";
    std::fs::write(dir.join("hostile.jsonl"), json).expect("write");
    let stderr = refused(load(&dir, "hostile.jsonl", &[]));
    assert!(
        stderr.contains("line 1: claim_id holds a control character (U+0000 at byte 3)")
            && stderr.contains("line 2: member_id holds a control character (U+0007 at byte 3)"),
        "{stderr}"
    );
    assert_eq!(claim_ids(&db), ["CLM-GOOD"], "the table is kept");
}
