//! The admin API's security settings: the bearer token (or the file holding
//! it) that deploys and rollbacks need, whether reads need it too, and the
//! optional TLS certificate and key. Its address stays `deploy.admin-bind`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layers::invalid;
use super::values::{optional_path, string_list};
use crate::error::ConfigError;

/// Environment variable of each admin setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("ENRICHER_ADMIN_TOKEN", "admin.token"),
    ("ENRICHER_ADMIN_TOKEN_FILE", "admin.token-file"),
    ("ENRICHER_ADMIN_OPEN_READS", "admin.open-reads"),
    ("ENRICHER_ADMIN_TLS_CERT", "admin.tls-cert"),
    ("ENRICHER_ADMIN_TLS_KEY", "admin.tls-key"),
    ("ENRICHER_ADMIN_ALLOWED_HOSTS", "admin.allowed-hosts"),
];

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Who may use the admin API, and how it is served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// The bearer token deploys and rollbacks need; unset (the default)
    /// needs none, and then the API may only listen on loopback.
    /// env `ENRICHER_ADMIN_TOKEN`
    pub token: Option<Secret>,
    /// A file holding the token (surrounding whitespace ignored), such as a
    /// mounted Kubernetes Secret. env `ENRICHER_ADMIN_TOKEN_FILE`
    #[serde(deserialize_with = "optional_path::deserialize")]
    pub token_file: Option<PathBuf>,
    /// Whether `GET /v1/status` and `GET /v1/plugins` answer without the
    /// token (`/healthz` always does). env `ENRICHER_ADMIN_OPEN_READS`
    pub open_reads: bool,
    /// Serve HTTPS with this PEM certificate chain (and `tls-key`).
    /// `enricher plugin` then trusts this certificate. env `ENRICHER_ADMIN_TLS_CERT`
    #[serde(deserialize_with = "optional_path::deserialize")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls-cert`. env `ENRICHER_ADMIN_TLS_KEY`
    #[serde(deserialize_with = "optional_path::deserialize")]
    pub tls_key: Option<PathBuf>,
    /// `Host` names (no port) writes are accepted for, beyond `localhost`,
    /// loopback addresses and the bind address (against DNS rebinding);
    /// `*` accepts any. A host with a token checks them only when set.
    /// A list in the file; comma-separated in env `ENRICHER_ADMIN_ALLOWED_HOSTS`.
    #[serde(deserialize_with = "string_list::deserialize")]
    pub allowed_hosts: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            token_file: None,
            open_reads: true,
            tls_cert: None,
            tls_key: None,
            allowed_hosts: Vec::new(),
        }
    }
}

/// What a masked secret shows.
pub const MASK: &str = "***";

/// A value never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl AdminConfig {
    /// The token, from the setting or the file; `None` when neither is set.
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        let given = self.token.as_ref().map(|t| t.0.trim().to_owned());
        let token = match (given.filter(|t| !t.is_empty()), &self.token_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "admin.token-file",
                    "set the token or the token file (ENRICHER_ADMIN_TOKEN), not both",
                ));
            }
            (Some(token), None) => token,
            (None, Some(path)) => read_token(path)?,
        };
        if token.chars().count() < MIN_TOKEN_LEN || token.chars().any(char::is_control) {
            let key = match self.token_file {
                Some(_) => "admin.token-file",
                None => "admin.token",
            };
            return Err(invalid(
                key,
                &format!(
                    "the admin token must be at least {MIN_TOKEN_LEN} characters without \
                     control characters (such as the output of `openssl rand -hex 32`)"
                ),
            ));
        }
        Ok(Some(token))
    }

    /// The certificate and key files, when TLS is on.
    pub fn tls(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls_cert.clone().zip(self.tls_key.clone())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(invalid("admin.tls-key", "is needed with admin.tls-cert")),
            (None, Some(_)) => Err(invalid("admin.tls-cert", "is needed with admin.tls-key")),
            _ => Ok(()),
        }
    }
}

fn read_token(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(
            "admin.token-file",
            &format!("cannot read {}: {e}", path.display()),
        )
    })?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn with_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        c.apply_env(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn the_token_comes_from_env_or_a_file_and_is_never_printed() {
        let c = with_env(&[("ENRICHER_ADMIN_TOKEN", " a-long-enough-token-1 ")]).expect("ok");
        assert_eq!(
            c.admin.token().expect("ok").as_deref(),
            Some("a-long-enough-token-1")
        );
        assert!(!format!("{c:?}").contains("a-long-enough"));
        let dir = std::env::temp_dir().join(format!("enricher-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "from-a-file-0123456789\n").expect("write");
        let path = file.to_str().expect("utf-8");
        let c = with_env(&[("ENRICHER_ADMIN_TOKEN_FILE", path)]).expect("ok");
        assert_eq!(
            c.admin.token().expect("ok").as_deref(),
            Some("from-a-file-0123456789")
        );
        let both = with_env(&[
            ("ENRICHER_ADMIN_TOKEN_FILE", path),
            ("ENRICHER_ADMIN_TOKEN", "a-long-enough-token-1"),
        ]);
        let err = both.expect("parses").admin.token().expect_err("both");
        assert!(err.to_string().contains("ENRICHER_ADMIN_TOKEN"), "{err}");
        let short = with_env(&[("ENRICHER_ADMIN_TOKEN", "short")]).expect("parses");
        assert!(short.admin.token().is_err());
        let missing = with_env(&[("ENRICHER_ADMIN_TOKEN_FILE", "/no/such/token")]).expect("ok");
        let err = missing.admin.token().expect_err("missing file");
        assert!(err.to_string().contains("/no/such/token"), "{err}");
        assert_eq!(Config::default().admin.token().expect("ok"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn allowed_hosts_are_a_list() {
        let c = with_env(&[("ENRICHER_ADMIN_ALLOWED_HOSTS", "a.example, b.example")]).expect("ok");
        assert_eq!(c.admin.allowed_hosts, vec!["a.example", "b.example"]);
        assert!(Config::default().admin.allowed_hosts.is_empty());
    }

    #[test]
    fn reads_and_tls_are_configurable() {
        let c = with_env(&[("ENRICHER_ADMIN_OPEN_READS", "false")]).expect("ok");
        assert!(!c.admin.open_reads);
        assert!(Config::default().admin.open_reads);
        let half = with_env(&[("ENRICHER_ADMIN_TLS_CERT", "/c.pem")]);
        assert!(
            half.expect_err("no key")
                .to_string()
                .contains("admin.tls-key")
        );
        let both = with_env(&[
            ("ENRICHER_ADMIN_TLS_CERT", "/c.pem"),
            ("ENRICHER_ADMIN_TLS_KEY", "/k.pem"),
        ]);
        assert_eq!(
            both.expect("ok").admin.tls(),
            Some(("/c.pem".into(), "/k.pem".into()))
        );
    }
}
