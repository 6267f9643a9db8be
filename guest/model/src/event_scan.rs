//! The fast path of reading an event: a flat JSON object of the seven known
//! fields, each at most once, strings without escapes, the amount a number
//! token (or a string), read in one pass without serde's generic machinery
//! (6-7% of the whole file path inside the plugin, docs/benchmarks-log.md).
//!
//! It answers exactly what serde_json reads from such input, or `None`:
//! anything else (an escape, an unknown or repeated field, another value
//! type, a grammar error, trailing bytes) goes to serde_json (`event.rs`),
//! which also writes the error message. So it decides nothing on its own.
//!
//! Not to be merged with the host's `claim_id_hint` (`host/src/pipeline/prefetch.rs`):
//! that one is a deliberately loose guess for prefetching; this one is exact.

use std::borrow::Cow;

use crate::json_out::word_needs_escape;

/// An event's fields as read, before validation.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fields<'a> {
    pub payment_id: Option<Cow<'a, str>>,
    pub claim_id: Option<Cow<'a, str>>,
    /// The amount's JSON token as written (a string token keeps its quotes).
    pub payment_amount: Option<&'a str>,
    pub payment_date: Option<Cow<'a, str>>,
    pub processor_id: Option<Cow<'a, str>>,
    pub payment_method: Option<Cow<'a, str>>,
    pub payment_status: Option<Cow<'a, str>>,
}

/// The fields of `text` if it is in the shape the fast path reads, else `None`.
pub(crate) fn scan(text: &str) -> Option<Fields<'_>> {
    let mut s = Scanner { text, at: 0 };
    let mut fields = Fields::default();
    let mut seen = 0u8;
    s.skip_ws();
    s.eat(b'{')?;
    s.skip_ws();
    if s.peek()? == b'}' {
        s.at += 1;
    } else {
        loop {
            let key = s.plain_string()?;
            s.skip_ws();
            s.eat(b':')?;
            s.skip_ws();
            let bit = match key {
                "payment_id" => 0,
                "claim_id" => 1,
                "payment_amount" => 2,
                "payment_date" => 3,
                "processor_id" => 4,
                "payment_method" => 5,
                "payment_status" => 6,
                _ => return None,
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            if bit == 2 {
                fields.payment_amount = Some(s.amount_token()?);
            } else {
                let value = s.text_or_null()?.map(Cow::Borrowed);
                match bit {
                    0 => fields.payment_id = value,
                    1 => fields.claim_id = value,
                    3 => fields.payment_date = value,
                    4 => fields.processor_id = value,
                    5 => fields.payment_method = value,
                    _ => fields.payment_status = value,
                }
            }
            s.skip_ws();
            match s.next()? {
                b',' => s.skip_ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.skip_ws();
    (s.at == text.len()).then_some(fields)
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters, without its quotes.
    /// Checked 8 bytes at a time up to the word that holds its end.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start;
        while let Some(chunk) = bytes.get(i..i + 8) {
            let word = [
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ];
            if word_needs_escape(u64::from_le_bytes(word)) {
                break;
            }
            i += 8;
        }
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return self.text.get(start..i);
                }
                b'\\' | 0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// A plain string, or `null` (`None`).
    fn text_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            let rest = self.text.as_bytes().get(self.at..self.at + 4)?;
            self.at += 4;
            return (rest == b"null").then_some(None);
        }
        self.plain_string().map(Some)
    }

    /// A number token (JSON's grammar), or a plain string with its quotes.
    fn amount_token(&mut self) -> Option<&'a str> {
        let start = self.at;
        if self.peek()? == b'"' {
            self.plain_string()?;
            return self.text.get(start..self.at);
        }
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.one_or_more_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.one_or_more_digits()?;
        }
        self.text.get(start..self.at)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }
}
