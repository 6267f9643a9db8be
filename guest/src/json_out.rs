//! A small JSON writer for output records.
//!
//! Output records have a fixed shape, so they are written field by field into
//! one buffer: exact decimals go out as number tokens (`1500.00`) straight from
//! their text, which a `serde` serializer could only do through `f64` or an
//! extra allocation per value.

use rust_decimal::Decimal;

/// Writes one JSON object into a byte buffer.
pub struct ObjectWriter<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> ObjectWriter<'b> {
    pub fn new(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.out, value);
        self
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// A decimal as a JSON number token, exactly as `Decimal` prints it.
    pub fn decimal(&mut self, key: &str, value: &Decimal) -> &mut Self {
        use std::io::Write;
        self.key(key);
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn finish(&mut self) {
        self.out.push(b'}');
    }
}

/// Append `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Standard base64 (RFC 4648, padded), for payloads that are not UTF-8.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_serde_json() {
        for s in ["plain", "quote \" and \\ slash", "ctl \u{0} \u{1f} \n\t\r", "ünïcødé ✓ 😀", ""] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            let back: String = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(back, s);
        }
    }

    #[test]
    fn objects_are_valid_json_with_exact_numbers() {
        let mut out = Vec::new();
        let amount: Decimal = "1500.00".parse().expect("decimal");
        ObjectWriter::new(&mut out)
            .str("a", "x")
            .decimal("amount", &amount)
            .opt_str("b", None)
            .finish();
        assert_eq!(out, br#"{"a":"x","amount":1500.00,"b":null}"#);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert!(v["b"].is_null());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
