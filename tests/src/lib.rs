//! Shared fixtures of the integration tests: temporary directories, claims
//! databases made through the real loader, and the real pipeline (the built-in
//! plugin in wasmtime) run over lines of input.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use enricher::bindings::InputRecord;
use enricher::claims_load::{LoadOptions, load_claims};
use enricher::config::Config;
use enricher::file_mode::run_files;
use enricher::lookup::ClaimsLookup;
use enricher::lookup::ClaimsStore;
use enricher::pipeline::{Pipeline, Routed};
use enricher::runtime::PluginEngine;
use serde_json::Value;

pub mod claims_db;
pub mod kafka;
pub mod manifests;
pub mod polyglot;
pub mod postgres;
pub mod swap;
pub mod sync_fixtures;

/// Test plugins, compiled from their current source by `tests/build.rs`.
pub mod test_plugins {
    /// The enrichment plugin, version 2 (adds `remaining_claim_amount`).
    pub const V2: &str = env!("ENRICHER_TEST_PLUGIN_V2");
    /// `plugins/chaos`: loops, grows memory, panics... on request.
    pub const CHAOS: &str = env!("ENRICHER_TEST_PLUGIN_CHAOS");
    /// `plugins/legacy-v1`: built against the frozen WIT 1.0.0.
    pub const LEGACY_V1: &str = env!("ENRICHER_TEST_PLUGIN_LEGACY_V1");
    /// `plugins/incompatible`: built for WIT 2.0.0.
    pub const INCOMPATIBLE: &str = env!("ENRICHER_TEST_PLUGIN_INCOMPATIBLE");
    /// `plugins/typed-chaos`: a typed plugin that traps, drops outcomes... on request.
    pub const TYPED_CHAOS: &str = env!("ENRICHER_TEST_PLUGIN_TYPED_CHAOS");

    /// The name and version the built-in plugin (`plugins/typed`) reports.
    pub const BUILTIN_NAME: &str = "payment-enrichment";
    pub const BUILTIN_VERSION: &str = "0.1.1";

    /// The raw-bytes build of the enrichment (`guest/`, embedded in the host)
    /// as a file in `dir`.
    pub fn raw(dir: &super::TempDir) -> std::path::PathBuf {
        let path = dir.join("enricher_guest.wasm");
        std::fs::write(&path, enricher::runtime::RAW_PLUGIN).expect("write the raw plugin");
        path
    }
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("enricher-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write `csv` (with its header row) and load it into a new DuckDB file.
pub fn claims_db(dir: &TempDir, csv: &str) -> PathBuf {
    let file = dir.join("claims.csv");
    std::fs::write(&file, csv).expect("write claims csv");
    load_claims_file(dir, &file)
}

/// Load a claims file (CSV or JSON lines) into `dir/claims.duckdb`.
pub fn load_claims_file(dir: &TempDir, file: &Path) -> PathBuf {
    let db = dir.join("claims.duckdb");
    let mut conn = duckdb::Connection::open(&db).expect("open db");
    load_claims(&mut conn, file, &LoadOptions::default()).expect("load claims");
    db
}

/// A config pointing at `db`, with the defaults otherwise.
pub fn config_for(db: &Path) -> Config {
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    config
}

/// The built-in plugin over `lookup`.
pub fn pipeline_with(lookup: Arc<ClaimsLookup>, config: &Config) -> Pipeline {
    let engine = PluginEngine::new().expect("engine");
    let plugin = engine.load_default().expect("built-in plugin");
    Pipeline::new(plugin, lookup, config.pipeline.max_record_bytes)
}

/// The built-in plugin over a lookup on `store`.
pub fn pipeline_over_store(store: Box<dyn ClaimsStore>, config: &Config) -> Pipeline {
    let lookup = ClaimsLookup::start(store, &config.lookup).expect("lookup starts");
    pipeline_with(Arc::new(lookup), config)
}

/// What a file run wrote, parsed.
pub struct Outputs {
    pub enriched: Vec<Value>,
    pub failed: Vec<Value>,
    /// The raw output lines, for checks on exact number text.
    pub enriched_raw: Vec<String>,
    pub failed_raw: Vec<String>,
}

/// Run `input` (bytes of a file) through the file mode of `pipeline`.
pub fn run_bytes(pipeline: &mut Pipeline, input: &[u8], batch_size: usize) -> Outputs {
    let mut enriched = Vec::new();
    let mut failed = Vec::new();
    let mut reader = std::io::BufReader::new(input);
    run_files(
        pipeline,
        &mut reader,
        &mut enriched,
        &mut failed,
        batch_size,
    )
    .expect("file run");
    let lines = |bytes: Vec<u8>| -> Vec<String> {
        String::from_utf8(bytes)
            .expect("utf8 output")
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let (enriched_raw, failed_raw) = (lines(enriched), lines(failed));
    let parse = |raw: &[String]| -> Vec<Value> {
        raw.iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}"))
            })
            .collect()
    };
    Outputs {
        enriched: parse(&enriched_raw),
        failed: parse(&failed_raw),
        enriched_raw,
        failed_raw,
    }
}

/// Records for `Pipeline::process` from payloads.
pub fn records(payloads: &[&[u8]]) -> Vec<InputRecord> {
    payloads
        .iter()
        .map(|p| InputRecord {
            key: None,
            value: p.to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect()
}

/// The `enrichment_status` of each routed record, in order.
pub fn statuses(routed: &[Routed]) -> Vec<&str> {
    routed.iter().map(|r| r.status.as_ref()).collect()
}

/// One valid payment event.
pub fn event(payment_id: &str, claim_id: &str, amount: &str) -> String {
    format!(
        r#"{{"payment_id":"{payment_id}","claim_id":"{claim_id}","payment_amount":{amount},"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}}"#
    )
}

/// The claims used by the small tests.
pub const SMALL_CLAIMS_CSV: &str = "claim_id,member_id,claim_amount,claim_status,created_date\n\
CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n\
CLM-002,MBR-100,0.10,PENDING,\n\
CLM-003,MBR-200,99999999.99,,2023-12-31 23:59:59\n";
