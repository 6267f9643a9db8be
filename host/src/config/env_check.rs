//! Environment variables that look like settings but are none. A typo such as
//! `ENRICHER_LOOKUP_CACHE` (for `LOOKUP_CACHE`) would otherwise be ignored
//! without a word; at start each one is reported with the nearest real name.
//!
//! Which names are ours: `ENRICHER_*`, `LOOKUP_*`, `DUCKDB_*` and `CLAIMS_*` (every unknown
//! one is reported), `KAFKA_*` (shared with other Kafka tools: reported only
//! when close to one of ours), and any other name very close to one of ours
//! (`PAYMENT_EVENT_TOPIC`).

use std::fmt;

use super::kafka::{PROPERTY_ENV, PROPERTY_ENV_PREFIX};
use super::layers::env_table;

/// Names under our prefixes that are read elsewhere, not settings; add a name
/// here when code or a script starts reading one.
const NOT_SETTINGS: &[&str] = &[
    "ENRICHER_CONFIG",         // --config (main.rs)
    "ENRICHER_ADMIN_ADDR",     // enricher plugin --admin (cli/plugin.rs)
    "ENRICHER_PERF_MAP",       // a perf map of the JIT code (runtime/engine.rs)
    "ENRICHER_KAFKA_STATE",    // where the test brokers keep their state (scripts/)
    "ENRICHER_DEFAULT_PLUGIN", // host/build.rs, also set by `cargo run` and `cargo test`
    "ENRICHER_RAW_PLUGIN",     // host/build.rs, as ENRICHER_DEFAULT_PLUGIN
    "KAFKA_PORT",              // the test broker's port (scripts/kafka-up, kafka-demo)
    "KAFKA_STORAGE",           // where a SASL test broker keeps its users (scripts/kafka-up --sasl)
    // Logging, read before any config (the binary's cli/logging.rs).
    "LOG_FORMAT",
    "LOG_LEVEL",
    "FLINK_LOG_LEVEL",
    "LOG_FILE",
    // Read by libduckdb-sys's build script.
    "DUCKDB_LIB_DIR",
    "DUCKDB_INCLUDE_DIR",
    "DUCKDB_STATIC",
    "DUCKDB_DOWNLOAD_LIB",
    "DUCKDB_BUILD_LIBRARY",
    "DUCKDB_CMAKE_BUILD_TYPE",
    "DUCKDB_DISABLE_EXTENSION_LOAD",
    "DUCKDB_DISABLE_JEMALLOC",
    "DUCKDB_DISABLE_UNITY",
    "DUCKDB_EXTENSION_AUTOINSTALL_DEFAULT",
    "DUCKDB_EXTENSION_AUTOLOAD_DEFAULT",
    "DUCKDB_EXTENSION_CONFIGS",
];

/// Prefixes of names read by the tests and scripts (`ENRICHER_TEST_KAFKA`...).
const NOT_SETTING_PREFIXES: &[&str] = &["ENRICHER_TEST_"];

/// Prefixes of settings named by their suffix (`KAFKA_PROPERTY_<KEY>`).
const SETTING_PREFIXES: &[&str] = &[PROPERTY_ENV_PREFIX];

/// Every unknown name under these is reported.
const OWN_PREFIXES: &[&str] = &["ENRICHER_", "LOOKUP_", "DUCKDB_", "CLAIMS_"];

/// Unknown names under these are reported only with a suggestion.
const SHARED_PREFIXES: &[&str] = &["KAFKA_"];

/// An environment variable that looks like a setting but is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVar {
    pub name: String,
    /// The nearest name that is read (a setting's variable, or one of `also_known`).
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {} is not a setting and is ignored",
            self.name
        )?;
        match &self.suggestion {
            Some(name) => match env_table().find(|&(n, _)| n == name) {
                Some((_, key)) => write!(f, ": did you mean {name} ({key})?"),
                None => write!(f, ": did you mean {name}?"),
            },
            None => write!(
                f,
                " (the settings and their variables are listed under Configuration in docs/operations.md)"
            ),
        }
    }
}

/// Whether `name` is a setting's environment variable (the `ENV` tables,
/// `KAFKA_SASL_*`, `KAFKA_PROPERTY_<KEY>`); manifests are checked against it.
pub fn is_setting_env(name: &str) -> bool {
    env_table().any(|(n, _)| n == name)
        || PROPERTY_ENV.iter().any(|&(n, _)| n == name)
        || SETTING_PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name.starts_with(p))
}

/// Whether `name` is read by the binary but is no setting (`ENRICHER_CONFIG`...).
pub fn is_read_elsewhere(name: &str) -> bool {
    NOT_SETTINGS.contains(&name)
}

/// The names among `present` that look like settings but are none.
/// `also_known` are names read elsewhere (the binary's flags' `env`).
pub fn unknown_env_vars<'a>(
    present: impl IntoIterator<Item = &'a str>,
    also_known: &[&str],
) -> Vec<UnknownVar> {
    let known: Vec<&str> = env_table()
        .map(|(name, _)| name)
        .chain(PROPERTY_ENV.iter().map(|&(name, _)| name))
        .chain(also_known.iter().copied())
        .collect();
    let mut unknown: Vec<UnknownVar> = present
        .into_iter()
        .filter(|name| !known.contains(name) && !NOT_SETTINGS.contains(name))
        .filter(|name| !NOT_SETTING_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|name| !SETTING_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter_map(|name| {
            let suggestion = nearest(name, &known);
            let ours = OWN_PREFIXES.iter().any(|p| name.starts_with(p));
            let shared = SHARED_PREFIXES.iter().any(|p| name.starts_with(p));
            let very_close = suggestion.is_some_and(|s| name.len() >= 8 && distance(name, s) <= 2);
            (ours || (shared && suggestion.is_some()) || very_close).then(|| UnknownVar {
                name: name.to_owned(),
                suggestion: suggestion.map(str::to_owned),
            })
        })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown
}

/// Log a warning for each variable of this process that looks like a setting but is none.
pub fn warn_unknown_env(also_known: &[&str]) {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    for var in unknown_env_vars(names.iter().map(String::as_str), also_known) {
        tracing::warn!("{var}");
    }
}

/// The name of `known` nearest to `name`, if one is close: a few edits apart
/// (an `ENRICHER_` prefix does not count), or one a prefix of the other.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let bare = |n: &'a str| n.strip_prefix("ENRICHER_").unwrap_or(n);
    let name_bare = name.strip_prefix("ENRICHER_").unwrap_or(name);
    known
        .iter()
        .filter_map(|&candidate| {
            let c = bare(candidate);
            let d = distance(name_bare, c);
            let few_edits = d <= (c.len() / 5).max(2);
            let prefix = name_bare.len().min(c.len()) >= 8
                && (name_bare.starts_with(c) || c.starts_with(name_bare));
            (few_edits || prefix).then_some((d, candidate))
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two ASCII names (bytes).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str]) -> Vec<(String, Option<String>)> {
        unknown_env_vars(names.iter().copied(), &["ENRICHER_CONFIG"])
            .into_iter()
            .map(|v| (v.name, v.suggestion))
            .collect()
    }

    fn one(name: &str, suggestion: Option<&str>) -> (String, Option<String>) {
        (name.to_owned(), suggestion.map(str::to_owned))
    }

    #[test]
    fn typos_of_settings_are_reported_with_the_nearest_name() {
        assert_eq!(
            check(&[
                "ENRICHER_LOOKUP_CACHE",
                "KAFKA_BOOTSTRAP_SERVER",
                "DUCKDB_THREAD",
                "ENRICHER_BATCHSIZE",
                "PAYMENT_EVENT_TOPIC",
                "LOOKUP_CACHE_TTL_MS",
            ]),
            [
                one("DUCKDB_THREAD", Some("DUCKDB_THREADS")),
                one("ENRICHER_BATCHSIZE", Some("ENRICHER_BATCH_SIZE")),
                one("ENRICHER_LOOKUP_CACHE", Some("LOOKUP_CACHE")),
                one("KAFKA_BOOTSTRAP_SERVER", Some("KAFKA_BOOTSTRAP_SERVERS")),
                one("LOOKUP_CACHE_TTL_MS", Some("LOOKUP_CACHE_TTL")),
                one("PAYMENT_EVENT_TOPIC", Some("PAYMENT_EVENTS_TOPIC")),
            ]
        );
        let text = unknown_env_vars(["ENRICHER_LOOKUP_CACHE"], &[])[0].to_string();
        assert_eq!(
            text,
            "environment variable ENRICHER_LOOKUP_CACHE is not a setting and is ignored: \
             did you mean LOOKUP_CACHE (lookup.cache)?"
        );
    }

    #[test]
    fn our_prefixes_are_reported_without_a_match_and_others_only_with_one() {
        assert_eq!(
            check(&[
                "ENRICHER_WIDGETS",
                "KAFKA_HEAP_OPTS",
                "HOME",
                "PATH",
                "DUCKDB_PATH"
            ]),
            [one("DUCKDB_PATH", None), one("ENRICHER_WIDGETS", None)]
        );
        let text = unknown_env_vars(["ENRICHER_WIDGETS"], &[])[0].to_string();
        assert!(text.contains("docs/operations.md"), "{text}");
    }

    #[test]
    fn settings_and_names_read_elsewhere_are_not_reported() {
        let known: Vec<&str> = env_table().map(|(name, _)| name).collect();
        assert_eq!(check(&known), []);
        assert_eq!(
            check(&[
                "ENRICHER_CONFIG",
                "ENRICHER_PERF_MAP",
                "ENRICHER_DEFAULT_PLUGIN",
                "ENRICHER_RAW_PLUGIN",
                "ENRICHER_TEST_KAFKA",
                "ENRICHER_TEST_KAFKA_TXN",
                "KAFKA_PORT",
                "KAFKA_STORAGE",
                "DUCKDB_LIB_DIR",
                "KAFKA_SASL_USERNAME",
                "KAFKA_SASL_PASSWORD",
                "KAFKA_PROPERTY_SSL_CA_LOCATION",
            ]),
            []
        );
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("DUCKDB_URL", "DUCKDB_URL"), 0);
    }
}
