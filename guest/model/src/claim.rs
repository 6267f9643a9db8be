//! The claims lookup's answer, one type for every side: the host's cache
//! answers with it, the SDK hands it to plugins, the built-in plugins decide
//! on it. Only how the claim and the failure's reason are held differs
//! (owned, shared, borrowed from a batch's text), hence the type parameters.
//!
//! Also the rules the built-in enrichment applies to an answer, with their
//! messages: [`ClaimAnswer::require`] (no claim: CLAIM_NOT_FOUND, DB_ERROR,
//! DB_TIMEOUT) and [`claim_amount_at_scale_2`] (INVALID_CLAIM_AMOUNT).

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::Status;

/// One row of the `claims` table. `T` holds its texts: `String` (owned), or
/// `&str` (borrowed, e.g. from a typed batch's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim<T = String> {
    pub member_id: T,
    /// Exact (`DECIMAL(10,2)` in the table).
    pub claim_amount: Decimal,
    pub claim_status: Option<T>,
    /// `created_date` as microseconds since the Unix epoch (UTC), when set.
    pub created_at_micros: Option<i64>,
}

impl<T: AsRef<str>> Claim<T> {
    /// The same claim, its texts borrowed.
    pub fn as_borrowed(&self) -> Claim<&str> {
        Claim {
            member_id: self.member_id.as_ref(),
            claim_amount: self.claim_amount,
            claim_status: self.claim_status.as_ref().map(AsRef::as_ref),
            created_at_micros: self.created_at_micros,
        }
    }
}

/// The answer for one claim id. `C` is how the claim is held (a [`Claim`], a
/// shared or borrowed one, or a caller's own record); `S` the failure's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAnswer<C = Claim, S = String> {
    Found(C),
    NotFound,
    /// The claims store failed after the host's retries (DB_ERROR): why.
    Unavailable(S),
    /// The claims store did not answer within the lookup timeout (DB_TIMEOUT): why.
    Timeout(S),
}

impl<C, S> ClaimAnswer<C, S> {
    /// The answer with its claim and reason borrowed.
    pub fn as_ref(&self) -> ClaimAnswer<&C, &str>
    where
        S: AsRef<str>,
    {
        match self {
            ClaimAnswer::Found(claim) => ClaimAnswer::Found(claim),
            ClaimAnswer::NotFound => ClaimAnswer::NotFound,
            ClaimAnswer::Unavailable(why) => ClaimAnswer::Unavailable(why.as_ref()),
            ClaimAnswer::Timeout(why) => ClaimAnswer::Timeout(why.as_ref()),
        }
    }

    /// The answer with `f` applied to its claim, if found.
    pub fn map_found<D>(self, f: impl FnOnce(C) -> D) -> ClaimAnswer<D, S> {
        match self {
            ClaimAnswer::Found(claim) => ClaimAnswer::Found(f(claim)),
            ClaimAnswer::NotFound => ClaimAnswer::NotFound,
            ClaimAnswer::Unavailable(why) => ClaimAnswer::Unavailable(why),
            ClaimAnswer::Timeout(why) => ClaimAnswer::Timeout(why),
        }
    }

    /// The claim, when found.
    pub fn found(self) -> Option<C> {
        match self {
            ClaimAnswer::Found(claim) => Some(claim),
            _ => None,
        }
    }

    /// The found claim, or the failure the built-in enrichment gives a
    /// payment of `claim_id` without one: CLAIM_NOT_FOUND ("claim X not
    /// found"), DB_ERROR or DB_TIMEOUT (with the store's reason). Made for `?`.
    pub fn require(self, claim_id: &str) -> Result<C, Failure>
    where
        S: std::fmt::Display,
    {
        self.check(claim_id)
            .map_err(|(status, message)| Failure::new(status, message))
    }

    /// [`require`](Self::require) with the failure's status as a [`Status`].
    pub fn check(self, claim_id: &str) -> Result<C, (Status, String)>
    where
        S: std::fmt::Display,
    {
        match self {
            ClaimAnswer::Found(claim) => Ok(claim),
            ClaimAnswer::NotFound => {
                Err((Status::ClaimNotFound, format!("claim {claim_id} not found")))
            }
            ClaimAnswer::Unavailable(why) => {
                Err((Status::DbError, format!("claims store unavailable: {why}")))
            }
            ClaimAnswer::Timeout(why) => {
                Err((Status::DbTimeout, format!("claims lookup timed out: {why}")))
            }
        }
    }
}

/// A payment that could not be enriched: it goes to `failed` with
/// `enrichment_status` = `reason` and `error` = `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A [`Status`] wire name, or the plugin's own code.
    pub reason: Cow<'static, str>,
    pub message: String,
}

impl Failure {
    pub fn new(reason: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The claim amount the built-in enrichment writes: `amount` exactly at
/// scale 2, or INVALID_CLAIM_AMOUNT when that would round away digits
/// (`1.005`) or the cents overflow an `i64` (never a rounded or made-up amount).
pub fn claim_amount_at_scale_2(claim_id: &str, amount: Decimal) -> Result<Decimal, Failure> {
    at_scale_2(amount).ok_or_else(|| {
        Failure::new(
            Status::InvalidClaimAmount,
            invalid_amount_message(claim_id, amount.mantissa(), amount.scale()),
        )
    })
}

/// `amount` at scale 2, exactly: `None` if that would round away digits or
/// its unscaled value (before or after) overflows an `i64`.
pub fn at_scale_2(amount: Decimal) -> Option<Decimal> {
    i64::try_from(amount.mantissa()).ok()?;
    if amount.scale() == 2 {
        return Some(amount);
    }
    let mut cents = amount;
    cents.rescale(2);
    if cents.scale() != 2 || cents != amount {
        return None;
    }
    i64::try_from(cents.mantissa()).ok()?;
    Some(cents)
}

/// The message of an INVALID_CLAIM_AMOUNT failure, for an amount of
/// `unscaled * 10^-scale`.
pub fn invalid_amount_message(
    claim_id: &str,
    unscaled: impl std::fmt::Display,
    scale: impl std::fmt::Display,
) -> String {
    format!(
        "claim {claim_id} has amount {unscaled}e-{scale}, which cannot be written exactly with 2 decimal places"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(unscaled: i64, scale: u32) -> Decimal {
        Decimal::new(unscaled, scale)
    }

    #[test]
    fn amounts_are_written_at_scale_2_exactly_or_not_at_all() {
        assert_eq!(at_scale_2(d(150_000, 2)), Some(d(150_000, 2)));
        assert_eq!(at_scale_2(d(1500, 0)), Some(d(150_000, 2)));
        assert_eq!(at_scale_2(d(-15, 1)), Some(d(-150, 2)));
        assert_eq!(at_scale_2(d(15_000, 4)), Some(d(150, 2)));
        // Digits would be rounded away.
        assert_eq!(at_scale_2(d(1005, 3)), None);
        // Cents overflow an i64.
        assert_eq!(at_scale_2(d(i64::MAX, 0)), None);
        assert_eq!(at_scale_2(d(i64::MIN, 1)), None);
        assert_eq!(at_scale_2(Decimal::MAX), None);
    }

    #[test]
    fn each_answer_gets_its_reason_and_message() {
        let row = Claim {
            member_id: "MBR-1",
            claim_amount: d(1000, 2),
            claim_status: None,
            created_at_micros: None,
        };
        assert_eq!(ClaimAnswer::<_, &str>::Found(row).require("CLM-1"), Ok(row));
        let failure = |answer: ClaimAnswer<Claim<&str>, &str>| {
            let f = answer.require("CLM-1").expect_err("no claim");
            (f.reason.into_owned(), f.message)
        };
        assert_eq!(
            failure(ClaimAnswer::NotFound),
            ("CLAIM_NOT_FOUND".into(), "claim CLM-1 not found".into())
        );
        assert_eq!(
            failure(ClaimAnswer::Unavailable("IO Error")),
            (
                "DB_ERROR".into(),
                "claims store unavailable: IO Error".into()
            )
        );
        assert_eq!(
            failure(ClaimAnswer::Timeout("after 50ms")),
            (
                "DB_TIMEOUT".into(),
                "claims lookup timed out: after 50ms".into()
            )
        );
        assert_eq!(
            claim_amount_at_scale_2("CLM-9", d(i64::MAX, 0)),
            Err(Failure::new(
                "INVALID_CLAIM_AMOUNT",
                "claim CLM-9 has amount 9223372036854775807e-0, which cannot be written exactly with 2 decimal places"
            ))
        );
        assert_eq!(claim_amount_at_scale_2("CLM-1", d(12, 1)), Ok(d(120, 2)));
    }
}
