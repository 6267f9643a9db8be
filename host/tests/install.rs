//! `scripts/install`: the installed binary finds the `libduckdb.so` installed
//! beside it (rpath `$ORIGIN/../lib`), not the checkout's `.duckdb/`, and runs
//! from another folder with a clean environment.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_installed_binary_runs_from_elsewhere_on_its_own_libduckdb() {
    let dir = std::env::temp_dir().join(format!("enricher-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = dir.join("prefix");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let out = Command::new(root().join("scripts/install"))
        .args(["--binary", env!("CARGO_BIN_EXE_enricher")])
        .arg(&prefix)
        .output()
        .expect("run scripts/install");
    assert!(out.status.success(), "install failed: {}", text(&out));
    let installed = prefix.join("bin/enricher");
    let lib = prefix.join("lib/libduckdb.so");
    assert!(lib.exists(), "libduckdb.so installed");

    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&installed)
        .output()
        .expect("readelf");
    let dynamic = text(&dynamic);
    assert!(
        dynamic.contains("[$ORIGIN:$ORIGIN/../lib:"),
        "the rpath starts with $ORIGIN: {dynamic}"
    );

    // The loader resolves libduckdb.so to the installed copy, though the
    // checkout's folder is still in the rpath (after it).
    let clean = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(&work);
    };
    let mut ldd = Command::new("ldd");
    ldd.arg(&installed);
    clean(&mut ldd);
    let resolved = text(&ldd.output().expect("ldd"));
    let line = resolved
        .lines()
        .find(|l| l.contains("libduckdb.so"))
        .unwrap_or_else(|| panic!("libduckdb.so is linked dynamically: {resolved}"));
    let loaded = line
        .split("=> ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .map(|path| std::fs::canonicalize(path.trim()))
        .and_then(Result::ok);
    assert_eq!(
        loaded,
        std::fs::canonicalize(&lib).ok(),
        "resolved to the installed copy: {line}"
    );

    let run = |args: &[&str]| {
        let mut cmd = Command::new(&installed);
        cmd.args(args);
        clean(&mut cmd);
        let out = cmd.output().expect("run the installed binary");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        text(&out)
    };
    let version = run(&["--version"]);
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")),
        "version: {version}"
    );
    std::fs::write(
        work.join("claims.csv"),
        "claim_id,member_id,claim_amount,claim_status,created_date\n\
         CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n",
    )
    .expect("claims");
    std::fs::write(
        work.join("events.jsonl"),
        r#"{"payment_id":"PAY-1","claim_id":"CLM-001","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}"#,
    )
    .expect("events");
    run(&["claims", "load", "claims.csv", "--db", "claims.duckdb"]);
    run(&[
        "run",
        "--input",
        "events.jsonl",
        "--db",
        "claims.duckdb",
        "--enriched-out",
        "enriched.jsonl",
        "--failed-out",
        "failed.jsonl",
    ]);
    let enriched = std::fs::read_to_string(work.join("enriched.jsonl")).expect("enriched");
    assert!(
        enriched.contains("PAY-1") && enriched.contains("MBR-789"),
        "enriched by the installed binary with the embedded plugin: {enriched}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
