//! `json_writer`: arbitrary keys, strings and decimals written with
//! `enricher-model`'s `ObjectWriter`, and arbitrary payloads in a
//! `FailureRecord`, must read back with serde_json as exactly what was
//! written (strings equal, number tokens equal to the decimals).

use std::collections::HashMap;

use enricher_model::FailureRecord;
use enricher_model::json_out::ObjectWriter;
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;

/// What one field was written as.
enum Written {
    Text(String),
    Number(Decimal),
    Null,
}

/// A decimal from 16 bytes: a 96-bit mantissa (sign included) and a scale 0..=28.
fn decimal(bytes: &[u8]) -> Decimal {
    let mut raw = [0u8; 16];
    raw[..bytes.len().min(16)].copy_from_slice(&bytes[..bytes.len().min(16)]);
    let mantissa = i128::from_le_bytes(raw) >> 32;
    Decimal::try_from_i128_with_scale(mantissa, u32::from(raw[0]) % 29).unwrap_or_default()
}

pub fn json_writer(data: &[u8]) {
    // Fields: chunks separated by 0xff; the first byte of each says which kind.
    let mut fields = Vec::new();
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let key = format!(
            "{i}:{}",
            String::from_utf8_lossy(chunk.get(..3).unwrap_or(chunk))
        );
        let rest = chunk.get(1..).unwrap_or_default();
        let value = match chunk.first().map(|b| b % 3) {
            Some(0) => Written::Number(decimal(rest)),
            Some(1) => Written::Text(String::from_utf8_lossy(rest).into_owned()),
            _ => Written::Null,
        };
        fields.push((key, value));
    }
    let mut out = Vec::new();
    let mut writer = ObjectWriter::new(&mut out);
    for (key, value) in &fields {
        match value {
            Written::Text(text) => writer.str(key, text),
            Written::Number(number) => writer.decimal(key, number),
            Written::Null => writer.opt_str(key, None),
        };
    }
    writer.finish();
    let read: HashMap<String, Box<RawValue>> = match serde_json::from_slice(&out) {
        Ok(read) => read,
        Err(e) => panic!(
            "the writer wrote invalid JSON ({e}): {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(read.len(), fields.len());
    for (key, value) in &fields {
        let token = read[key].get();
        match value {
            Written::Text(text) => {
                assert_eq!(
                    serde_json::from_str::<String>(token).ok().as_ref(),
                    Some(text)
                );
            }
            Written::Number(number) => {
                assert_eq!(token, number.to_string(), "a decimal's token is its text");
            }
            Written::Null => assert_eq!(token, "null"),
        }
    }
    failure_record(data);
}

/// The whole input as a failure record's payload, whole and as a prefix.
fn failure_record(payload: &[u8]) {
    for keep_prefix in [None, Some(payload.len() / 2)] {
        let mut out = Vec::new();
        FailureRecord {
            payment_id: std::str::from_utf8(payload).ok(),
            status: "INVALID_JSON",
            error: "fuzz",
            timestamp: "2024-01-15T10:30:01.123Z",
            payload,
            keep_prefix,
        }
        .write(&mut out);
        let record: HashMap<String, Value> = match serde_json::from_slice(&out) {
            Ok(record) => record,
            Err(e) => panic!(
                "invalid failure record ({e}): {:?}",
                String::from_utf8_lossy(&out)
            ),
        };
        let kept = &payload[..keep_prefix.unwrap_or(payload.len())];
        let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_owned);
        match keep_prefix {
            None => match text("original_payload") {
                Some(text) => assert_eq!(text.as_bytes(), payload),
                None => assert_eq!(
                    text("original_payload_base64").map(|b| decode_base64(&b)),
                    Some(payload.to_vec())
                ),
            },
            Some(_) => match text("original_payload_prefix") {
                Some(text) => assert!(kept.starts_with(text.as_bytes())),
                None => assert_eq!(
                    text("original_payload_prefix_base64").map(|b| decode_base64(&b)),
                    Some(kept.to_vec())
                ),
            },
        }
    }
}

/// Standard padded base64 back to bytes (the inverse of `json_out::base64`).
fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0);
    for byte in text.bytes().filter(|&b| b != b'=') {
        let six = ALPHABET.iter().position(|&a| a == byte);
        let Some(six) = six else {
            panic!("not base64: {text:?}")
        };
        bits = bits << 6 | six as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
