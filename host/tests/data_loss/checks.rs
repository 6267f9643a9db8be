//! What the data-loss tests read back beyond the shared support: refusals,
//! the claims table's ids and rows, and the answers in output files.

use std::path::Path;
use std::process::Command;

use crate::support::text;
pub use crate::support::{Dir, event, loaded_db as claims_db, stderr_ok as ok};

/// The binary with `args`, in `dir`, with no configuration from outside.
pub fn enricher(dir: &Dir, args: &[&str]) -> Command {
    let mut command = crate::support::enricher(args);
    command.current_dir(&dir.0);
    command
}

/// Runs `command`, which must fail; its stderr (what the user is told).
pub fn refused(mut command: Command) -> String {
    let out = command.output().expect("run enricher");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "enricher should have refused: {stdout}\n{stderr}"
    );
    stderr
}

/// The claim ids in the `claims` table of `db`, sorted.
pub fn claim_ids(db: &Path) -> Vec<String> {
    let conn = duckdb::Connection::open(db).expect("open db");
    let mut statement = conn
        .prepare("SELECT claim_id FROM claims ORDER BY claim_id")
        .expect("prepare");
    let rows = statement.query_map([], |row| row.get(0)).expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

/// Rows of the `claims` table of `db`.
pub fn row_count(db: &Path) -> i64 {
    let conn = duckdb::Connection::open(db).expect("open db");
    conn.query_row("SELECT count(*) FROM claims", [], |row| row.get(0))
        .expect("count")
}

/// `(payment_id, enrichment_status)` of every line of a JSON-lines output,
/// which must end with a whole line.
pub fn answers(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("output file");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a cut line",
        path.display()
    );
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_string();
            (field("payment_id"), field("enrichment_status"))
        })
        .collect()
}
