//! How single setting values are read: the DuckDB URL, durations (through
//! `humantime`) and the serde glue that lets the file, the environment and flags
//! share one parser per kind of value.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// What a duration setting accepts, for error messages.
pub(crate) const DURATION_HINT: &str = "a duration such as 500ms, 2s, 1min or 1h 30m";

/// The file a `DUCKDB_URL` names: a plain path, `jdbc:duckdb:<path>`,
/// `duckdb:<path>` or `file:<path>`; `:memory:` (or an empty path after a
/// prefix, `jdbc:duckdb:`) means in memory. An empty URL is refused.
pub fn parse_duckdb_url(url: &str) -> Result<Option<PathBuf>, ConfigError> {
    if url.trim().is_empty() {
        return Err(super::layers::invalid(
            "duckdb.url",
            "empty; expected the claims database file: a path such as claims.duckdb, \
             jdbc:duckdb:<path> or duckdb:<path>",
        ));
    }
    let rest = url
        .strip_prefix("jdbc:duckdb:")
        .or_else(|| url.strip_prefix("duckdb:"))
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url);
    let rest = rest
        .strip_prefix("//")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(rest);
    if rest.contains("://") {
        return Err(ConfigError::Invalid(format!(
            "DUCKDB_URL {url:?}: DuckDB is embedded here; give a file path (or jdbc:duckdb:<path>), not a server URL"
        )));
    }
    match rest.trim() {
        "" | ":memory:" => Ok(None),
        path => Ok(Some(PathBuf::from(path))),
    }
}

/// A `humantime` duration (`250ms`, `2s`, `1min`, `1m`, `1.5h`, `1h 30m`).
/// A bare number is refused (is `500` ms or s?) with a hint, except `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    duration(text).map_err(|why| describe(text, &why))
}

/// The one message for a refused duration: a bare number gets its hint
/// alone, anything else what is accepted and the parser's own reason.
fn describe(text: &str, why: &str) -> String {
    if is_bare_number(text.trim()) {
        format!("{:?}: {why}", text.trim())
    } else {
        format!("{text:?}: expected {DURATION_HINT} ({why})")
    }
}

fn is_bare_number(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// The hint for a number without a unit (`500`).
fn add_a_unit(number: &str) -> String {
    format!("add a unit, e.g. {number}ms or {number}s")
}

fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("a duration cannot be negative".to_owned());
    }
    if is_bare_number(t) {
        // Zero is zero in any unit; any other bare number is ambiguous.
        return match t.parse::<f64>() {
            Ok(0.0) => Ok(Duration::ZERO),
            _ => Err(add_a_unit(t)),
        };
    }
    humantime::parse_duration(t).map_err(|e| e.to_string())
}

/// Serde glue: a duration as text (`"2s"`), written back the way humantime
/// prints it. A number (`timeout = 500` in the file) is read to say which
/// unit to add, instead of serde's `invalid type: integer`.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::DURATION_HINT;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        Whole(u64),
        Number(f64),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = match Given::deserialize(d)
            .map_err(|_| D::Error::custom(format!("expected {DURATION_HINT}, as text (\"2s\")")))?
        {
            Given::Text(text) => text,
            Given::Whole(n) => n.to_string(),
            Given::Number(n) => n.to_string(),
        };
        super::duration(&text).map_err(|why| {
            if super::is_bare_number(text.trim()) {
                D::Error::custom(why)
            } else {
                D::Error::custom(format!("expected {DURATION_HINT} ({why})"))
            }
        })
    }
}

/// The delays of a retry schedule (`30s,2m,10m`), one per attempt; empty
/// (written `off`) means no retry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    /// `off` (also `none`, empty) or durations separated by commas.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "off" | "none" => Ok(Self::default()),
            list => list
                .split(',')
                .map(|d| match duration(d) {
                    Ok(delay) if delay.is_zero() => {
                        Err(format!("{:?}: a retry delay must be positive", d.trim()))
                    }
                    Ok(d) => Ok(d),
                    Err(why) => Err(format!(
                        "{:?}: expected off or delays such as 30s,2m,10m ({why})",
                        d.trim()
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Self),
        }
    }

    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }

    /// The delay before attempt `n` (1-based), if there is one.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let i = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.0.get(i).copied()
    }

    /// How many retries there are.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }
}

impl TryFrom<String> for RetrySchedule {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<RetrySchedule> for String {
    fn from(s: RetrySchedule) -> String {
        if s.0.is_empty() {
            return "off".into();
        }
        let parts: Vec<String> =
            s.0.iter()
                .map(|d| humantime::format_duration(*d).to_string())
                .collect();
        parts.join(",")
    }
}

/// Serde glue: an optional socket address, where `off`, `none` or empty means none.
pub(crate) mod optional_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
            None | Some("" | "off" | "none") => Ok(None),
            Some(addr) => addr.parse().map(Some).map_err(|_| {
                D::Error::custom("expected host:port (such as 127.0.0.1:9464) or off")
            }),
        }
    }
}

/// Serde glue: an optional path where an empty one means none.
pub(crate) mod optional_path {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let path = Option::<PathBuf>::deserialize(d)?;
        Ok(path.filter(|p| !p.as_os_str().is_empty()))
    }
}

/// Serde glue: a list of paths, given as a list (the file) or as one
/// comma-separated text (the environment); empty entries are dropped.
pub(crate) mod path_list {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        List(Vec<PathBuf>),
    }

    /// Empty entries are skipped; a setting given (text, or a list that is
    /// not `[]`) that names no path at all is refused: for the trusted keys,
    /// `ENRICHER_TRUSTED_KEYS=,` meaning "check nothing" would silently turn
    /// signature enforcement off. The default (and `[]`) stay the empty list.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        let (paths, given) = match Given::deserialize(d)? {
            Given::Text(text) => (
                text.split(',').map(|p| PathBuf::from(p.trim())).collect(),
                true,
            ),
            Given::List(list) => {
                let given = !list.is_empty();
                (list, given)
            }
        };
        let paths: Vec<PathBuf> = paths
            .into_iter()
            .map(|p| PathBuf::from(p.to_string_lossy().trim()))
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if given && paths.is_empty() {
            return Err(serde::de::Error::custom(
                "is set but names nothing (empty, or only commas): give at least one, \
                 or unset it",
            ));
        }
        Ok(paths)
    }
}

/// A list of names: a TOML list, or comma-separated text (env); refused
/// when given but naming nothing, as [`path_list`].
pub(crate) mod string_list {
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let paths = super::path_list::deserialize(d)?;
        Ok(paths
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_url_accepts_the_original_forms() {
        let p = |u: &str| parse_duckdb_url(u).expect("valid");
        assert_eq!(p("claims.duckdb"), Some(PathBuf::from("claims.duckdb")));
        assert_eq!(
            p("jdbc:duckdb:/data/claims.db"),
            Some(PathBuf::from("/data/claims.db"))
        );
        assert_eq!(
            p("duckdb:rel/claims.db"),
            Some(PathBuf::from("rel/claims.db"))
        );
        assert_eq!(
            p("file:///abs/claims.db"),
            Some(PathBuf::from("/abs/claims.db"))
        );
        assert_eq!(p("jdbc:duckdb:"), None);
        assert_eq!(p(":memory:"), None);
        let err =
            parse_duckdb_url("jdbc:duckdb:http://localhost:8080/database").expect_err("server url");
        assert!(err.to_string().contains("embedded"));
        let err = parse_duckdb_url(" ").expect_err("empty url");
        assert!(
            err.to_string()
                .starts_with("invalid setting duckdb.url (DUCKDB_URL): empty; expected"),
            "{err}"
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1min"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("0"),
            Ok(Duration::ZERO),
            "zero needs no unit"
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        let negative = parse_duration("-1s").expect_err("negative");
        assert!(negative.contains("cannot be negative"), "{negative}");
    }

    #[test]
    fn retry_schedules_are_off_or_positive_delays() {
        assert!(RetrySchedule::parse("off").expect("off").is_off());
        assert!(RetrySchedule::parse("").expect("empty").is_off());
        let s = RetrySchedule::parse("30s, 2m,10m").expect("three delays");
        assert_eq!(s.attempts(), 3);
        assert_eq!(s.delay(1), Some(Duration::from_secs(30)));
        assert_eq!(s.delay(3), Some(Duration::from_secs(600)));
        assert_eq!((s.delay(0), s.delay(4)), (None, None));
        assert_eq!(RetrySchedule::parse(&String::from(s.clone())), Ok(s));
        assert!(RetrySchedule::parse("0s").is_err());
        let err = RetrySchedule::parse("30s,soon").expect_err("bad delay");
        assert!(err.contains("\"soon\""), "{err}");
    }

    #[test]
    fn durations_take_humantime_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_secs(5400)));
        let bare = parse_duration("500").expect_err("a bare number is ambiguous");
        assert_eq!(bare, "\"500\": add a unit, e.g. 500ms or 500s");
        let bare = parse_duration(" 2.5 ").expect_err("a bare number is ambiguous");
        assert_eq!(bare, "\"2.5\": add a unit, e.g. 2.5ms or 2.5s");
        let err = parse_duration("fast").expect_err("no number");
        assert!(err.contains("\"fast\"") && err.contains("1h 30m"), "{err}");
        let printed = humantime::format_duration(Duration::from_millis(90_020)).to_string();
        assert_eq!(parse_duration(&printed), Ok(Duration::from_millis(90_020)));
    }
}
