//! Build script of the integration tests: bakes the prebuilt DuckDB library
//! folder into the test binaries' rpath, and compiles the test plugins to
//! wasm32-wasip2 components so every test runs their current source (the
//! built-in plugin itself is compiled by `host/build.rs`):
//! - `ENRICHER_TEST_PLUGIN_V2`: the enrichment plugin with feature `v2`;
//! - `ENRICHER_TEST_PLUGIN_CHAOS`, `_LEGACY_V1`, `_INCOMPATIBLE`, `_TYPED_CHAOS`: `plugins/*`.
//!   (`chaos` reports the name and version its `report-name` / `report-version`
//!   parameters give, to test how the host takes hostile names).

#[path = "../host/build/wasm_build.rs"]
mod wasm_build;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    build_test_plugins();
}

fn build_test_plugins() {
    let root = wasm_build::workspace_root();
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "guest/model",
        "guest/sdk",
        "plugins",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // host/build.rs uses `guest-build`: the test plugins get a folder of their own.
    let target_dir = wasm_build::nested_target_dir("test-plugins-build");

    let wasm_dir = wasm_build::cargo_wasm(
        &root,
        &target_dir,
        &["-p", "enricher-guest", "--features", "v2"],
    );
    let v2 = out_dir.join("enricher_guest_v2.wasm");
    std::fs::copy(wasm_dir.join("enricher_guest.wasm"), &v2).expect("copy the v2 plugin");
    println!("cargo:rustc-env=ENRICHER_TEST_PLUGIN_V2={}", v2.display());

    let packages = [
        "-p",
        "enricher-plugin-chaos",
        "-p",
        "enricher-plugin-legacy-v1",
        "-p",
        "enricher-plugin-incompatible",
        "-p",
        "enricher-plugin-typed-chaos",
    ];
    let wasm_dir = wasm_build::cargo_wasm(&root, &target_dir, &packages);
    for (env, file) in [
        ("CHAOS", "enricher_plugin_chaos.wasm"),
        ("LEGACY_V1", "enricher_plugin_legacy_v1.wasm"),
        ("INCOMPATIBLE", "enricher_plugin_incompatible.wasm"),
        ("TYPED_CHAOS", "enricher_plugin_typed_chaos.wasm"),
    ] {
        let path = wasm_dir.join(file);
        assert!(path.exists(), "no test plugin at {}", path.display());
        println!(
            "cargo:rustc-env=ENRICHER_TEST_PLUGIN_{env}={}",
            path.display()
        );
    }
}
