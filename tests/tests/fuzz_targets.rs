//! Every cargo-fuzz target (`fuzz/fuzz_targets/`) builds and runs a few
//! seconds over its seed corpus without a crash, through `scripts/fuzz` (the
//! same command a person runs, on the stable toolchain; it installs
//! cargo-fuzz once per machine). The bodies' seeded smoke tests stay in
//! `fuzz/bodies` and run with the workspace.

use std::path::Path;
use std::process::Command;

#[test]
fn every_fuzz_target_builds_and_runs_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .expect("fuzz targets")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().expect("name").to_string_lossy().into_owned())
        .collect();
    assert!(targets.len() >= 5, "{targets:?}");
    let out = Command::new(root.join("scripts/fuzz"))
        .arg("3")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("scripts/fuzz");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{} target(s) built and ran", targets.len())),
        "{stdout}"
    );
    // libFuzzer's own last line per target: `Done N runs in S second(s)`.
    let runs: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Done "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(runs.len(), targets.len(), "one run per target:\n{stderr}");
    assert!(runs.iter().all(|&n| n > 0), "{runs:?}");
}
