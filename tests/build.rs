//! Build script of the integration tests: bakes the prebuilt DuckDB library
//! folder into the test binaries' rpath (the built-in plugin itself is
//! compiled by `host/build.rs`, so every test runs the current guest).

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
