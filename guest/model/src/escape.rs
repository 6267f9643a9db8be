//! JSON string literals: [`write_str`] appends `"…"` with the escapes JSON needs.
//!
//! The plugin's hottest function (docs/benchmarks-log.md, "Where the time goes on the
//! file path"): every key and value of every output record goes through it.
//! Inside WASM two things are slow that are cheap natively: a loop over single
//! bytes, and a copy of a run-time length, which LLVM emits as `memory.copy`
//! and wasmtime runs as a call out of the compiled code into its runtime. So
//! the plain case (no byte to escape, nearly every string) checks and copies
//! 8 bytes at a time with constant-size stores, the last 1-7 bytes as one
//! word padded with spaces, and never a copy of a run-time length. A string
//! that does need an escape goes to [`write_escaped`], a table-driven byte loop.
//!
//! The escapes are `\"`, `\\`, `\n`, `\r`, `\t`, and `\u00XX` for the other
//! control characters (serde_json writes `\b` and `\f` for 0x08 and 0x0c; both
//! read back the same). Everything else, U+2028 and DEL included, is copied as is.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// Eight spaces: the padding of a last partial word (a space needs no escape).
const SPACES: u64 = LOW_BITS * b' ' as u64;

/// What byte `b` becomes after a backslash: 0 = written as is, `u` = `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Whether any of the 8 bytes in `word` is a control character, `"` or `\`:
/// a byte a JSON string cannot hold as is, or its end (SWAR: the classic
/// "has a byte less than n" test, exact for presence).
#[inline]
pub fn word_needs_escape(word: u64) -> bool {
    let below = |v: u64, n: u64| v.wrapping_sub(LOW_BITS * n) & !v & HIGH_BITS;
    let control = below(word, 0x20);
    let quote = below(word ^ (LOW_BITS * u64::from(b'"')), 1);
    let backslash = below(word ^ (LOW_BITS * u64::from(b'\\')), 1);
    (control | quote | backslash) != 0
}

/// The last 1-7 bytes of a string as a little-endian word padded with spaces,
/// built in a register (copying them into a buffer would be a `memory.copy`).
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let mut word = SPACES;
    for (i, &b) in rest.iter().enumerate() {
        let shift = 8 * i;
        word = (word & !(0xff << shift)) | (u64::from(b) << shift);
    }
    word
}

/// Append `s` as a JSON string literal.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_inlined(out, s);
}

/// [`write_str`], always inlined: for the keys of an object, literals at
/// the call site, whose checks then fold away and leave only their stores.
#[inline(always)]
pub(crate) fn write_str_inlined(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // The padded last word is written whole, then cut back: room for 7 more.
    out.reserve(bytes.len() + 9);
    out.push(b'"');
    let mut words = bytes.chunks_exact(8);
    let mut done = 0;
    for chunk in &mut words {
        let word = [
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ];
        if word_needs_escape(u64::from_le_bytes(word)) {
            return write_escaped(out, bytes, done);
        }
        out.extend_from_slice(&word);
        done += 8;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let word = tail_word(rest);
        if word_needs_escape(word) {
            return write_escaped(out, bytes, done);
        }
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(out.len() - (8 - rest.len()));
    }
    out.push(b'"');
}

/// The rest of a string that holds a byte to escape: `out` has the opening
/// quote and `bytes[..from]`; plain runs are copied whole between escapes.
#[cold]
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], from: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = from;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        let escape = ESCAPE[usize::from(b)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(s: &str) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        write_str(&mut out, s);
        out.split_off(6)
    }

    /// serde_json's escaping, with its `\b` and `\f` in the `\u00XX` form we write.
    fn serde_escaped(s: &str) -> Vec<u8> {
        let theirs = serde_json::to_string(s).expect("a str serializes");
        let mut out = Vec::new();
        let mut chars = theirs.bytes();
        while let Some(b) = chars.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            match chars.next() {
                Some(b'b') => out.extend_from_slice(br"\u0008"),
                Some(b'f') => out.extend_from_slice(br"\u000c"),
                Some(other) => out.extend_from_slice(&[b'\\', other]),
                None => out.push(b'\\'),
            }
        }
        out
    }

    fn check(s: &str) {
        let out = written(s);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&serde_escaped(s)),
            "{s:?}"
        );
        let back: String = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(back, s);
    }

    #[test]
    fn edge_strings_escape_as_serde_json_does() {
        for s in [
            "",
            "a",
            "plain",
            "exactly8",
            "sixteen bytes ok",
            "quote \" and \\ slash",
            "\"",
            "\\",
            "ctl \u{0} \u{1f} \n\t\r \u{8} \u{c} \u{b}",
            "ünïcødé ✓ 😀",
            "line\u{2028}separator\u{2029}",
            "del \u{7f} stays",
            " !#$%&'()*+,-./[]^_`{|}~",
            "1234567\"",
            "12345678\"",
            "\u{1}2345678",
            "ends with é",
            "€€€",
        ] {
            check(s);
        }
    }

    #[test]
    fn every_byte_to_escape_is_found_in_every_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            let special = char::from(special).to_string();
            for len in 1..=20 {
                for at in 0..len {
                    let mut s: String = "abcdefghijklmnopqrst"[..len].into();
                    s.replace_range(at..=at, &special);
                    check(&s);
                }
            }
        }
    }

    #[test]
    fn random_strings_escape_as_serde_json_does() {
        // Characters weighted toward the ones that matter: escapes, the SWAR
        // thresholds' neighbours, multi-byte text.
        const ALPHABET: [char; 16] = [
            'a', 'Z', ' ', '!', '#', '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', '✓', '😀',
            '\u{2028}', '~',
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 7 == 0 {
                        // Any scalar value.
                        char::from_u32((r >> 16) as u32 % 0x11_0000).unwrap_or('\u{fffd}')
                    } else if r % 4 == 0 {
                        ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                    } else {
                        char::from(b'a' + (r >> 8) as u8 % 26)
                    }
                })
                .collect();
            check(&s);
        }
    }
}
