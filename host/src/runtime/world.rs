//! Which version of the WIT package a component was built against, and
//! whether this host can run it (semver: same major, minor up to the host's).
//!
//! The version is read from the component's export of the `transform`
//! interface (`payments:enrichment/transform@X.Y.Z`), before linking, so a
//! plugin built for another major version gets a message that says so
//! instead of a linker error about a missing export.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::bindings::WIT_PACKAGE_VERSION;

/// The package and interface a plugin must export.
pub const PACKAGE: &str = "payments:enrichment";
const TRANSFORM: &str = "payments:enrichment/transform";

/// A `major.minor.patch` version (pre-release tags are not used by this package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WitVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl WitVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let v = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// The version of the package this host was built with.
    pub fn host() -> Self {
        Self::parse(WIT_PACKAGE_VERSION).unwrap_or(Self {
            major: 1,
            minor: 0,
            patch: 0,
        })
    }

    /// Whether a host of version `self` runs a plugin built for `plugin`:
    /// same major, and nothing newer than the host knows.
    pub fn runs(&self, plugin: &WitVersion) -> bool {
        plugin.major == self.major && (plugin.minor, plugin.patch) <= (self.minor, self.patch)
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The package version `component` was built against, if this host can run it.
pub fn check_world(engine: &Engine, component: &Component) -> Result<WitVersion, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let Some(version) = exports
        .iter()
        .find_map(|name| name.strip_prefix(TRANSFORM)?.strip_prefix('@'))
    else {
        let found = if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        };
        return Err(format!(
            "it does not export {TRANSFORM} (it exports {found}); build it against the WIT package in wit/"
        ));
    };
    let plugin = WitVersion::parse(version).ok_or_else(|| {
        format!("it exports {TRANSFORM}@{version}, not a major.minor.patch version")
    })?;
    let host = WitVersion::host();
    if !host.runs(&plugin) {
        return Err(format!(
            "it was built for {PACKAGE}@{plugin}; this host runs {PACKAGE}@{}.0.0 to @{host}",
            host.major
        ));
    }
    Ok(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> WitVersion {
        WitVersion::parse(text).expect("version")
    }

    #[test]
    fn same_major_up_to_the_hosts_minor_runs() {
        let host = v("1.1.0");
        assert!(host.runs(&v("1.0.0")));
        assert!(host.runs(&v("1.1.0")));
        assert!(
            !host.runs(&v("1.2.0")),
            "a newer minor may import what this host lacks"
        );
        assert!(!host.runs(&v("2.0.0")));
        assert!(!host.runs(&v("0.9.0")));
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(v("1.10.2").minor, 10);
        for bad in ["1.0", "1.0.0.0", "1.x.0", "", "1.0.0-rc1"] {
            assert_eq!(WitVersion::parse(bad), None, "{bad}");
        }
    }
}
