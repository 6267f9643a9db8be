//! The admin API's settings as both hosts take them: the token (read from
//! its file now) and TLS files, and the refusal of an open bind without a
//! token before a run connects to anything.

use super::StartError;
use crate::admin::{AdminAccess, AdminOptions, TlsFiles, check_bind};
use crate::config::Config;
use crate::error::ConfigError;

/// Refuse an open admin API (or an unreadable token) before anything else:
/// `run` calls this before it waits for the broker.
pub fn check_admin_settings(config: &Config) -> Result<(), StartError> {
    if let Some(addr) = config.deploy.admin_bind {
        check_bind(addr, &admin_options(config)?)?;
    }
    Ok(())
}

/// The admin API's security settings: its token (read from the file now) and TLS files.
pub fn admin_options(config: &Config) -> Result<AdminOptions, ConfigError> {
    let token = config.admin.token()?;
    Ok(AdminOptions {
        access: AdminAccess::new(token.as_deref(), config.admin.open_reads)
            .allowing_hosts(&config.admin.allowed_hosts),
        tls: config.admin.tls().map(|(cert, key)| TlsFiles { cert, key }),
        ..AdminOptions::default()
    })
}
