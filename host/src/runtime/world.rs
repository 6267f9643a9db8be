//! Which form of plugin a component is (raw bytes or typed records), which
//! version of the WIT package it was built against, and whether this host can
//! run it (semver: same major, minor up to the host's).
//!
//! Both are read from the component's exports before linking: a `transform`
//! export (`payments:enrichment/transform@X.Y.Z`, world `enricher`) is a raw
//! plugin, a `typed-transform` export (world `typed-enricher`, 1.2.0 on) a
//! typed one. A plugin built for another major version, or exporting
//! neither, gets a message that says so instead of a linker error.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::bindings::WIT_PACKAGE_VERSION;

/// The package and interface a plugin must export.
pub const PACKAGE: &str = "payments:enrichment";
const TRANSFORM: &str = "payments:enrichment/transform";
const TYPED_TRANSFORM: &str = "payments:enrichment/typed-transform";

/// The two forms of plugin: which transform a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginForm {
    /// `transform`: raw payload bytes in, output records (JSON it wrote) out.
    Raw,
    /// `typed-transform`: the host parses, looks up and writes; the plugin decides.
    Typed,
}

impl PluginForm {
    /// How `enricher` names it (`raw` or `typed`).
    pub fn name(self) -> &'static str {
        match self {
            PluginForm::Raw => "raw",
            PluginForm::Typed => "typed",
        }
    }
}

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

/// The form of `component` and the package version it was built against, if
/// this host can run it. A component exporting both transforms runs typed.
pub fn check_world(
    engine: &Engine,
    component: &Component,
) -> Result<(PluginForm, WitVersion), String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let version_of = |interface: &'static str| {
        exports.iter().find_map(|name| {
            let rest = name.strip_prefix(interface)?.strip_prefix('@')?;
            Some((interface, rest))
        })
    };
    let Some((form, (interface, version))) = version_of(TYPED_TRANSFORM)
        .map(|v| (PluginForm::Typed, v))
        .or_else(|| version_of(TRANSFORM).map(|v| (PluginForm::Raw, v)))
    else {
        let found = if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        };
        return Err(format!(
            "it exports neither {TRANSFORM} (world `enricher`) nor {TYPED_TRANSFORM} (world `typed-enricher`) (it exports {found}); build it against the WIT package in wit/"
        ));
    };
    let plugin = WitVersion::parse(version).ok_or_else(|| {
        format!("it exports {interface}@{version}, not a major.minor.patch version")
    })?;
    let host = WitVersion::host();
    if !host.runs(&plugin) {
        return Err(format!(
            "it was built for {PACKAGE}@{plugin}; this host runs {PACKAGE}@{}.0.0 to @{host}",
            host.major
        ));
    }
    Ok((form, plugin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> WitVersion {
        WitVersion::parse(text).expect("version")
    }

    #[test]
    fn same_major_up_to_the_hosts_minor_runs() {
        let host = v("1.2.0");
        assert!(host.runs(&v("1.0.0")));
        assert!(host.runs(&v("1.1.0")));
        assert!(host.runs(&v("1.2.0")));
        assert!(
            !host.runs(&v("1.3.0")),
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
