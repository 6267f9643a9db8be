//! Local development: deploy each `.wasm` file that is added to, or changed
//! in, a folder (`deploy.watch-dir`, off by default), as `enricher plugin
//! deploy` would: same checks, same swap at a commit boundary, and through
//! the fleet topic when there is one. Files already there at start are left
//! alone (start a host on one with `--plugin`).
//!
//! A file's detached signature is read from `<file>.sig` beside it (written
//! by `enricher plugin sign`); a host requiring signed plugins refuses a file
//! without one, like any other path. A `.sig` that appears or changes after
//! its `.wasm` deploys the file again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::api::PluginAdmin;
use super::deployer::Deployer;
use super::signature::signature_path;

/// When a `.wasm` file and its `.sig` (if any) were last changed.
type Stamp = (SystemTime, Option<SystemTime>);

/// Polls a folder on its own thread; stops when dropped.
pub struct DirWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Modification times of each `.wasm` file in `dir` and of its signature.
fn scan(dir: &Path) -> HashMap<PathBuf, Stamp> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
            let signed = std::fs::metadata(signature_path(&p))
                .and_then(|m| m.modified())
                .ok();
            Some((p, (modified, signed)))
        })
        .collect()
}

impl DirWatcher {
    pub fn start(dir: PathBuf, deployer: Arc<Deployer>, every: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let mut seen = scan(&dir);
        tracing::info!(dir = %dir.display(), "deploying .wasm files added to this folder");
        let thread = std::thread::Builder::new()
            .name("plugin-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(every);
                    let now = scan(&dir);
                    for (path, modified) in &now {
                        if seen.get(path) != Some(modified) {
                            deploy_file(&deployer, path);
                        }
                    }
                    seen = now;
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn deploy_file(deployer: &Deployer, path: &Path) {
    // A file still being written fails its checks; the next change deploys it.
    let signature = std::fs::read(signature_path(path)).ok();
    let result = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            deployer
                .deploy_signed(&bytes, None, signature.as_deref())
                .map_err(|e| e.to_string())
        });
    match result {
        Ok(report) => {
            tracing::info!(file = %path.display(), version = %report.deployed.key, "deployed from the watched folder")
        }
        Err(e) => deployer.note_rejected(&path.display().to_string(), "watched folder", &e),
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
