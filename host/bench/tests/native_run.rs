//! `enricher-bench run --native-step raw|typed` writes what the built-in
//! plugin writes through WASM (the baseline of the file path's WASM / native
//! ratio measures the same work), and the product binary has no such flag.

use std::path::{Path, PathBuf};
use std::process::Command;

use enricher::app::build_file_pipeline;
use enricher::claims_load::{LoadOptions, load_claims};
use enricher::config::Config;
use enricher::file_mode::run_files;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The JSON lines of `path`, without the time each was enriched.
fn timeless(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("read outputs");
    text.lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            if let Some(fields) = record.as_object_mut() {
                fields.remove("enrichment_timestamp");
            }
            record
        })
        .collect()
}

#[test]
fn the_native_steps_write_what_the_plugin_writes() {
    let dir =
        Dir(std::env::temp_dir().join(format!("enricher-bench-native-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let (claims, events, db) = (
        dir.0.join("claims.csv"),
        dir.0.join("events.jsonl"),
        dir.0.join("claims.duckdb"),
    );
    write_claims_csv(&mut std::fs::File::create(&claims).expect("claims"), 200, 5)
        .expect("write claims");
    let options = GenerateOptions {
        count: Some(2_000),
        claims: 200,
        valid_claim_rate: 0.8,
        seed: 5,
        ..GenerateOptions::default()
    };
    write_events(
        &mut std::fs::File::create(&events).expect("events"),
        &options,
    )
    .expect("write events");
    let mut conn = duckdb::Connection::open(&db).expect("open db");
    load_claims(&mut conn, &claims, &LoadOptions::default()).expect("load claims");
    drop(conn);

    // Through WASM (the built-in plugin), as `enricher run` does it.
    let mut config = Config::default();
    config.duckdb.url = db.display().to_string();
    let mut pipeline = build_file_pipeline(&config).expect("pipeline");
    let (wasm_e, wasm_f) = (dir.0.join("wasm-e.jsonl"), dir.0.join("wasm-f.jsonl"));
    let mut input = std::io::BufReader::new(std::fs::File::open(&events).expect("events"));
    let mut enriched = std::fs::File::create(&wasm_e).expect("out");
    let mut failed = std::fs::File::create(&wasm_f).expect("out");
    run_files(&mut pipeline, &mut input, &mut enriched, &mut failed, 100).expect("wasm run");
    let wasm = (timeless(&wasm_e), timeless(&wasm_f));
    assert!(
        wasm.0.len() > 1_000 && !wasm.1.is_empty(),
        "both outputs used"
    );

    for form in ["typed", "raw"] {
        let (e, f) = (
            dir.0.join(format!("{form}-e.jsonl")),
            dir.0.join(format!("{form}-f.jsonl")),
        );
        let out = Command::new(env!("CARGO_BIN_EXE_enricher-bench"))
            .args([
                "run",
                "--native-step",
                form,
                "--batch-size",
                "100",
                "--input",
            ])
            .arg(&events)
            .arg("--enriched-out")
            .arg(&e)
            .arg("--failed-out")
            .arg(&f)
            .arg("--db")
            .arg(&db)
            .env_remove("ENRICHER_CONFIG")
            .output()
            .expect("run enricher-bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{form}: {stderr}");
        assert!(stderr.contains("2000 in"), "{form}: {stderr}");
        assert_eq!(
            (timeless(&e), timeless(&f)),
            wasm,
            "{form} native step vs WASM"
        );
    }
}
