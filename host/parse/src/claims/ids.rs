//! What a `claim_id`, `member_id` or `claim_status` may hold: at most
//! [`MAX_ID_BYTES`] bytes, no control character (NUL, escape, line breaks,
//! DEL, C1...) and no bidirectional control (U+202A-U+202E, U+2066-U+2069,
//! which make a terminal or a page show an id other than the one stored).
//! Such values only come from broken or hostile files; they would slip into
//! the table, outputs and terminals, and a huge one would be held in memory
//! by every cache entry and copied into every output. The error says what is
//! wrong, like the other row checks.

use super::quote::quoted;

/// The longest id accepted, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Checks one (trimmed, non-empty) id; `name` is its column.
pub fn check_id(name: &str, id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{name} is {} bytes long, more than {MAX_ID_BYTES} ({})",
            id.len(),
            quoted(id)
        ));
    }
    match id
        .char_indices()
        .find(|(_, c)| c.is_control() || is_bidi_control(*c))
    {
        Some((at, c)) => Err(format!(
            "{name} holds a {} character (U+{:04X} at byte {at}) ({})",
            if c.is_control() {
                "control"
            } else {
                "bidirectional control"
            },
            u32::from(c),
            quoted(id)
        )),
        None => Ok(()),
    }
}

/// The explicit embedding, override and isolate controls of Unicode's
/// bidirectional algorithm (the "Trojan Source" characters).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "CLM-000123",
            "MBR 42",
            "été-ñ-東京",
            &"x".repeat(MAX_ID_BYTES),
        ] {
            assert_eq!(check_id("claim_id", id), Ok(()), "{id}");
        }
    }

    #[test]
    fn long_ids_are_refused_with_their_length() {
        let long = "7".repeat(1_000_000);
        let message = check_id("claim_id", &long).expect_err("long");
        assert!(
            message.starts_with("claim_id is 1000000 bytes long, more than 256 (7777"),
            "{message}"
        );
        assert!(message.len() < 200, "the value is cut: {}", message.len());
        let just_over = "é".repeat(129);
        assert!(check_id("member_id", &just_over).is_err());
    }

    #[test]
    fn bidirectional_controls_are_refused() {
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
            let id = format!("CLM-{c}1");
            let message = check_id("claim_id", &id).expect_err("bidi");
            assert!(
                message.starts_with(&format!(
                    "claim_id holds a bidirectional control character (U+{:04X} at byte 4)",
                    u32::from(c)
                )),
                "{message}"
            );
        }
        assert_eq!(
            check_id("claim_id", "CLM-\u{2065}1"),
            Ok(()),
            "the neighbours pass"
        );
        assert_eq!(check_id("claim_id", "CLM-\u{2029}1"), Ok(()));
    }

    #[test]
    fn control_characters_are_refused_and_shown_escaped() {
        for (id, code, shown) in [
            ("CLM\u{0}1", "U+0000 at byte 3", "CLM\\01"),
            ("\u{1b}[31mRED", "U+001B at byte 0", "\\u{1b}[31mRED"),
            ("A\tB", "U+0009 at byte 1", "A\\tB"),
            ("A\u{7f}", "U+007F at byte 1", "A\\u{7f}"),
            ("A\u{85}", "U+0085 at byte 1", "A\\u{85}"),
        ] {
            let message = check_id("member_id", id).expect_err(id);
            assert_eq!(
                message,
                format!("member_id holds a control character ({code}) ({shown})")
            );
        }
    }
}
