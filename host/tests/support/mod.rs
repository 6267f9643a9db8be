//! What the binary's tests share (each test crate takes it with
//! `#[path = "support/mod.rs"] mod support;`): a scratch folder, the binary
//! with no configuration from outside, runs that must succeed, the test
//! claims and events, claims databases loaded by the binary, JSON-lines
//! outputs, the test brokers, and waiting for a condition. `host` starts a
//! long-running host and reads its admin address; `prom` parses `/metrics`;
//! `faults` owns the fault tests' broker and runs `enricher run` against it.

// Each test crate uses a part of this module.
#![allow(dead_code)]

pub mod faults;
pub mod host;
pub mod image;
pub mod kafka;
pub mod lineage;
pub mod prom;
pub mod raw_log;

use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A fresh folder named after one test; removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("enricher-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` in the folder as a `&str` argument.
    pub fn arg(&self, name: &str) -> String {
        self.join(name).to_str().expect("utf-8 path").to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `p` as a `&str` argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The binary under test (`ENRICHER_TEST_BIN` overrides it, e.g. a copy
/// taken when several checkouts share one target folder).
pub fn binary() -> PathBuf {
    std::env::var_os("ENRICHER_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_enricher")))
}

/// The binary with `args`, with no configuration from outside (no
/// `DUCKDB_URL`, no `ENRICHER_CONFIG`) and warnings only.
pub fn enricher(args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_remove("DUCKDB_URL")
        .env_remove("ENRICHER_CONFIG")
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs `cmd`, which must succeed; its output.
pub fn run_ok(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().expect("run enricher");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Runs `cmd`, which must succeed; its stdout.
pub fn ok(cmd: impl BorrowMut<Command>) -> String {
    text(&run_ok(cmd).stdout)
}

/// Runs `cmd`, which must succeed; its stderr, where summaries go.
pub fn stderr_ok(cmd: impl BorrowMut<Command>) -> String {
    text(&run_ok(cmd).stderr)
}

/// Runs `cmd`, which must succeed and print nothing on stdout; its summary (stderr).
pub fn summary_of(cmd: impl BorrowMut<Command>) -> String {
    let out = run_ok(cmd);
    assert_eq!(text(&out.stdout), "", "the summary goes to stderr");
    text(&out.stderr)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Two claims, one with every column and one with empty optional ones.
pub const CLAIMS_CSV: &str = "claim_id,member_id,claim_amount,claim_status,created_date\n\
    CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n\
    CLM-002,MBR-100,15.5,,\n";

/// A payment event of 1500.00 for `claim_id`.
pub fn event(payment_id: &str, claim_id: &str) -> String {
    format!(
        r#"{{"payment_id":"{payment_id}","claim_id":"{claim_id}","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}}"#
    )
}

/// `dir/claims.duckdb`, loaded by the binary from [`CLAIMS_CSV`] (written to `dir/claims.csv`).
pub fn loaded_db(dir: &Dir) -> PathBuf {
    let (csv, db) = (dir.join("claims.csv"), dir.join("claims.duckdb"));
    std::fs::write(&csv, CLAIMS_CSV).expect("write claims");
    ok(enricher(&["claims", "load", path(&csv), "--db", path(&db)]));
    db
}

/// `dir/claims.duckdb` with the `claims` claims that `generate --seed seed`
/// writes (to `dir/claims.csv`), loaded by the binary.
pub fn generated_db(dir: &Path, claims: u64, seed: u64) -> PathBuf {
    let (csv, db) = (dir.join("claims.csv"), dir.join("claims.duckdb"));
    let (claims, seed) = (claims.to_string(), seed.to_string());
    ok(enricher(&[
        "generate",
        "--count",
        "1",
        "--claims",
        &claims,
        "--seed",
        &seed,
        "--out",
        path(&dir.join("unused.jsonl")),
        "--claims-out",
        path(&csv),
    ]));
    ok(enricher(&["claims", "load", path(&csv), "--db", path(&db)]));
    db
}

/// The JSON values of a JSON-lines file.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("output file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The payment ids `generate --seed seed` gives its first `n` events.
pub fn ids(seed: u64, n: u64) -> impl Iterator<Item = String> {
    (0..n).map(move |i| format!("PAY-{seed}-{i:08}"))
}

/// Wait until `done` holds; fails the test naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a test must skip because `tool` (a program the suite installs,
/// such as `chromium` or `openssl`) is missing: only when
/// `ENRICHER_TEST_ALLOW_MISSING` (a comma-separated list) names it, and then
/// loudly. Otherwise a missing tool fails the test, so that a machine without
/// it never passes a test it did not run.
#[allow(dead_code)]
pub fn skip_without(tool: &str, present: bool, what: &str) -> bool {
    if present {
        return false;
    }
    let allowed = std::env::var("ENRICHER_TEST_ALLOW_MISSING").unwrap_or_default();
    if allowed.split(',').any(|name| name.trim() == tool) {
        eprintln!(
            "\n!!!!!!!! SKIPPED (ENRICHER_TEST_ALLOW_MISSING={allowed}): `{tool}` is not installed; {what} was NOT tested !!!!!!!!\n"
        );
        return true;
    }
    panic!(
        "`{tool}` is not installed, so {what} cannot be tested: run scripts/setup (it installs it), \
         or set ENRICHER_TEST_ALLOW_MISSING={tool} to skip this test on purpose"
    );
}
