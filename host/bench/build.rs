//! Build script of the benchmark binary: bakes the prebuilt DuckDB library
//! folder (`DUCKDB_LIB_DIR`, see .cargo/config.toml) into its rpath, as the
//! host's build script does for `enricher`.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
