//! `enricher plugin test --expect FILE`: compare a plugin's outputs with the
//! expected ones, order-insensitive, and say how they differ.
//!
//! Records are matched by `payment_id` (records without one, such as
//! unparseable input, by their text). A JSON object is compared field by
//! field, in any order, each field by its JSON text: `1500.00` and `1500.0`
//! differ (money is compared as written, never through a float). A value that
//! is not a JSON object is compared as text. Ignored, because they change from
//! run to run: [`VOLATILE_FIELDS`].

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// A compared value: an object's fields (name to JSON text), or a whole text.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Object(BTreeMap<String, String>),
    Text(String),
}

/// Fields left out of the comparison: the host's processing time.
pub const VOLATILE_FIELDS: &[&str] = &["enrichment_timestamp"];

/// One output line as compared: its match key and its normalized value.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    key: String,
    value: Value,
}

fn line(text: &str) -> Line {
    let value = match serde_json::from_str::<BTreeMap<String, &RawValue>>(text) {
        Ok(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(name, _)| !VOLATILE_FIELDS.contains(&name.as_str()))
                .map(|(name, raw)| (name, raw.get().to_owned()))
                .collect(),
        ),
        Err(_) => Value::Text(text.trim().to_owned()),
    };
    let id = match &value {
        Value::Object(fields) => fields
            .get("payment_id")
            .and_then(|raw| serde_json::from_str::<String>(raw).ok()),
        Value::Text(_) => None,
    };
    let key = match id {
        Some(id) => format!("payment_id {id}"),
        None => format!("record {}", compact(&value)),
    };
    Line { key, value }
}

fn compact(value: &Value) -> String {
    let text = match value {
        Value::Object(fields) => {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Text(text) => text.clone(),
    };
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The differences between `actual` and `expected` output lines (blank lines
/// ignored), as readable lines; empty when they match.
pub fn differences<'a>(
    actual: impl IntoIterator<Item = &'a str>,
    expected: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let group = |lines: Vec<Line>| {
        let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for l in lines {
            by_key.entry(l.key).or_default().push(l.value);
        }
        by_key
    };
    let keep = |s: &&str| !s.trim().is_empty();
    let mut actual = group(actual.into_iter().filter(keep).map(line).collect());
    let expected = group(expected.into_iter().filter(keep).map(line).collect());
    let mut out = Vec::new();
    for (key, want) in expected {
        let got = actual.remove(&key).unwrap_or_default();
        for (i, w) in want.iter().enumerate() {
            match got.get(i) {
                None => out.push(format!("missing   {key}: expected {}", compact(w))),
                Some(g) if g != w => out.extend(field_diff(&key, w, g)),
                Some(_) => {}
            }
        }
        for g in got.iter().skip(want.len()) {
            out.push(format!("unexpected {key}: {}", compact(g)));
        }
    }
    for (key, got) in actual {
        for g in got {
            out.push(format!("unexpected {key}: {}", compact(&g)));
        }
    }
    out
}

/// Field by field for two objects, else the two values whole.
fn field_diff(key: &str, want: &Value, got: &Value) -> Vec<String> {
    let (Value::Object(w), Value::Object(g)) = (want, got) else {
        return vec![format!(
            "differs   {key}:\n  expected {}\n  got      {}",
            compact(want),
            compact(got)
        )];
    };
    let mut fields: Vec<&String> = w.keys().chain(g.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| w.get(*f) != g.get(*f))
        .map(|f| {
            let show = |v: Option<&String>| v.map_or("(absent)".to_owned(), String::clone);
            format!(
                "differs   {key}: {f}: expected {}, got {}",
                show(w.get(f)),
                show(g.get(f))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_spacing_and_timestamps_do_not_matter() {
        let actual = [
            r#"{"payment_id":"B","x":1.50,"enrichment_timestamp":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"payment_id":"A","x":2}"#,
        ];
        let expected = [
            r#"{"x":2, "payment_id":"A"}"#,
            "",
            r#"{"enrichment_timestamp":"2024-01-15T10:30:01.000Z","x":1.50,"payment_id":"B"}"#,
        ];
        assert!(differences(actual, expected).is_empty());
    }

    #[test]
    fn a_changed_field_a_missing_and_an_extra_record_are_named() {
        let actual = [
            r#"{"payment_id":"A","member_id":"MBR-2"}"#,
            r#"{"payment_id":"C"}"#,
        ];
        let expected = [
            r#"{"payment_id":"A","member_id":"MBR-1"}"#,
            r#"{"payment_id":"B"}"#,
        ];
        let diff = differences(actual, expected);
        assert_eq!(diff.len(), 3, "{diff:?}");
        assert!(diff[0].contains("payment_id A: member_id: expected \"MBR-1\", got \"MBR-2\""));
        assert!(diff[1].starts_with("missing   payment_id B"));
        assert!(diff[2].starts_with("unexpected payment_id C"));
    }

    #[test]
    fn amounts_compare_as_written() {
        // 1500.0 and 1500.00 are different outputs for a money field.
        let diff = differences(
            [r#"{"payment_id":"A","amount":1500.0}"#],
            [r#"{"payment_id":"A","amount":1500.00}"#],
        );
        assert_eq!(diff.len(), 1, "{diff:?}");
    }
}
