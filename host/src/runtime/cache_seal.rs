//! Why a compiled-plugin cache entry may be deserialized: who could have
//! written it. `Component::deserialize` runs whatever machine code its input
//! holds, so an entry swapped by someone else would run their code under a
//! plugin whose signature the host just verified.
//!
//! Two locks, each enough against another user of the machine:
//! - the folder must belong to this user and not be writable by group or
//!   others (else [`SealError::Unsafe`]: the host refuses to start, naming
//!   the folder and the setting), and so must every entry file read;
//! - every entry is sealed by an HMAC-SHA256, under a key only this user
//!   can read (`.seal-key`, 32 random bytes, mode 0600, in the folder), over
//!   the entry's key (engine settings and the component's sha256) and the
//!   artifact. An entry copied from another component, another machine or
//!   written by anyone without the key fails the check and is rebuilt.
//!
//! A plain digest stored beside the artifact (the layout before this one)
//! stops truncation, not a writer: whoever can rewrite the artifact can
//! rewrite its digest too.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key file inside the cache folder.
const KEY_FILE: &str = ".seal-key";
/// Bytes of a seal (HMAC-SHA256).
pub(crate) const SEAL_LEN: usize = 32;

/// Why the cache cannot be used.
#[derive(Debug)]
pub(crate) enum SealError {
    /// Another user could write the folder or its key: refuse to run.
    Unsafe(String),
    /// The folder or key cannot be made (a read-only home...): run without the cache.
    Io(String),
}

/// The per-host key entries are sealed with.
#[derive(Clone)]
pub(crate) struct EntrySeal {
    key: [u8; 32],
}

impl std::fmt::Debug for EntrySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntrySeal(***)")
    }
}

impl EntrySeal {
    /// Create `dir` (0700) if needed, refuse it if another user could write
    /// it, and read (or make) its key.
    pub(crate) fn open(dir: &Path) -> Result<Self, SealError> {
        create_private_dir(dir).map_err(|e| SealError::Io(format!("{}: {e}", dir.display())))?;
        let meta =
            fs::metadata(dir).map_err(|e| SealError::Io(format!("{}: {e}", dir.display())))?;
        check_owner(dir, &meta, "folder")?;
        let path = dir.join(KEY_FILE);
        let key = match read_key(&path)? {
            Some(key) => key,
            None => make_key(&path)?,
        };
        Ok(Self { key })
    }

    /// The seal of `artifact` stored under `context` (the entry's key).
    pub(crate) fn seal(&self, context: &[u8], artifact: &[u8]) -> [u8; SEAL_LEN] {
        self.mac(context, artifact).finalize().into_bytes().into()
    }

    /// Whether `seal` is this host's seal of `artifact` under `context` (constant time).
    pub(crate) fn verify(&self, context: &[u8], artifact: &[u8], seal: &[u8]) -> bool {
        self.mac(context, artifact).verify_slice(seal).is_ok()
    }

    fn mac(&self, context: &[u8], artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(&(context.len() as u64).to_le_bytes());
        mac.update(context);
        mac.update(artifact);
        mac
    }
}

/// Refuse a file or folder another user owns or may write.
pub(crate) fn check_owner(path: &Path, meta: &fs::Metadata, what: &str) -> Result<(), SealError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let why = if meta.uid() != me {
            Some(format!(
                "is owned by uid {}, not by this user (uid {me})",
                meta.uid()
            ))
        } else if meta.mode() & 0o022 != 0 {
            Some(format!(
                "is writable by group or others (mode {:o})",
                meta.mode() & 0o7777
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(SealError::Unsafe(format!(
                "compiled plugin cache {what} {} {why}: another user could put code in it that \
                 this host would run. Make it private (chmod 700, owned by this user), choose \
                 another folder (plugin.cache-dir, ENRICHER_CACHE_DIR) or set ENRICHER_CACHE_DIR=off",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta, what);
    Ok(())
}

fn read_key(path: &Path) -> Result<Option<[u8; 32]>, SealError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SealError::Io(format!("{}: {e}", path.display()))),
    };
    let meta = file.metadata().map_err(|e| SealError::Io(e.to_string()))?;
    check_owner(path, &meta, "key")?;
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::mode(&meta) & 0o077 != 0 {
        return Err(SealError::Unsafe(format!(
            "compiled plugin cache key {} is readable by others: remove it (a new one is made) \
             and the folder's entries are rebuilt",
            path.display()
        )));
    }
    let bytes = fs::read(path).map_err(|e| SealError::Io(format!("{}: {e}", path.display())))?;
    // A short key (a crash while it was written) is replaced.
    Ok(<[u8; 32]>::try_from(bytes.as_slice()).ok())
}

/// A fresh key, written 0600 to a temporary file and renamed into place
/// (two hosts starting at once each write one; the last rename wins and the
/// other's entries are rebuilt once).
fn make_key(path: &Path) -> Result<[u8; 32], SealError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| SealError::Io(format!("no random key: {e}")))?;
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let written = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(SealError::Io(format!("{}: {e}", path.display())));
    }
    Ok(key)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
