//! The claims set the events refer to: each claim's attributes derived from
//! `(seed, index)` alone, and the claims CSV.

use std::io::{self, Write};

use super::random::{DateTime, Rng, random_datetime_in};

/// One claim of the claims set, derived from `(seed, index)` alone.
#[derive(Debug, Clone)]
pub(super) struct ClaimAttributes {
    pub(super) member_number: u64,
    pub(super) amount_cents: i64,
    pub(super) status: &'static str,
    pub(super) created: Option<DateTime>,
}

const CLAIM_STATUSES: [&str; 6] = [
    "APPROVED",
    "PENDING",
    "DENIED",
    "UNDER_REVIEW",
    "PARTIALLY_APPROVED",
    "",
];
const CLAIM_STATUS_WEIGHTS: [u64; 6] = [60, 14, 10, 6, 5, 5];

pub(super) fn claim_attributes(seed: u64, index: u64, claims: u64) -> ClaimAttributes {
    let mut rng = Rng::for_claim(seed, index);
    // About three claims per member.
    let member_number = rng.below(claims / 3 + 1);
    let amount_cents = claim_amount_cents(&mut rng);
    let status = CLAIM_STATUSES[rng.weighted(&CLAIM_STATUS_WEIGHTS)];
    let created = (rng.below(100) >= 3).then(|| random_datetime_in(&mut rng, 2023));
    ClaimAttributes {
        member_number,
        amount_cents,
        status,
        created,
    }
}

/// Mostly office visits and procedures, some hospital stays, rare big-ticket claims.
pub(super) fn claim_amount_cents(rng: &mut Rng) -> i64 {
    let (low_dollars, high_dollars) = match rng.weighted(&[55, 30, 12, 3]) {
        0 => (50, 1_000),
        1 => (1_000, 5_000),
        2 => (5_000, 50_000),
        _ => (50_000, 750_000),
    };
    low_dollars * 100 + rng.below((high_dollars - low_dollars) as u64 * 100) as i64
}

/// Writes the claims set as CSV with header
/// `claim_id,member_id,claim_amount,claim_status,created_date`; an empty field
/// means NULL. Returns the number of claims written.
pub fn write_claims_csv(out: &mut impl Write, claims: u64, seed: u64) -> io::Result<u64> {
    out.write_all(b"claim_id,member_id,claim_amount,claim_status,created_date\n")?;
    let mut line = Vec::with_capacity(128);
    for index in 0..claims {
        let claim = claim_attributes(seed, index, claims);
        line.clear();
        write!(
            line,
            "CLM-{index:07},MBR-{:06},{}.{:02},{},",
            claim.member_number,
            claim.amount_cents / 100,
            claim.amount_cents % 100,
            claim.status
        )?;
        if let Some(at) = claim.created {
            write!(
                line,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                at.year, at.month, at.day, at.hour, at.minute, at.second
            )?;
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::claim_id;

    #[test]
    fn claims_csv_is_deterministic_and_well_formed() {
        let mut first = Vec::new();
        let mut second = Vec::new();
        assert_eq!(write_claims_csv(&mut first, 500, 7).expect("write"), 500);
        write_claims_csv(&mut second, 500, 7).expect("write");
        assert_eq!(first, second);
        let text = String::from_utf8(first).expect("utf8");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("claim_id,member_id,claim_amount,claim_status,created_date")
        );
        let mut empty_status = 0;
        let mut empty_date = 0;
        for (index, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 5, "{line}");
            assert_eq!(fields[0], claim_id(index as u64));
            assert!(fields[1].starts_with("MBR-"));
            let (units, cents) = fields[2].split_once('.').expect("two decimals");
            assert!(units.parse::<u64>().is_ok() && cents.len() == 2, "{line}");
            empty_status += usize::from(fields[3].is_empty());
            empty_date += usize::from(fields[4].is_empty());
            if !fields[4].is_empty() {
                assert_eq!(fields[4].len(), 19, "{line}");
                assert!(fields[4].starts_with("2023-"));
            }
        }
        assert!(empty_status > 0 && empty_date > 0, "some NULLs expected");
        let mut other_seed = Vec::new();
        write_claims_csv(&mut other_seed, 500, 8).expect("write");
        assert_ne!(text.as_bytes(), other_seed.as_slice());
    }
}
