//! A small JSON writer for output records.
//!
//! Output records have a fixed shape, so they are written field by field into
//! one buffer: exact decimals go out as number tokens (`1500.00`) straight from
//! their text, which a `serde` serializer could only do through `f64` or an
//! extra allocation per value.
//!
//! Hand-written, not serde_json, because this is the plugin's per-record hot
//! path: docs/benchmarks-log.md ("Where the WASM gap is") measured that a byte-at-a-time
//! escape loop costs 4× more inside WASM than natively and that `core::fmt`
//! number output is slow there, hence word-at-a-time strings ([`crate::escape`])
//! and u64 decimal digits.
//! Hot functions are `#[inline]` so the plugin compiles them as its own code,
//! as it did when this module lived in the plugin's crate.

use rust_decimal::Decimal;

use crate::escape::write_str_inlined;
pub use crate::escape::{word_needs_escape, write_str};

/// Writes one JSON object into a byte buffer.
pub struct ObjectWriter<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> ObjectWriter<'b> {
    #[inline]
    pub fn new(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    #[inline(always)]
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str_inlined(self.out, key);
        self.out.push(b':');
    }

    #[inline]
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.out, value);
        self
    }

    #[inline]
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    #[inline]
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// A decimal as a JSON number token, exactly as `Decimal` prints it.
    #[inline]
    pub fn decimal(&mut self, key: &str, value: &Decimal) -> &mut Self {
        self.key(key);
        write_decimal(self.out, value);
        self
    }

    #[inline]
    pub fn finish(&mut self) {
        self.out.push(b'}');
    }
}

/// Append `value` as a number token: its digits with the point at its scale,
/// exactly what `Decimal`'s `Display` prints, without the formatting machinery
/// (which costs several times more inside a WASM plugin).
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, value: &Decimal) {
    let scale = value.scale() as usize;
    let mut digits = [0u8; 40];
    let mantissa = value.mantissa().unsigned_abs();
    let mut at = digits.len();
    // u64 arithmetic when it fits (always for DECIMAL(10,2)): u128 division is a slow libcall.
    match u64::try_from(mantissa) {
        Ok(mut n) => loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        },
        Err(_) => {
            let mut n = mantissa;
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
        }
    }
    // At least one digit before the point.
    while digits.len() - at <= scale {
        at -= 1;
        digits[at] = b'0';
    }
    if value.is_sign_negative() && !value.is_zero() {
        out.push(b'-');
    }
    // Byte by byte: a copy of a run-time length is a `memory.copy` inside WASM,
    // a call into the runtime that costs more than these dozen pushes.
    let point = digits.len() - scale;
    out.reserve(digits.len() - at + 2);
    for &d in &digits[at..point] {
        out.push(d);
    }
    if scale > 0 {
        out.push(b'.');
        for &d in &digits[point..] {
            out.push(d);
        }
    }
}

/// Standard base64 (RFC 4648, padded), for payloads that are not UTF-8.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
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
        for s in [
            "plain",
            "quote \" and \\ slash",
            "ctl \u{0} \u{1f} \n\t\r",
            "ünïcødé ✓ 😀",
            "",
        ] {
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
    fn escapes_are_found_in_every_position_of_a_word() {
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrst".into();
                s.replace_range(at..=at, &special.to_string());
                let mut out = Vec::new();
                write_str(&mut out, &s);
                let back: String = serde_json::from_slice(&out).expect("valid JSON");
                assert_eq!(back, s);
            }
        }
        // Bytes around the thresholds that need no escape.
        let s = " !#$%&'()*+,-./[]^_`{|}~\u{7f}é";
        let mut out = Vec::new();
        write_str(&mut out, s);
        assert_eq!(&out[1..out.len() - 1], s.as_bytes());
    }

    #[test]
    fn decimals_print_exactly_like_display() {
        for text in [
            "0",
            "0.00",
            "-0.50",
            "1500.00",
            "0.10",
            "99999999.99",
            "-99999999.99",
            "0.001",
            "123456789012345678901234567.8",
            "-7",
        ] {
            let d: Decimal = text.parse().expect("decimal");
            let mut out = Vec::new();
            write_decimal(&mut out, &d);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                d.to_string(),
                "{text}"
            );
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
