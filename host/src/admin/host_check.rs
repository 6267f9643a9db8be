//! Which `Host` names a call to the admin API may carry, against DNS
//! rebinding: a web page on `evil.example` re-points that name at 127.0.0.1,
//! and its requests then reach a loopback admin API as same-origin ones
//! (`Host: evil.example:9464`, `Origin: http://evil.example:9464`), which the
//! token (a host without one) and the origin check cannot tell apart from
//! the operator's own.
//!
//! A call (read or write) is accepted only for `localhost`, a loopback address, the address
//! the API listens on, or a name in `admin.allowed-hosts`
//! (`ENRICHER_ADMIN_ALLOWED_HOSTS`; `*` accepts any); a request without
//! `Host` (never a browser's) is let through. A host with a token
//! skips the check unless `admin.allowed-hosts` is set: a rebinding page does
//! not know the token, and clients may reach such a host by any name (a
//! Kubernetes Service).

use std::net::IpAddr;

use crate::deploy::printable;

/// The `Host` names writers may use, beyond the built-in ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts {
    /// Lower-case names (no port) from `admin.allowed-hosts`.
    names: Vec<String>,
    /// The address the server listens on (unless unspecified, `0.0.0.0`).
    bind: Option<IpAddr>,
}

impl AllowedHosts {
    pub(crate) fn new(names: &[String]) -> Self {
        Self {
            names: names
                .iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
            bind: None,
        }
    }

    pub(crate) fn bound_to(&mut self, ip: IpAddr) {
        self.bind = (!ip.is_unspecified()).then_some(ip);
    }

    /// `Ok` when a write naming `host` may go on (`has_token`: the host has an admin token).
    pub(crate) fn check(&self, host: Option<&str>, has_token: bool) -> Result<(), String> {
        if has_token && self.names.is_empty() {
            return Ok(());
        }
        // Browsers always send `Host`: a request without one is no rebinding
        // page (HTTP/1.0 tools, hand-written requests).
        let Some(host) = host else {
            return Ok(());
        };
        if self.allows(&name_of(host)) {
            return Ok(());
        }
        Err(format!(
            "requests for host {} are refused: this API answers only localhost, \
             loopback addresses, the address it listens on and admin.allowed-hosts \
             (ENRICHER_ADMIN_ALLOWED_HOSTS), so a web page that points its own name at this \
             machine (DNS rebinding) cannot read it, deploy or post claims",
            printable(host)
        ))
    }

    fn allows(&self, name: &str) -> bool {
        if name == "localhost" || self.names.iter().any(|n| n == "*" || n == name) {
            return true;
        }
        let Ok(ip) = name.parse::<IpAddr>() else {
            return false;
        };
        ip.to_canonical().is_loopback() || self.bind == Some(ip)
    }
}

/// The name of a `Host` value, without its port and brackets, lower-case.
fn name_of(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(ip, _)| ip),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_names_may_write_on_a_host_without_a_token() {
        let mut hosts = AllowedHosts::new(&["Enricher.Internal".into()]);
        hosts.bound_to("10.1.2.3".parse().expect("ip"));
        for ok in [
            "localhost:9464",
            "LOCALHOST",
            "127.0.0.1:9464",
            "127.8.9.10",
            "[::1]:9464",
            "[::ffff:127.0.0.1]:1",
            "10.1.2.3:9464",
            "enricher.internal:80",
            "enricher.internal.",
        ] {
            assert_eq!(hosts.check(Some(ok), false), Ok(()), "{ok}");
        }
        for refused in [
            "evil.example:9464",
            "evil.example",
            "localhost.evil.example",
            "10.1.2.4:9464",
            "127.0.0.1.evil.example",
            "",
        ] {
            let why = hosts.check(Some(refused), false).expect_err(refused);
            assert!(why.contains("DNS rebinding"), "{why}");
        }
        assert_eq!(hosts.check(None, false), Ok(()), "no Host: no browser");
    }

    #[test]
    fn a_token_skips_the_check_unless_names_are_configured() {
        let open = AllowedHosts::default();
        assert_eq!(open.check(Some("enricher-0.enricher:9464"), true), Ok(()));
        assert!(open.check(Some("enricher-0.enricher:9464"), false).is_err());
        let listed = AllowedHosts::new(&["enricher-0.enricher".into()]);
        assert_eq!(listed.check(Some("enricher-0.enricher:9464"), true), Ok(()));
        assert!(listed.check(Some("evil.example"), true).is_err());
        let any = AllowedHosts::new(&["*".into()]);
        assert_eq!(any.check(Some("evil.example"), false), Ok(()));
    }
}
