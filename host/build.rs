//! Build script: compiles the default plugin (`guest/`) to a wasm32-wasip2
//! component so the host embeds the current plugin, and bakes the prebuilt
//! DuckDB library folder into the binary's rpath.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    link_duckdb();
    build_default_plugin();
}

fn link_duckdb() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") else {
        return; // a `bundled` build links DuckDB statically
    };
    if !Path::new(&dir).join("libduckdb.so").exists() {
        panic!("DUCKDB_LIB_DIR={dir} has no libduckdb.so: run scripts/fetch-duckdb first");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
}

fn build_default_plugin() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace");
    for watched in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // The outer cargo holds the lock on its target dir: the nested build gets its own.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("guest-build"))
        .unwrap_or_else(|| out_dir.join("guest-build"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "enrichment-guest",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo for the guest");
    assert!(status.success(), "building the guest plugin failed");
    let wasm = target_dir.join("wasm32-wasip2/release/enrichment_guest.wasm");
    assert!(wasm.exists(), "no plugin at {}", wasm.display());
    println!("cargo:rustc-env=ENRICHER_DEFAULT_PLUGIN={}", wasm.display());
}
