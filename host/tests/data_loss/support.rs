//! What the data-loss tests share: a scratch folder, the binary, claims
//! files and tables, and the payment ids of output files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder named after one test; removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("enricher-data-loss-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` in the folder as a `&str` argument.
    pub fn arg(&self, name: &str) -> String {
        self.join(name).to_str().expect("utf-8 path").to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with `args`, in `dir`, with no configuration from outside.
pub fn enricher(dir: &Dir, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enricher"));
    command
        .args(args)
        .current_dir(&dir.0)
        .env_remove("DUCKDB_URL")
        .env_remove("ENRICHER_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

fn run(mut command: Command) -> (Output, String, String) {
    let out = command.output().expect("run enricher");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Runs `command`, which must succeed; its stderr, where the summary goes
/// (stdout carries data only).
pub fn ok(command: Command) -> String {
    let (out, stdout, stderr) = run(command);
    assert!(out.status.success(), "enricher failed: {stdout}\n{stderr}");
    stderr
}

/// Runs `command`, which must fail; its stderr (what the user is told).
pub fn refused(command: Command) -> String {
    let (out, stdout, stderr) = run(command);
    assert!(
        !out.status.success(),
        "enricher should have refused: {stdout}\n{stderr}"
    );
    stderr
}

pub const CLAIMS_CSV: &str = "claim_id,member_id,claim_amount,claim_status,created_date\n\
    CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n\
    CLM-002,MBR-100,15.5,,\n";

pub fn event(payment_id: &str, claim_id: &str) -> String {
    format!(
        r#"{{"payment_id":"{payment_id}","claim_id":"{claim_id}","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}}"#
    )
}

/// `claims.duckdb` in `dir`, loaded from [`CLAIMS_CSV`] by the binary.
pub fn claims_db(dir: &Dir) -> PathBuf {
    std::fs::write(dir.join("claims.csv"), CLAIMS_CSV).expect("write claims");
    ok(enricher(
        dir,
        &["claims", "load", "claims.csv", "--db", "claims.duckdb"],
    ));
    dir.join("claims.duckdb")
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
