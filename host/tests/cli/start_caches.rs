//! What a restart reuses: the compiled plugin cached on disk (a damaged entry
//! is rebuilt, `off` writes none), and the lookup cache mode `auto` choosing
//! the full or the partial cache by the table's size, as the summary says.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Dir, enricher, event, lines, ok, summary_of};
use super::{loaded_db, path};

/// `enricher run` over two events (one known claim, one unknown), caches under `dir/xdg`.
fn run(dir: &Dir, db: &Path) -> Command {
    let input = dir.join("events.jsonl");
    let events = [event("PAY-1", "CLM-001"), event("PAY-2", "CLM-404")];
    std::fs::write(&input, events.join("\n")).expect("write events");
    let mut cmd = enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        path(&dir.join("enriched.jsonl")),
        "--failed-out",
        path(&dir.join("failed.jsonl")),
        "--db",
        path(db),
    ]);
    cmd.env("XDG_CACHE_HOME", dir.join("xdg"))
        .env_remove("ENRICHER_CACHE_DIR")
        .env_remove("LOOKUP_CACHE")
        .env_remove("LOOKUP_FULL_CACHE_MAX_BYTES");
    cmd
}

/// The compiled plugins in `dir` (not the folder's `.seal-key`).
fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(listing) => listing
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn enriched_ids(dir: &Dir) -> Vec<String> {
    lines(&dir.join("enriched.jsonl"))
        .iter()
        .map(|v| v["payment_id"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// What the engine says it did with the compiled-plugin cache (its debug
/// line's `outcome`): `Miss`, `Hit` or `Rebuilt`.
fn cache_outcome(dir: &Dir, db: &Path) -> String {
    let mut cmd = run(dir, db);
    cmd.env("RUST_LOG", "warn,enricher::runtime=debug");
    let out = cmd.output().expect("run");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("compiled plugin") && l.contains("outcome="))
        .unwrap_or_else(|| panic!("no compiled-plugin line in {log}"));
    let at = line.find("outcome=").expect("outcome") + "outcome=".len();
    line[at..]
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_restart_loads_the_compiled_plugin_from_disk_and_rebuilds_a_damaged_entry() {
    let dir = Dir::new("compile-cache");
    let db = loaded_db(&dir);
    let cache = dir.join("xdg/enricher");

    assert_eq!(cache_outcome(&dir, &db), "Miss", "nothing cached yet");
    let written = entries(&cache);
    assert_eq!(
        written.len(),
        1,
        "one compiled plugin in {}: {written:?}",
        cache.display()
    );
    let entry = written[0].clone();
    let whole = std::fs::read(&entry).expect("entry");

    assert_eq!(
        cache_outcome(&dir, &db),
        "Hit",
        "the restart loads the entry, it does not compile again"
    );
    assert_eq!(
        entries(&cache),
        vec![entry.clone()],
        "the restart reused it"
    );
    assert_eq!(std::fs::read(&entry).expect("entry"), whole);

    std::fs::write(&entry, &whole[..whole.len() / 3]).expect("truncate");
    assert_eq!(cache_outcome(&dir, &db), "Rebuilt");
    assert_eq!(enriched_ids(&dir), ["PAY-1"], "the run still enriches");
    assert_eq!(
        std::fs::read(&entry).expect("entry").len(),
        whole.len(),
        "the truncated entry was rewritten whole"
    );
}

#[test]
fn cache_dir_off_writes_no_compiled_plugin() {
    let dir = Dir::new("compile-cache-off");
    let db = loaded_db(&dir);
    let mut cmd = run(&dir, &db);
    cmd.env("ENRICHER_CACHE_DIR", "off");
    ok(cmd);
    assert_eq!(enriched_ids(&dir), ["PAY-1"]);
    assert!(entries(&dir.join("xdg")).is_empty(), "nothing cached");

    let elsewhere = dir.join("elsewhere");
    let mut cmd = run(&dir, &db);
    cmd.env("ENRICHER_CACHE_DIR", &elsewhere);
    ok(cmd);
    assert_eq!(entries(&elsewhere).len(), 1, "cached where it was told");
}

#[test]
fn cache_auto_loads_a_small_table_whole_and_caches_partially_past_the_budget() {
    let dir = Dir::new("cache-auto");
    let db = loaded_db(&dir);

    let summary = summary_of(run(&dir, &db));
    assert!(
        summary.contains("cache      full (auto: 2 rows"),
        "{summary}"
    );
    assert!(
        summary.contains("rows in memory 2"),
        "the whole table: {summary}"
    );

    let mut cmd = run(&dir, &db);
    cmd.env("LOOKUP_FULL_CACHE_MAX_BYTES", "100");
    let summary = summary_of(cmd);
    assert!(
        summary.contains("cache      partial (auto: 2 rows"),
        "{summary}"
    );
    assert!(
        summary.contains("exceeds the full-cache budget"),
        "{summary}"
    );
    assert!(
        summary.contains("misses 2"),
        "looked up on demand: {summary}"
    );
    assert_eq!(enriched_ids(&dir), ["PAY-1"]);

    let mut cmd = run(&dir, &db);
    cmd.env("LOOKUP_CACHE", "none");
    let summary = summary_of(cmd);
    assert!(
        summary.contains("cache      none (set: configured"),
        "{summary}"
    );
}

#[test]
fn the_product_binary_lists_only_operator_commands() {
    let help = ok(enricher(&["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "claims", "run", "generate", "demo", "topic", "plugin", "redrive", "config", "help"
        ],
        "{help}"
    );
    // The native step is the benchmark binary's (`enricher-bench run --native-step`).
    let out = enricher(&[
        "run",
        "--native-step",
        "--input",
        "x",
        "--enriched-out",
        "y",
        "--failed-out",
        "z",
    ])
    .output()
    .expect("run enricher");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--native-step'"));
}
