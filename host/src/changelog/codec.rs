//! The changelog's records: key = `claim_id` (UTF-8), value = the claim as
//! one JSON object with the claims table's fields (`claim_amount` as a
//! string of its exact digits, `created_date` as `YYYY-MM-DD HH:MM:SS[.ffffff]`),
//! or no value at all (a tombstone) to delete the claim. A value is read
//! with the checks of a line of a JSON-lines claims file (`claims load`).

use crate::claims_load::{Claim, parse_claim_json, timestamp_text};
use crate::lookup::{ClaimChange, ClaimRow};

/// The value of an upsert record for `claim`.
pub fn encode(claim: &Claim) -> Vec<u8> {
    let mut amount = claim.claim_amount;
    amount.rescale(2);
    serde_json::json!({
        "claim_id": claim.claim_id,
        "member_id": claim.member_id,
        "claim_amount": amount.to_string(),
        "claim_status": claim.claim_status,
        "created_date": claim.created_micros.and_then(timestamp_text),
    })
    .to_string()
    .into_bytes()
}

/// The change a record stands for, or why it cannot be applied. The key
/// names the claim; a value's `claim_id` must agree with it.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<ClaimChange, String> {
    let key = match key.map(std::str::from_utf8) {
        Some(Ok(key)) if !key.trim().is_empty() => key,
        Some(Ok(_)) | None => return Err("the record has no key (the key is the claim_id)".into()),
        Some(Err(_)) => return Err("the record's key is not UTF-8".into()),
    };
    let Some(value) = value else {
        return Ok(ClaimChange {
            claim_id: key.to_owned(),
            row: None,
            effective_ms: None,
        });
    };
    let claim = parse_claim_json(value)?;
    if claim.claim_id != key {
        return Err(format!(
            "the value's claim_id ({}) is not the record's key ({key})",
            claim.claim_id
        ));
    }
    Ok(change_of(claim, false))
}

/// The change `claim` stands for: its row, or with `delete` its deletion.
pub fn change_of(claim: Claim, delete: bool) -> ClaimChange {
    let row = (!delete).then_some(ClaimRow {
        member_id: claim.member_id,
        claim_amount: claim.claim_amount,
        claim_status: claim.claim_status,
        created_at_micros: claim.created_micros,
    });
    ClaimChange {
        claim_id: claim.claim_id,
        row,
        effective_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn claim(cents: i64, micros: Option<i64>) -> Claim {
        Claim {
            claim_id: "CLM-1".into(),
            member_id: "MBR-1".into(),
            claim_amount: Decimal::new(cents, 2),
            claim_status: Some("APPROVED".into()),
            created_micros: micros,
        }
    }

    #[test]
    fn a_claim_round_trips_exactly() {
        for (cents, micros) in [
            (10, Some(1_685_620_800_250_000)),
            (9_999_999_999, None),
            (-550, Some(-1)),
            (150_000, Some(0)),
        ] {
            let original = claim(cents, micros);
            let value = encode(&original);
            let change = decode(Some(b"CLM-1"), Some(&value)).expect("decodes");
            let row = change.row.expect("an upsert");
            assert_eq!(
                row.claim_amount,
                original.claim_amount,
                "{}",
                String::from_utf8_lossy(&value)
            );
            assert_eq!(
                row.claim_amount.to_string(),
                original.claim_amount.to_string()
            );
            assert_eq!(row.created_at_micros, micros);
            assert_eq!(row.claim_status.as_deref(), Some("APPROVED"));
        }
        let text = String::from_utf8(encode(&claim(10, None))).expect("utf8");
        assert!(text.contains(r#""claim_amount":"0.10""#), "{text}");
    }

    #[test]
    fn amounts_as_json_numbers_are_read_exactly() {
        let value = br#"{"claim_id":"CLM-1","member_id":"M","claim_amount":12345678.91}"#;
        let row = decode(Some(b"CLM-1"), Some(value))
            .expect("decodes")
            .row
            .expect("row");
        assert_eq!(row.claim_amount, Decimal::new(1_234_567_891, 2));
    }

    #[test]
    fn a_tombstone_deletes_and_bad_records_say_why() {
        let gone = decode(Some(b"CLM-7"), None).expect("tombstone");
        assert_eq!((gone.claim_id.as_str(), gone.row), ("CLM-7", None));
        let why = |key: Option<&[u8]>, value: &[u8]| decode(key, Some(value)).expect_err("bad");
        assert!(why(None, b"{}").contains("no key"));
        let other = br#"{"claim_id":"CLM-2","member_id":"M","claim_amount":"1"}"#;
        assert!(why(Some(b"CLM-1"), other).contains("is not the record's key"));
        let wrong = br#"{"claim_id":"CLM-1","member_id":"M","claim_amount":"1.005"}"#;
        assert!(why(Some(b"CLM-1"), wrong).contains("claim_amount"));
        assert!(why(Some(b"CLM-1"), b"not json").contains("not a valid claim object"));
    }
}
