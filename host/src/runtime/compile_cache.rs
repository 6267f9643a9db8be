//! Compiled components cached on disk, so a restart or a deploy check of a
//! component seen before skips Cranelift (hundreds of ms) and only maps the
//! machine code back in (a few ms).
//!
//! An entry is keyed by the sha256 of the component's bytes and of the engine
//! configuration (wasmtime's version and settings, as written in the header of
//! an empty module precompiled by the engine, `Engine::precompile_compatibility_hash`
//! and our own engine flags), so a new wasmtime, another target or other
//! engine settings never read an old entry. A file holds the entry's seal
//! (an HMAC under this host's key over the entry key and the artifact, see
//! `cache_seal`), then the artifact (`Engine::precompile_component`'s output).
//! The folder must be this user's and private (else the host refuses to
//! start), and an entry file must be this user's, or it is not read.
//! Entries are written to a temporary file and renamed into place, so a reader
//! sees a whole entry or none; an entry whose seal does not match (truncated,
//! corrupt, swapped, written by someone else) or that wasmtime refuses is
//! ignored, logged and rebuilt. The folder is kept under a size bound by
//! removing the entries used longest ago.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache_seal::{EntrySeal, SEAL_LEN, SealError, check_owner};

/// The smallest valid module: precompiled, it is just wasmtime's header
/// (its version, target and settings).
const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";
/// Bumped when the file layout changes.
const LAYOUT: &str = "enricher-compiled-component-v2";
const SUFFIX: &str = "cwasm";
/// Default bound on the folder's size.
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;

/// What a lookup in the cache did (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from an entry written earlier.
    Hit,
    /// No entry: compiled and stored.
    Miss,
    /// An entry was there but unusable (corrupt, refused): compiled and stored again.
    Rebuilt,
}

/// A folder of compiled components for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    /// Hex sha256 of the engine configuration, mixed into every key.
    engine_key: String,
    max_bytes: u64,
    /// This host's key: an entry is loaded only if its seal verifies.
    seal: EntrySeal,
}

/// Why a cache folder is not used.
#[derive(Debug)]
pub(crate) enum CacheRefused {
    /// Another user could write it: the host must not run (the message says what to do).
    Unsafe(String),
    /// It cannot be made or read: compile every time.
    Unavailable(String),
}

impl CompileCache {
    /// A cache in `dir` for `engine`, built with our settings described by `flags`
    /// (anything that changes the compiled code and that wasmtime's own hash may miss).
    /// The folder is created private if missing and refused if another user
    /// owns it or may write it.
    pub(crate) fn new(
        dir: PathBuf,
        engine: &Engine,
        flags: &str,
        max_bytes: u64,
    ) -> Result<Self, CacheRefused> {
        let seal = EntrySeal::open(&dir).map_err(|e| match e {
            SealError::Unsafe(why) => CacheRefused::Unsafe(why),
            SealError::Io(why) => CacheRefused::Unavailable(why),
        })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let mut key = Sha256::new();
        for part in [LAYOUT, std::env::consts::ARCH, flags] {
            key.update(part.as_bytes());
            key.update([0]);
        }
        key.update(hasher.finish().to_le_bytes());
        // Carries wasmtime's version (the hash above may not); if it cannot be
        // made, the other parts still key the entry and wasmtime checks its header.
        if let Ok(header) = engine.precompile_module(EMPTY_MODULE) {
            key.update(Sha256::digest(header));
        }
        Ok(Self {
            dir,
            engine_key: hex(&key.finalize()),
            max_bytes,
            seal,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the compiled form of `bytes`.
    pub fn entry_path(&self, bytes: &[u8]) -> PathBuf {
        self.dir
            .join(format!("{}.{SUFFIX}", &hex(&self.entry_key(bytes))[..40]))
    }

    /// The entry's key: the engine configuration and the component's sha256;
    /// it names the file and is sealed with the artifact.
    fn entry_key(&self, bytes: &[u8]) -> [u8; 32] {
        let mut key = Sha256::new();
        key.update(self.engine_key.as_bytes());
        key.update(Sha256::digest(bytes));
        key.finalize().into()
    }

    /// The component for `bytes`: from its entry if there is a good one,
    /// else compiled and stored. Failing to store is logged, not an error:
    /// the cache only saves time.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(bytes);
        let key = self.entry_key(bytes);
        let outcome = match self.read_entry(engine, &path, &key) {
            Ok(Some(component)) => {
                // Touched so eviction removes the entries used longest ago.
                touch(&path);
                return Ok((component, CacheOutcome::Hit));
            }
            Ok(None) => CacheOutcome::Miss,
            Err(why) => {
                tracing::warn!(entry = %path.display(), %why, "compiled plugin cache entry unusable; compiling again");
                CacheOutcome::Rebuilt
            }
        };
        let artifact = engine.precompile_component(bytes)?;
        // SAFETY: `artifact` was produced just now by `precompile_component` of this engine.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        if let Err(error) = self.write_entry(&path, &key, &artifact) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot store the compiled plugin (continuing)");
        } else {
            self.evict(&path);
        }
        Ok((component, outcome))
    }

    /// `Ok(None)` if there is no entry; `Err` if there is one we cannot use.
    fn read_entry(
        &self,
        engine: &Engine,
        path: &Path,
        key: &[u8],
    ) -> Result<Option<Component>, String> {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        // The file read is the one checked (no second open by name).
        let meta = file.metadata().map_err(|e| e.to_string())?;
        check_owner(path, &meta, "entry").map_err(|e| match e {
            SealError::Unsafe(why) | SealError::Io(why) => why,
        })?;
        let mut entry = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut entry).map_err(|e| e.to_string())?;
        let (seal, artifact) = entry
            .split_at_checked(SEAL_LEN)
            .ok_or("shorter than its seal")?;
        if !self.seal.verify(key, artifact, seal) {
            return Err(
                "its seal does not match this host's key and this component \
                 (truncated, corrupt, or written by someone else): not loaded"
                    .into(),
            );
        }
        // SAFETY: `Component::deserialize` trusts its input to be an artifact
        // that wasmtime produced; arbitrary bytes could run arbitrary code.
        // This entry is trusted because (1) its seal, an HMAC under a key only
        // this user can read, says this host wrote these bytes from
        // `precompile_component`'s output for this very component and engine
        // configuration (so a swapped, copied or forged entry is refused);
        // (2) the folder and the file belong to this user and no one else may
        // write them (checked when the cache opened and above); (3) wasmtime
        // checks its own version and settings header again. The bytes are read
        // into memory rather than mapped (`deserialize_file`), so a file
        // changed later cannot change code already loaded.
        unsafe { Component::deserialize(engine, artifact) }
            .map(Some)
            .map_err(|e| format!("{e:#}"))
    }

    /// Write `seal || artifact` to a temporary file in the folder, then rename it into place.
    fn write_entry(&self, path: &Path, key: &[u8], artifact: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id(),
            fastrand::u64(..)
        ));
        let written = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&self.seal.seal(key, artifact))?;
            file.write_all(artifact)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Remove the entries used longest ago until the folder fits its bound
    /// (never `keep`, the entry just written).
    fn evict(&self, keep: &Path) {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = listing
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == SUFFIX))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && fs::remove_file(&path).is_ok() {
                tracing::debug!(entry = %path.display(), "evicted from the compiled plugin cache");
                total = total.saturating_sub(len);
            }
        }
    }
}

/// The default folder: `$XDG_CACHE_HOME/enricher`, else `$HOME/.cache/enricher`.
pub fn default_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|base| base.join("enricher"))
}

fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "compile_cache_tests.rs"]
mod tests;
