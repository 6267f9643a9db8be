//! `enricher plugin keygen` and `enricher plugin sign`: the operator's side
//! of signed plugins (see `deploy::signature` for the formats). Neither talks
//! to a host.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use enricher::deploy::signature::{
    fingerprint, generate_key, key_pems, read_private_key, sign, signature_path,
};

/// Write a new key pair: `<prefix>.key` (private, PKCS#8 PEM, mode 0600)
/// and `<prefix>.pub` (public, PEM, for `deploy.trusted-keys`).
pub fn keygen(prefix: &Path, force: bool) -> anyhow::Result<()> {
    let private_path = with_suffix(prefix, ".key");
    let public_path = with_suffix(prefix, ".pub");
    let key = generate_key().map_err(anyhow::Error::msg)?;
    let (private, public) = key_pems(&key).map_err(anyhow::Error::msg)?;
    write_new(&private_path, private.as_bytes(), 0o600, force)?;
    write_new(&public_path, public.as_bytes(), 0o644, force)?;
    println!(
        "wrote {} (private: keep it secret) and {} (public: list it in deploy.trusted-keys); key {}",
        private_path.display(),
        public_path.display(),
        fingerprint(&key.verifying_key())
    );
    Ok(())
}

/// Sign `component` with the private key in `key`; writes `out` (default `<component>.sig`).
pub fn sign_file(component: &Path, key: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let signing = read_private_key(key)?;
    let bytes = std::fs::read(component)
        .with_context(|| format!("reading the plugin {}", component.display()))?;
    let out = out.unwrap_or_else(|| signature_path(component));
    let text = format!("{}\n", sign(&signing, &bytes));
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "signed {} with key {}: {}",
        component.display(),
        fingerprint(&signing.verifying_key()),
        out.display()
    );
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Create `path` with `mode` (set at creation, so a private key is never
/// readable by others); an existing file is kept unless `force`.
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} exists; keeping it (--force replaces it)",
                path.display()
            )
        } else {
            format!("creating {}", path.display())
        }
    })?;
    #[cfg(unix)]
    {
        // `mode` applies only to a new file; a replaced one gets it too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
