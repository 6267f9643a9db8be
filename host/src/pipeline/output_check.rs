//! The run-time check of what a plugin writes to `enriched`: every value must
//! be one valid JSON text, or the record goes to `failed` as
//! PLUGIN_INVALID_OUTPUT (a plugin with a broken writer can pass its canaries
//! and would otherwise reach `enriched-payments`). The check is std's UTF-8
//! validation, then serde_json reading the text into `IgnoredAny`, which
//! validates the grammar without building anything (but skips strings
//! without checking their UTF-8, hence the first step). Cost: docs/benchmarks.md,
//! "The enriched-JSON check".

use serde::de::IgnoredAny;

/// The status of an enriched value that is not valid JSON.
pub const INVALID_OUTPUT: &str = enricher_model::Status::PluginInvalidOutput.as_str();

/// Why `value` is not one valid JSON text, if it is not.
pub(super) fn invalid_json(value: &[u8]) -> Option<String> {
    let why = match std::str::from_utf8(value) {
        Ok(text) => serde_json::from_str::<IgnoredAny>(text).err()?.to_string(),
        Err(e) => format!("not UTF-8: {e}"),
    };
    Some(format!("the plugin wrote invalid JSON to enriched ({why})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_texts_pass_and_anything_else_says_where_it_breaks() {
        for good in [
            &br#"{"payment_id":"PAY-1","amount":1500.00,"tags":[null,true,{"a":"\u00e9"}]}"#[..],
            b" [1, 2] \n",
            b"42",
            br#""text""#,
        ] {
            assert_eq!(
                invalid_json(good),
                None,
                "{}",
                String::from_utf8_lossy(good)
            );
        }
        for (bad, why) in [
            (&br#"{"payment_id":"PAY-1","#[..], "EOF while parsing"),
            (b"", "EOF while parsing"),
            (br#"{"a":1}{"b":2}"#, "trailing characters"),
            (br#"{"a":NaN}"#, "expected value"),
            (
                b"{\"a\":\"\xff\"}",
                "not UTF-8: invalid utf-8 sequence of 1 bytes from index 6",
            ),
            (br#"{'a':1}"#, "key must be a string"),
        ] {
            let message = invalid_json(bad).expect("invalid");
            assert!(message.contains(why), "{message}");
        }
    }
}
