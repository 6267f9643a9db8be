//! Debezium's change events on the claims changelog
//! (`claims.changelog-format = debezium`), so an existing Debezium, Flink CDC
//! or Redpanda Connect pipeline can feed the hosts.
//!
//! A record's value is Debezium's JSON envelope, with or without the
//! `{"schema": ..., "payload": ...}` wrapper (`value.converter.schemas.enable`):
//! `op` `c` (insert), `u` (update) and `r` (snapshot read) upsert the `after`
//! row; `d` deletes the claim of `before` (or of the key); a null value is
//! the tombstone Debezium writes after a delete, for compaction, and is
//! skipped. `source.ts_ms` (the commit time at the source) becomes the
//! change's effective time.
//!
//! Values are turned into the text a claims file holds and checked by the
//! same rules (`validate_claim`): one check, one set of messages.
//! - `claim_amount`: a decimal string (`decimal.handling.mode=string`), or
//!   Debezium's default `precise` encoding, base64 of the big-endian unscaled
//!   integer, whose scale the schema's `parameters.scale` gives (without the
//!   schema wrapper the scale is unknown and such a value is refused); a JSON
//!   number is `decimal.handling.mode=double`, lossy, and refused for money.
//! - `created_date`: an ISO-8601 string (with `Z` or an offset: converted to
//!   UTC), or a number: microseconds (`io.debezium.time.MicroTimestamp`),
//!   milliseconds (`io.debezium.time.Timestamp`, Kafka Connect's
//!   `Timestamp`) or nanoseconds as the schema names it; without a schema a
//!   number from 10^14 up is taken as microseconds, a smaller one as
//!   milliseconds.
//!
//! A record that is none of this is refused whole, with the reason: never
//! applied in part.

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use enricher_parse::claims::{RawClaim, parse_timestamp_micros, validate_claim};

use crate::lookup::{ClaimChange, ClaimRow};

/// Kafka Connect's logical decimal: bytes, scale in the schema's parameters.
const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// Debezium's decimal of a NUMERIC without a declared scale: `{scale, value}`.
const VARIABLE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";

/// From this many units up, a bare timestamp number is microseconds
/// (10^14 µs is 1973; 10^14 ms would be the year 5138).
const MICROS_FROM: i64 = 100_000_000_000_000;

/// The change a Debezium record stands for: `None` for a tombstone (skipped),
/// or why it cannot be applied.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Option<ClaimChange>, String> {
    let Some(value) = value else {
        return Ok(None); // the tombstone after a delete: the delete did the work
    };
    let json: Value =
        serde_json::from_slice(value).map_err(|e| format!("the value is not JSON ({e})"))?;
    if json.is_null() {
        return Ok(None);
    }
    let (payload, schema) = envelope(&json)?;
    let op = payload
        .get("op")
        .and_then(Value::as_str)
        .ok_or("no \"op\": not a Debezium change event")?;
    let effective_ms = payload
        .get("source")
        .and_then(|s| s.get("ts_ms"))
        .and_then(Value::as_i64);
    let field = |name: &str| match payload.get(name) {
        Some(Value::Object(row)) => Some(row),
        _ => None,
    };
    let change = match op {
        "c" | "u" | "r" => {
            let after =
                field("after").ok_or_else(|| format!("op {op:?} without an \"after\" row"))?;
            let row_schema = schema.and_then(|s| field_schema(s, "after"));
            let (claim_id, row) = claim_of(after, row_schema)?;
            ClaimChange {
                claim_id,
                row: Some(row),
                effective_ms,
            }
        }
        "d" => {
            let id = field("before")
                .and_then(|before| before.get("claim_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| key.and_then(key_claim_id))
                .ok_or("op \"d\" names no claim: no before.claim_id and no claim_id in the key")?;
            ClaimChange {
                claim_id: id,
                row: None,
                effective_ms,
            }
        }
        "t" => {
            return Err("op \"t\" (TRUNCATE) is not applied: re-publish the table's claims".into());
        }
        other => return Err(format!("op {other:?} is not one of c, u, d, r")),
    };
    if let Some(key_id) = key.and_then(key_claim_id)
        && key_id != change.claim_id
    {
        return Err(format!(
            "the value's claim_id ({}) is not the key's ({key_id})",
            change.claim_id
        ));
    }
    Ok(Some(change))
}

/// The envelope and, when wrapped, its schema.
fn envelope(json: &Value) -> Result<(&Map<String, Value>, Option<&Value>), String> {
    let object = json.as_object().ok_or("the value is not a JSON object")?;
    match (object.get("schema"), object.get("payload")) {
        (Some(schema), Some(Value::Object(payload))) => Ok((payload, Some(schema))),
        (Some(_), Some(_)) => Err("\"payload\" is not an object".into()),
        _ => Ok((object, None)),
    }
}

/// The claim_id a Debezium key holds (`{"claim_id": ...}`, wrapped or not).
fn key_claim_id(key: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(key).ok()?;
    let object = json.get("payload").unwrap_or(&json);
    object.get("claim_id")?.as_str().map(str::to_owned)
}

/// The schema of the field `name` of a struct schema.
fn field_schema<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema
        .get("fields")?
        .as_array()?
        .iter()
        .find(|f| f.get("field").and_then(Value::as_str) == Some(name))
}

/// A row (`after`) as a claim, checked as a line of a claims file.
fn claim_of(
    row: &Map<String, Value>,
    schema: Option<&Value>,
) -> Result<(String, ClaimRow), String> {
    let column = |name: &str| schema.and_then(|s| field_schema(s, name));
    let amount = amount_text(row.get("claim_amount"), column("claim_amount"))?;
    let created = match row.get("created_date") {
        None | Some(Value::Null) => None,
        Some(value) => Some(timestamp_micros(value, column("created_date"))?),
    };
    let raw = RawClaim {
        claim_id: text(row, "claim_id")?,
        member_id: text(row, "member_id")?,
        claim_amount: amount.as_deref(),
        claim_status: text(row, "claim_status")?,
        created_date: None,
    };
    let claim = validate_claim(&raw)?;
    Ok((
        claim.claim_id.to_owned(),
        ClaimRow {
            member_id: claim.member_id.to_owned(),
            claim_amount: claim.claim_amount,
            claim_status: claim.claim_status.map(str::to_owned),
            created_at_micros: created,
        },
    ))
}

/// A text column of `row` (`None`: absent or null).
fn text<'a>(row: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match row.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("{name} is not text ({other})")),
    }
}

/// `claim_amount` as decimal text, from either Debezium encoding.
fn amount_text(value: Option<&Value>, schema: Option<&Value>) -> Result<Option<String>, String> {
    let name = schema.and_then(|s| s.get("name")).and_then(Value::as_str);
    let kind = schema.and_then(|s| s.get("type")).and_then(Value::as_str);
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    if matches!(kind, Some("double" | "float" | "float64" | "float32"))
        || value.is_f64()
        || value.is_i64()
        || value.is_u64()
    {
        return Err(format!(
            "claim_amount arrives as a floating-point number ({value}; Debezium's \
             decimal.handling.mode=double), which cannot hold money exactly: refused; \
             use decimal.handling.mode=string or precise"
        ));
    }
    if name == Some(VARIABLE_DECIMAL) || value.is_object() {
        let scale = value
            .get("scale")
            .and_then(Value::as_u64)
            .ok_or("claim_amount {scale, value} without a scale")?;
        let bytes = value
            .get("value")
            .and_then(Value::as_str)
            .ok_or("claim_amount {scale, value} without a value")?;
        return unscaled(bytes, scale).map(Some);
    }
    let Value::String(text) = value else {
        return Err(format!(
            "claim_amount is neither a decimal string nor base64 ({value})"
        ));
    };
    if name == Some(DECIMAL) || kind == Some("bytes") {
        let scale = schema
            .and_then(|s| s.get("parameters"))
            .and_then(|p| p.get("scale"))
            .and_then(|s| {
                s.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| s.as_u64())
            })
            .ok_or("claim_amount is a Decimal whose schema gives no parameters.scale")?;
        return unscaled(text, scale).map(Some);
    }
    let numeric = |t: &str| {
        let t = t.trim().trim_start_matches(['-', '+']);
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    };
    if schema.is_none() && !numeric(text) {
        return Err(format!(
            "claim_amount {text:?} is not a decimal string: if it is Debezium's precise \
             (base64) encoding its scale is unknown without the schema; turn the schema on \
             (value.converter.schemas.enable=true) or use decimal.handling.mode=string"
        ));
    }
    Ok(Some(text.clone()))
}

/// Base64 of a big-endian two's-complement unscaled integer, at `scale`.
fn unscaled(base64: &str, scale: u64) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("claim_amount {base64:?} is not base64 ({e})"))?;
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(format!(
            "claim_amount {base64:?}: {} bytes is no decimal",
            bytes.len()
        ));
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(&bytes);
    let scale = u32::try_from(scale)
        .ok()
        .filter(|&s| s <= 28)
        .ok_or_else(|| format!("claim_amount scale {scale} is out of range"))?;
    Decimal::try_from_i128_with_scale(i128::from_be_bytes(wide), scale)
        .map(|d| d.to_string())
        .map_err(|e| format!("claim_amount {base64:?} at scale {scale}: {e}"))
}

/// `created_date` in microseconds since the epoch, from Debezium's encodings.
fn timestamp_micros(value: &Value, schema: Option<&Value>) -> Result<i64, String> {
    let name = schema.and_then(|s| s.get("name")).and_then(Value::as_str);
    match value {
        Value::Number(n) => {
            let n = n
                .as_i64()
                .ok_or_else(|| format!("created_date {n} is not a whole number"))?;
            let micros = match name {
                Some("io.debezium.time.MicroTimestamp") => Some(n),
                Some("io.debezium.time.NanoTimestamp") => Some(n / 1000),
                Some("io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => {
                    n.checked_mul(1000)
                }
                _ if n.abs() >= MICROS_FROM => Some(n),
                _ => n.checked_mul(1000),
            };
            micros.ok_or_else(|| format!("created_date {n} is out of range"))
        }
        Value::String(text) => iso_micros(text).ok_or_else(|| {
            format!("created_date {text:?} is not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])")
        }),
        other => Err(format!("created_date is neither a number nor text ({other})")),
    }
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z|±HH[:MM]]`, in UTC microseconds.
fn iso_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (local, offset_secs) = if let Some(rest) = text.strip_suffix('Z') {
        (rest, 0)
    } else if text.len() > 19
        && matches!(text.as_bytes()[text.len().saturating_sub(6)], b'+' | b'-')
    {
        let (local, offset) = text.split_at(text.len() - 6);
        (local, offset_seconds(offset)?)
    } else if text.len() > 19
        && matches!(text.as_bytes()[text.len().saturating_sub(3)], b'+' | b'-')
    {
        let (local, offset) = text.split_at(text.len() - 3);
        (local, offset_seconds(&format!("{offset}:00"))?)
    } else {
        (text, 0)
    };
    // Nanoseconds (Debezium's ISO strings may carry 9 digits): keep microseconds.
    let local = match local.split_once('.') {
        Some((whole, fraction)) if fraction.len() > 6 => format!("{whole}.{}", &fraction[..6]),
        _ => local.to_owned(),
    };
    let micros = parse_timestamp_micros(&local)?;
    micros.checked_sub(offset_secs.checked_mul(1_000_000)?)
}

/// `+HH:MM` / `-HH:MM` in seconds east of UTC.
fn offset_seconds(offset: &str) -> Option<i64> {
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-10 09:00:00 UTC.
    const MICROS: i64 = 1_704_877_200_000_000;

    fn change(key: &str, value: &str) -> Result<Option<ClaimChange>, String> {
        decode(Some(key.as_bytes()), Some(value.as_bytes()))
    }

    fn upsert(value: &str) -> ClaimChange {
        change(r#"{"claim_id":"CLM-1"}"#, value)
            .expect("applies")
            .expect("not a tombstone")
    }

    // Captured from Debezium 2.x's PostgreSQL connector (JSON converter,
    // schemas off, decimal.handling.mode=string), trimmed of source fields
    // the host does not read.
    const INSERT: &str = r#"{"before":null,"after":{"claim_id":"CLM-1","member_id":"MBR-7","claim_amount":"1500.10","claim_status":"APPROVED","created_date":1704877200000000},"source":{"version":"2.7.3.Final","connector":"postgresql","name":"claimsdb","ts_ms":1733560000123,"snapshot":"false","db":"payments","schema":"public","table":"claims","txId":771,"lsn":24023128},"op":"c","ts_ms":1733560000456}"#;

    #[test]
    fn each_op_upserts_or_deletes_with_the_commit_time() {
        let c = upsert(INSERT);
        assert_eq!(c.claim_id, "CLM-1");
        assert_eq!(
            c.effective_ms,
            Some(1_733_560_000_123),
            "source.ts_ms, not ts_ms"
        );
        let row = c.row.expect("an upsert");
        assert_eq!(row.member_id, "MBR-7");
        assert_eq!(row.claim_amount, Decimal::new(150_010, 2));
        assert_eq!(row.claim_status.as_deref(), Some("APPROVED"));
        assert_eq!(row.created_at_micros, Some(MICROS));

        let update = INSERT
            .replace(r#""op":"c""#, r#""op":"u""#)
            .replace(r#""before":null"#, r#""before":{"claim_id":"CLM-1","member_id":"MBR-7","claim_amount":"1500.10","claim_status":"PENDING","created_date":null}"#)
            .replace("1500.10", "99.5");
        let row = upsert(&update).row.expect("upsert");
        assert_eq!(row.claim_amount.to_string(), "99.50");

        let snapshot = INSERT.replace(r#""op":"c""#, r#""op":"r""#);
        assert!(upsert(&snapshot).row.is_some(), "a snapshot read upserts");

        let delete = r#"{"before":{"claim_id":"CLM-1","member_id":null,"claim_amount":null,"claim_status":null,"created_date":null},"after":null,"source":{"ts_ms":1733560009000,"lsn":24023400},"op":"d","ts_ms":1733560009100}"#;
        let gone = upsert(delete);
        assert_eq!(
            (gone.claim_id.as_str(), gone.row, gone.effective_ms),
            ("CLM-1", None, Some(1_733_560_009_000))
        );
        // REPLICA IDENTITY NOTHING: no before row, the key names the claim.
        let keyed = r#"{"before":null,"after":null,"source":{"ts_ms":1},"op":"d"}"#;
        assert_eq!(upsert(keyed).claim_id, "CLM-1");
    }

    #[test]
    fn a_tombstone_is_skipped() {
        let key: &[u8] = br#"{"claim_id":"CLM-1"}"#;
        assert_eq!(decode(Some(key), None), Ok(None));
        assert_eq!(change(r#"{"claim_id":"CLM-1"}"#, "null"), Ok(None));
    }

    // The same insert through the JSON converter with schemas on, amount in
    // Debezium's default precise encoding: base64 of the unscaled 150010.
    const WRAPPED: &str = r#"{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"string","optional":false,"field":"claim_id"},{"type":"string","optional":false,"field":"member_id"},{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"claim_amount"},{"type":"string","optional":true,"field":"claim_status"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"created_date"}],"optional":true,"name":"claimsdb.public.claims.Value","field":"before"},{"type":"struct","fields":[{"type":"string","optional":false,"field":"claim_id"},{"type":"string","optional":false,"field":"member_id"},{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"claim_amount"},{"type":"string","optional":true,"field":"claim_status"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"created_date"}],"optional":true,"name":"claimsdb.public.claims.Value","field":"after"},{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"field":"source"},{"type":"string","optional":false,"field":"op"}],"optional":false,"name":"claimsdb.public.claims.Envelope"},"payload":{"before":null,"after":{"claim_id":"CLM-1","member_id":"MBR-7","claim_amount":"Akn6","claim_status":"APPROVED","created_date":1704877200000000},"source":{"ts_ms":1733560000123},"op":"c","ts_ms":1733560000456}}"#;

    #[test]
    fn the_schema_wrapper_and_the_base64_decimal_read_the_same_claim() {
        let plain = upsert(INSERT);
        let wrapped = change(r#"{"schema":{},"payload":{"claim_id":"CLM-1"}}"#, WRAPPED)
            .expect("applies")
            .expect("upsert");
        assert_eq!(wrapped, plain);
        // Negative amounts are two's complement: -1.50 is 0xff6a.
        assert_eq!(unscaled("/2o=", 2).as_deref(), Ok("-1.50"));
        // Kafka Connect's millisecond Timestamp, named by the schema.
        let millis = WRAPPED
            .replace(
                "io.debezium.time.MicroTimestamp",
                "org.apache.kafka.connect.data.Timestamp",
            )
            .replace("1704877200000000", "1704877200000");
        assert_eq!(
            upsert(&millis).row.and_then(|r| r.created_at_micros),
            Some(MICROS)
        );
        // A NUMERIC without a declared scale: {scale, value}.
        let variable = INSERT.replace(r#""1500.10""#, r#"{"scale":2,"value":"Akn6"}"#);
        assert_eq!(
            upsert(&variable).row.map(|r| r.claim_amount),
            Some(Decimal::new(150_010, 2))
        );
    }

    #[test]
    fn created_date_reads_every_time_encoding() {
        let at = |v: &str| {
            upsert(&INSERT.replace("1704877200000000", v))
                .row
                .and_then(|r| r.created_at_micros)
        };
        assert_eq!(at("1704877200000"), Some(MICROS), "milliseconds");
        assert_eq!(at("\"2024-01-10T09:00:00Z\""), Some(MICROS));
        assert_eq!(at("\"2024-01-10T11:00:00+02:00\""), Some(MICROS));
        assert_eq!(
            at("\"2024-01-10T09:00:00.250000000Z\""),
            Some(MICROS + 250_000)
        );
        assert_eq!(at("\"2024-01-10 09:00:00\""), Some(MICROS));
        assert_eq!(at("null"), None);
    }

    #[test]
    fn malformed_changes_are_refused_whole_with_the_reason() {
        let why = |value: &str| change(r#"{"claim_id":"CLM-1"}"#, value).expect_err(value);
        let double = INSERT.replace(r#""1500.10""#, "1500.1");
        assert!(
            why(&double).contains("decimal.handling.mode=double"),
            "{}",
            why(&double)
        );
        let unknown_scale = INSERT.replace(r#""1500.10""#, r#""Akn6""#);
        assert!(
            why(&unknown_scale).contains("scale is unknown"),
            "{}",
            why(&unknown_scale)
        );
        let no_scale = WRAPPED.replace(r#""scale":"2","#, "");
        assert!(
            why(&no_scale).contains("parameters.scale"),
            "{}",
            why(&no_scale)
        );
        let three_places = INSERT.replace("1500.10", "1.005");
        assert!(why(&three_places).contains("more than 2 decimal places"));
        let no_member = INSERT.replace(r#""member_id":"MBR-7","#, "");
        assert!(why(&no_member).contains("member_id"));
        let bad_date = INSERT.replace("1704877200000000", "\"yesterday\"");
        assert!(why(&bad_date).contains("created_date"));
        assert!(why(&INSERT.replace(r#""op":"c""#, r#""op":"x""#)).contains("not one of"));
        assert!(why(&INSERT.replace(r#""op":"c""#, r#""op":"t""#)).contains("TRUNCATE"));
        assert!(why(r#"{"after":{}}"#).contains("no \"op\""));
        assert!(why("[1,2]").contains("not a JSON object"));
        assert!(why("{not json").contains("not JSON"));
        let other_key = change(r#"{"claim_id":"CLM-2"}"#, INSERT).expect_err("key differs");
        assert!(other_key.contains("not the key's"), "{other_key}");
    }
}
