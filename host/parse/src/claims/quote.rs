//! How a value from a claims file is shown in a message: cut short if long,
//! control characters escaped, so a hostile value cannot flood the output or
//! drive a terminal.

/// At most this many characters of a value are shown.
pub const MAX_QUOTED_CHARS: usize = 60;

/// `value` quoted for a message: cut short if long, control characters
/// escaped (`\0`, `\u{1b}`), so a hostile value cannot drive a terminal.
pub fn quoted(value: &str) -> String {
    quoted_up_to(value, MAX_QUOTED_CHARS)
}

/// [`quoted`], showing at most `max_chars` characters of `value`.
pub fn quoted_up_to(value: &str, max_chars: usize) -> String {
    let (shown, more) = match value.char_indices().nth(max_chars) {
        Some((cut, _)) => (&value[..cut], "..."),
        None => (value, ""),
    };
    let mut text = String::with_capacity(shown.len() + more.len());
    for c in shown.chars() {
        if c.is_control() {
            text.extend(c.escape_debug());
        } else {
            text.push(c);
        }
    }
    text.push_str(more);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_control_characters_escaped() {
        let long = "x".repeat(1_000);
        assert_eq!(quoted(&long).len(), MAX_QUOTED_CHARS + 3);
        assert_eq!(quoted("é"), "é");
        assert_eq!(quoted("a\0b\u{1b}"), "a\\0b\\u{1b}");
    }
}
