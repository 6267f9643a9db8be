//! Tests of reading events: validation, amounts, and that the fast path
//! (`event_scan`) reads exactly what serde_json reads.

use super::*;

const VALID: &str = r#"{"payment_id":"PAY-1","claim_id":"CLM-1","payment_amount":1500.00,"payment_date":"2024-01-15T10:30:00","processor_id":"PROC-VISA-001","payment_method":"ELECTRONIC","payment_status":"COMPLETED"}"#;

fn invalid(bytes: &[u8]) -> Invalid {
    match parse_event(bytes) {
        Ok(e) => panic!("expected invalid, parsed {e:?}"),
        Err(e) => e,
    }
}

#[test]
fn parses_a_valid_event_exactly() {
    let e = parse_event(VALID.as_bytes()).expect("valid");
    assert_eq!(e.payment_id, "PAY-1");
    assert_eq!(e.payment_amount.to_string(), "1500.00");
    assert!(
        matches!(e.claim_id, Cow::Borrowed(_)),
        "no copy without escapes"
    );
    assert_eq!(e.payment_status.as_deref(), Some("COMPLETED"));
}

#[test]
fn amounts_are_exact_and_rescaled_to_two_places() {
    assert_eq!(
        parse_amount("0.1").map(|d| d.to_string()),
        Ok("0.10".into())
    );
    assert_eq!(
        parse_amount("\"12.5\"").map(|d| d.to_string()),
        Ok("12.50".into())
    );
    assert_eq!(
        parse_amount("1.5e3").map(|d| d.to_string()),
        Ok("1500.00".into())
    );
    assert_eq!(
        parse_amount("-3").map(|d| d.to_string()),
        Ok("-3.00".into())
    );
    assert_eq!(
        parse_amount("1.230").map(|d| d.to_string()),
        Ok("1.23".into())
    );
    assert_eq!(
        parse_amount("99999999.99").map(|d| d.to_string()),
        Ok("99999999.99".into())
    );
}

#[test]
fn plain_amounts_read_as_the_general_path_reads_them() {
    let general = |token: &str| {
        let mut d = Decimal::from_str_exact(token).expect("decimal");
        d.normalize_assign();
        d.rescale(2);
        d
    };
    for token in [
        "0",
        "0.0",
        "0.5",
        "13.44",
        "1257.60",
        "99999999.99",
        "7",
        "10.1",
        "100",
    ] {
        let fast = plain_amount(token).expect("on the fast path");
        let slow = general(token);
        assert_eq!(
            (fast.mantissa(), fast.scale()),
            (slow.mantissa(), slow.scale()),
            "{token}"
        );
        assert_eq!(fast.to_string(), slow.to_string());
    }
    for token in [
        "-1",
        "1.005",
        "1e3",
        "\"1\"",
        "100000000",
        "1.",
        ".5",
        "",
        "1.2.3",
        "12a",
    ] {
        assert_eq!(plain_amount(token), None, "{token}");
    }
}

#[test]
fn blank_is_what_trim_says() {
    for s in [
        "",
        " ",
        "\t\n",
        "\u{b}",
        "\u{a0}",
        "\u{3000} ",
        "x",
        " x",
        "é",
        "\u{a0}x",
    ] {
        assert_eq!(is_blank(s), s.trim().is_empty(), "{s:?}");
    }
}

#[test]
fn hostile_amounts_are_rejected_not_rounded() {
    for bad in [
        "1e400",
        "123456789012345678901234567890",
        "1.005",
        "100000000.00",
        "NaN",
        "\"NaN\"",
        "\"\"",
        "true",
        "{}",
        "[1]",
        "\"1.2.3\"",
        "-",
    ] {
        assert!(parse_amount(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn missing_and_null_fields_are_named() {
    let e =
        invalid(br#"{"payment_id":"P","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
    assert_eq!(e.kind, InvalidKind::Event);
    assert!(e.message.contains("claim_id"), "{}", e.message);
    assert_eq!(e.payment_id.as_deref(), Some("P"));
    let e = invalid(br#"{"payment_id":"P","claim_id":null,"payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
    assert!(e.message.contains("claim_id"));
    let e = invalid(br#"{"payment_id":"  ","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
    assert!(e.message.contains("payment_id"));
}

#[test]
fn wrong_types_keep_the_payment_id() {
    let e = invalid(br#"{"payment_id":"PAY-9","claim_id":7,"payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
    assert_eq!(e.kind, InvalidKind::Event);
    assert_eq!(e.payment_id.as_deref(), Some("PAY-9"));
}

#[test]
fn garbage_is_invalid_json() {
    for bad in [
        &b""[..],
        b"   ",
        b"{",
        b"not json",
        b"[1,2]",
        b"\xff\xfe",
        b"{\"payment_id\":\"a\"} trailing",
        b"null",
    ] {
        let e = invalid(bad);
        assert!(!e.message.is_empty());
    }
    assert_eq!(invalid(b"{").kind, InvalidKind::Json);
    assert_eq!(invalid(b"\xff").kind, InvalidKind::Json);
}

#[test]
fn empty_blank_and_null_records_say_which_not_truncated_json() {
    for (bad, says) in [
        (&b""[..], "empty record"),
        (b" \t ", "blank record"),
        (b"null", "JSON null"),
        (b" null\n", "JSON null"),
    ] {
        let e = invalid(bad);
        assert_eq!(e.kind, InvalidKind::Json);
        assert!(e.message.contains(says), "{bad:?}: {}", e.message);
        assert!(!e.message.contains("truncated"), "{bad:?}: {}", e.message);
    }
    assert!(
        invalid(b"{\"payment_id\":")
            .message
            .contains("truncated JSON")
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep = nest(100_000);
    let in_ignored = format!(r#"{{"x":{deep}}}"#);
    let in_amount = format!(
        r#"{{"payment_id":"P","claim_id":"C","payment_amount":{deep},"payment_date":"2024-01-01T00:00:00"}}"#
    );
    for input in [deep.clone(), in_ignored, in_amount] {
        let e = invalid(input.as_bytes());
        assert!(!e.message.is_empty());
    }
}

/// Whenever the fast path reads an input, serde_json reads the same fields from it.
fn same_as_serde(text: &str) -> bool {
    let Some(fast) = scan(text) else {
        return false;
    };
    let slow: RawEvent<'_> = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("fast path read what serde refuses ({e}): {text:?}"));
    assert_eq!(fast, Fields::from(slow), "{text:?}");
    true
}

#[test]
fn the_fast_path_reads_common_events_exactly_as_serde_does() {
    for text in [
        VALID,
        r#" { "payment_id" : "P", "claim_id":"C" ,"payment_amount": -0.5e+2 ,
            "payment_date":"2024-01-15T10:30:00", "processor_id": null } "#,
        r#"{"payment_amount":"12.50","payment_id":"P","payment_status":"é ✓"}"#,
        r#"{"payment_amount":0,"claim_id":""}"#,
        r#"{"payment_amount":1E5}"#,
        "{}",
    ] {
        assert!(same_as_serde(text), "not on the fast path: {text}");
    }
    // Left to serde_json (which reads or refuses them as before).
    for text in [
        r#"{"payment_id":"P\u0041"}"#,
        r#"{"payment_id":"P","other":1}"#,
        r#"{"payment_id":"P","payment_id":"Q"}"#,
        r#"{"payment_amount":01}"#,
        r#"{"payment_amount":1.}"#,
        r#"{"payment_amount":null}"#,
        r#"{"payment_amount":true}"#,
        r#"{"payment_id":"P"} x"#,
        "{\"payment_id\":\"a\tb\"}",
        r#"{"payment_id":"P",}"#,
        "[]",
    ] {
        assert!(scan(text).is_none(), "{text}");
    }
    assert_eq!(
        parse_event(br#"{"payment_id":"P\u0041","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#)
            .map(|e| e.payment_id.into_owned()),
        Ok("PA".to_owned())
    );
}

#[test]
fn the_fast_path_never_reads_what_serde_reads_otherwise() {
    // Mutate a valid event byte by byte: whatever the fast path accepts,
    // serde_json must read to the same fields.
    let base = VALID.as_bytes();
    let alphabet = b" \t\n{}[]:,\"\\0123456789.eE+-nultrfaxyz\x01\xc3\xa9";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut fast = 0;
    for _ in 0..20_000 {
        let mut p = base.to_vec();
        for _ in 0..2 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % p.len() as u64) as usize;
            let b = alphabet[(state >> 40) as usize % alphabet.len()];
            match (state >> 32) % 3 {
                0 => p[at] = b,
                1 => p.insert(at, b),
                _ => {
                    p.remove(at);
                }
            }
        }
        if let Ok(text) = std::str::from_utf8(&p) {
            fast += usize::from(same_as_serde(text));
        }
    }
    assert!(fast > 1000, "the fast path read only {fast} inputs");
}

#[test]
fn bad_dates_and_duplicate_fields_are_rejected() {
    let e = invalid(br#"{"payment_id":"P","claim_id":"C","payment_amount":1,"payment_date":"2024-02-30T00:00:00"}"#);
    assert!(e.message.contains("payment_date"));
    let e = invalid(br#"{"payment_id":"P","payment_id":"Q","claim_id":"C","payment_amount":1,"payment_date":"2024-01-01T00:00:00"}"#);
    assert!(e.message.contains("duplicate"), "{}", e.message);
}

#[test]
fn a_null_amount_is_called_null_not_missing() {
    let null = VALID.replace("1500.00", "null");
    assert_eq!(
        invalid(null.as_bytes()).message,
        "field `payment_amount` is null"
    );
    let spaced = VALID.replace("1500.00", " null ");
    assert_eq!(
        invalid(spaced.as_bytes()).message,
        "field `payment_amount` is null"
    );
    let missing = VALID.replace("\"payment_amount\":1500.00,", "");
    assert_eq!(
        invalid(missing.as_bytes()).message,
        "missing field `payment_amount`"
    );
}
