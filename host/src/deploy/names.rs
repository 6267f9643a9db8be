//! What a plugin may be called: names and versions (from a deploy request,
//! from the plugin's own `info()`, from a fleet topic record) are limited to
//! [`SAFE_CHARS`] and [`MAX_LEN`] characters, because they reach the fleet
//! topic's keys, `plugin list`, metrics labels and the logs. Anything else
//! is refused (the admin API answers 422). [`printable`] escapes text from
//! elsewhere (a name refused here, an answer of another host) before it
//! reaches a terminal or a log line, so newlines and escape codes never do.

use std::fmt::Write;

/// The characters a name or version may contain, besides ASCII letters and digits.
pub const SAFE_CHARS: &str = "._+-";
/// The longest name or version.
pub const MAX_LEN: usize = 64;
/// How much of a refused value a message quotes.
const QUOTED: usize = 80;

/// Check a plugin name; the error says what is wrong, quoting it escaped.
pub fn check_name(name: &str) -> Result<(), String> {
    check("name", name)
}

/// Check a plugin version, the same way as a name.
pub fn check_version(version: &str) -> Result<(), String> {
    check("version", version)
}

/// Check a `name@version` key (a fleet topic record's, an activation history's).
pub fn check_key(key: &str) -> Result<(), String> {
    match key.rsplit_once('@') {
        Some((name, version)) => check_name(name).and_then(|()| check_version(version)),
        None => Err(format!("plugin key {} is not name@version", printable(key))),
    }
}

fn check(what: &str, value: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || SAFE_CHARS.contains(c);
    let problem = if value.is_empty() {
        "is empty".to_owned()
    } else if value.chars().count() > MAX_LEN {
        format!("is longer than {MAX_LEN} characters")
    } else if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        format!("contains {}", printable(&bad.to_string()))
    } else if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "must start with a letter or digit".to_owned()
    } else {
        return Ok(());
    };
    Err(format!(
        "plugin {what} {} {problem}: use at most {MAX_LEN} of A-Z a-z 0-9 {SAFE_CHARS}, \
         starting with a letter or digit",
        quoted(value)
    ))
}

/// `value` in quotes, escaped, and cut to [`QUOTED`] characters.
fn quoted(value: &str) -> String {
    let cut: String = value.chars().take(QUOTED).collect();
    let more = if cut.len() < value.len() { "…" } else { "" };
    format!("\"{}\"{more}", printable(&cut))
}

/// `text` with control characters (newlines and escape codes included) and
/// bidirectional overrides escaped as `\n`, `\u{1b}`..., other text unchanged.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi || c == '\\' {
            // `escape_default` gives `\n`, `\t`, `\\` and `\u{1b}` forms.
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_and_versions_pass() {
        for ok in [
            "enrichment",
            "my-plugin_2",
            "a",
            "0.1.0",
            "1.0.0-rc.1+build.5",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_key("p@1.2.3"), Ok(()));
    }

    #[test]
    fn hostile_names_are_refused_with_the_value_escaped() {
        let long = "x".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "two words",
            "new\nline",
            "esc\u{1b}[31mred",
            "a/b",
            "-flag",
            ".hidden",
            "ü",
            long.as_str(),
        ] {
            let why = check_name(bad).expect_err(bad);
            assert!(!why.contains('\n') && !why.contains('\u{1b}'), "{why:?}");
            assert!(why.contains("A-Z a-z 0-9"), "{why}");
        }
        let why = check_name("esc\u{1b}[31m").expect_err("escape");
        assert!(why.contains(r"esc\u{1b}[31m"), "{why}");
        assert!(check_key("no-version").is_err());
        assert!(check_key("p@1\n").is_err());
    }

    #[test]
    fn printable_escapes_controls_only() {
        assert_eq!(printable("plain ü-1.0"), "plain ü-1.0");
        assert_eq!(printable("a\nb\r\u{1b}[2J"), r"a\nb\r\u{1b}[2J");
        assert_eq!(printable("\u{9b}\u{202e}x"), r"\u{9b}\u{202e}x");
        assert_eq!(printable(r"back\slash"), r"back\\slash");
    }
}
