//! Build script: compiles the built-in plugins (`guest/`, raw bytes, and
//! `plugins/typed/`, typed records) to wasm32-wasip2 components so the host
//! embeds their current source, and bakes the prebuilt
//! DuckDB library folder into the binary's rpath, after `$ORIGIN` and
//! `$ORIGIN/../lib` so an installed copy (`scripts/install`) finds the
//! `libduckdb.so` installed beside it first.

use std::path::Path;

#[path = "build/wasm_build.rs"]
mod wasm_build;

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
    // rustc hands these to the linker without a shell: `$ORIGIN` stays literal
    // and the dynamic loader expands it to the binary's own folder.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:$ORIGIN/../lib:{dir}");
}

fn build_default_plugin() {
    let root = wasm_build::workspace_root();
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "guest/model",
        "guest/sdk",
        "guest/templates",
        "plugins/typed",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = wasm_build::nested_target_dir("guest-build");
    let dir = wasm_build::cargo_wasm(
        &root,
        &target_dir,
        &["-p", "enricher-guest", "-p", "enricher-plugin-typed"],
    );
    for (env, file) in [
        ("ENRICHER_DEFAULT_PLUGIN", "enricher_plugin_typed.wasm"),
        ("ENRICHER_RAW_PLUGIN", "enricher_guest.wasm"),
    ] {
        let wasm = dir.join(file);
        assert!(wasm.exists(), "no plugin at {}", wasm.display());
        println!("cargo:rustc-env={env}={}", wasm.display());
    }
}
