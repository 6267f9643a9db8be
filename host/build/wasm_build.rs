//! Shared by the build scripts of `host/` and `tests/`: compile workspace
//! crates to wasm32-wasip2 components with a nested cargo.
//!
//! The outer cargo holds the lock on its target directory, so the nested build
//! gets a directory of its own beside it (or it would wait forever).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, from the build script's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    manifest_dir
        .parent()
        .expect("the crate sits in the workspace")
        .to_owned()
}

/// A target directory named `name` beside the outer build's, one per checkout:
/// two worktrees sharing `CARGO_TARGET_DIR` would otherwise overwrite each
/// other's components and embed the wrong plugin.
pub fn nested_target_dir(name: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    workspace_root().hash(&mut hasher);
    let name = format!("{name}-{:08x}", hasher.finish() as u32);
    out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join(&name))
        .unwrap_or_else(|| out_dir.join(&name))
}

/// `cargo build --release --target wasm32-wasip2 <args>` in `target_dir`;
/// returns the folder the components land in.
pub fn cargo_wasm(root: &Path, target_dir: &Path, args: &[&str]) -> PathBuf {
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
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo for the wasm components");
    assert!(
        status.success(),
        "building {args:?} for wasm32-wasip2 failed"
    );
    target_dir.join("wasm32-wasip2/release")
}
