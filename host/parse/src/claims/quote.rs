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

/// [`quoted`], at most `max_chars` characters long once escaped (then `...`
/// follows): an escape counts its full length, so a value of control
/// characters cannot make the message grow past the bound.
pub fn quoted_up_to(value: &str, max_chars: usize) -> String {
    let mut text = String::with_capacity(value.len().min(max_chars * 4) + 3);
    let mut shown = 0;
    for c in value.chars() {
        let width = if c.is_control() {
            c.escape_debug().count()
        } else {
            1
        };
        if shown + width > max_chars {
            text.push_str("...");
            break;
        }
        shown += width;
        if c.is_control() {
            text.extend(c.escape_debug());
        } else {
            text.push(c);
        }
    }
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
        // Found by the `claims_json_lines` fuzz target: escapes count in full.
        let escaped = quoted(&"\u{7f}".repeat(1_000));
        assert_eq!(escaped, format!("{}...", "\\u{7f}".repeat(10)));
    }
}
