//! Build script of the integration tests: bakes the prebuilt DuckDB library
//! folder into the test binaries' rpath, and compiles the test plugins to
//! wasm32-wasip2 components so every test runs their current source (the
//! built-in plugin itself is compiled by `host/build.rs`):
//! - `ENRICHER_TEST_PLUGIN_V2`: the enrichment plugin with feature `v2`;
//! - `ENRICHER_TEST_PLUGIN_CHAOS`, `_LEGACY_V1`, `_INCOMPATIBLE`: `plugins/*`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    build_test_plugins();
}

fn build_test_plugins() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("tests/ sits in the workspace");
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "plugins",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // The outer cargo holds the lock on its target dir, and host/build.rs uses
    // `guest-build`: the test plugins get a folder of their own.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("test-plugins-build"))
        .unwrap_or_else(|| out_dir.join("test-plugins-build"));
    let wasm_dir = target_dir.join("wasm32-wasip2/release");

    cargo_wasm(
        root,
        &target_dir,
        &["-p", "enrichment-guest", "--features", "v2"],
    );
    let v2 = out_dir.join("enrichment_guest_v2.wasm");
    std::fs::copy(wasm_dir.join("enrichment_guest.wasm"), &v2).expect("copy the v2 plugin");
    println!("cargo:rustc-env=ENRICHER_TEST_PLUGIN_V2={}", v2.display());

    cargo_wasm(
        root,
        &target_dir,
        &[
            "-p",
            "chaos-plugin",
            "-p",
            "legacy-v1-plugin",
            "-p",
            "incompatible-plugin",
        ],
    );
    for (env, file) in [
        ("CHAOS", "chaos_plugin.wasm"),
        ("LEGACY_V1", "legacy_v1_plugin.wasm"),
        ("INCOMPATIBLE", "incompatible_plugin.wasm"),
    ] {
        let path = wasm_dir.join(file);
        assert!(path.exists(), "no test plugin at {}", path.display());
        println!(
            "cargo:rustc-env=ENRICHER_TEST_PLUGIN_{env}={}",
            path.display()
        );
    }
}

fn cargo_wasm(root: &Path, target_dir: &Path, packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .args(packages)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo for the test plugins");
    assert!(
        status.success(),
        "building test plugins {packages:?} failed"
    );
}
