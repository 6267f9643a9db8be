//! Local development: deploy each `.wasm` file that is added to, or changed
//! in, a folder (`deploy.watch-dir`, off by default), as `enricher plugin
//! deploy` would: same checks, same swap at a commit boundary, and through
//! the fleet topic when there is one. Files already there at start are left
//! alone (start a host on one with `--plugin`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::api::PluginAdmin;
use super::deployer::Deployer;

/// Polls a folder on its own thread; stops when dropped.
pub struct DirWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Modification time of each `.wasm` file in `dir`.
fn scan(dir: &Path) -> HashMap<PathBuf, SystemTime> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| Some((p.clone(), std::fs::metadata(&p).ok()?.modified().ok()?)))
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
    let result = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| deployer.deploy(&bytes, None).map_err(|e| e.to_string()));
    match result {
        Ok(report) => {
            tracing::info!(file = %path.display(), version = %report.deployed.key, "deployed from the watched folder")
        }
        Err(e) => deployer.note_event(format!(
            "{} from the watched folder not deployed: {e}",
            path.display()
        )),
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
