//! What becomes of one payment on the typed world, over plain types: a found
//! claim enriches it (the claim amount at scale 2), a missing one is
//! CLAIM_NOT_FOUND, a failed lookup DB_ERROR or DB_TIMEOUT, and a claim
//! amount that cannot be written exactly at scale 2 INVALID_CLAIM_AMOUNT
//! (never a rounded or made-up amount), each with the message the raw build
//! of the enrichment (`guest/src/enrich.rs`) writes; that build uses
//! [`at_scale_2`] and [`invalid_amount_message`] from here too.
//!
//! The typed plugin (`plugins/typed`) and the host's native typed step
//! (`enricher run --native-step typed`) both call [`decide`], each converting
//! its own WIT bindings to these types, so what is measured natively is the
//! logic the plugin runs.

use rust_decimal::Decimal;

/// An exact decimal as the WIT `decimal` carries it: `unscaled * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub unscaled: i64,
    pub scale: u8,
}

/// The claim of a payment, as the host resolved it (texts borrowed from the
/// batch); `C` is the caller's own claim record, handed back on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAnswer<'a, C> {
    Found {
        claim: C,
        claim_amount: Amount,
    },
    NotFound,
    /// The claims store failed: why.
    Unavailable(&'a str),
    /// The claims store did not answer in time: why.
    Timeout(&'a str),
}

/// What the plugin answers for one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<C> {
    /// Enrich with the claim (member id and status as found); the amount at scale 2.
    Enrich { claim: C, claim_amount: Amount },
    /// Route to `failed` with this `enrichment_status` and message.
    Fail {
        reason: &'static str,
        message: String,
    },
}

/// The status of a claim whose amount cannot be written exactly at scale 2.
pub const INVALID_CLAIM_AMOUNT: &str = "INVALID_CLAIM_AMOUNT";

/// The message of an [`INVALID_CLAIM_AMOUNT`] failure (the raw plugin writes the same).
pub fn invalid_amount_message(
    claim_id: &str,
    unscaled: impl std::fmt::Display,
    scale: impl std::fmt::Display,
) -> String {
    format!(
        "claim {claim_id} has amount {unscaled}e-{scale}, which cannot be written exactly with 2 decimal places"
    )
}

/// The decision for a payment of `claim_id` whose claim lookup answered `claim`.
pub fn decide<C>(claim_id: &str, claim: ClaimAnswer<'_, C>) -> Decision<C> {
    let fail = |reason, message| Decision::Fail { reason, message };
    match claim {
        ClaimAnswer::Found {
            claim,
            claim_amount,
        } => match at_scale_2(claim_amount) {
            Some(claim_amount) => Decision::Enrich {
                claim,
                claim_amount,
            },
            None => fail(
                INVALID_CLAIM_AMOUNT,
                invalid_amount_message(claim_id, claim_amount.unscaled, claim_amount.scale),
            ),
        },
        ClaimAnswer::NotFound => fail("CLAIM_NOT_FOUND", format!("claim {claim_id} not found")),
        ClaimAnswer::Unavailable(why) => {
            fail("DB_ERROR", format!("claims store unavailable: {why}"))
        }
        ClaimAnswer::Timeout(why) => fail("DB_TIMEOUT", format!("claims lookup timed out: {why}")),
    }
}

/// `amount` at scale 2, exactly: `None` if that would round away digits
/// (`1.005`), overflow an `i64` of cents, or the scale is beyond 28.
pub fn at_scale_2(amount: Amount) -> Option<Amount> {
    if amount.scale == 2 {
        return Some(amount);
    }
    let exact =
        Decimal::try_from_i128_with_scale(i128::from(amount.unscaled), u32::from(amount.scale))
            .ok()?;
    let mut cents = exact;
    cents.rescale(2);
    if cents.scale() != 2 || cents != exact {
        return None;
    }
    Some(Amount {
        unscaled: i64::try_from(cents.mantissa()).ok()?,
        scale: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(unscaled: i64, scale: u8) -> Amount {
        Amount { unscaled, scale }
    }

    #[test]
    fn amounts_are_written_at_scale_2_exactly_or_not_at_all() {
        assert_eq!(at_scale_2(amount(150_000, 2)), Some(amount(150_000, 2)));
        assert_eq!(at_scale_2(amount(1500, 0)), Some(amount(150_000, 2)));
        assert_eq!(at_scale_2(amount(-15, 1)), Some(amount(-150, 2)));
        assert_eq!(at_scale_2(amount(15_000, 4)), Some(amount(150, 2)));
        // Digits would be rounded away.
        assert_eq!(at_scale_2(amount(1005, 3)), None);
        // Cents overflow an i64.
        assert_eq!(at_scale_2(amount(i64::MAX, 0)), None);
        assert_eq!(at_scale_2(amount(i64::MIN, 1)), None);
        // Beyond any decimal's scale.
        assert_eq!(at_scale_2(amount(1, 29)), None);
        assert_eq!(at_scale_2(amount(0, 29)), None);
    }

    #[test]
    fn each_answer_gets_its_reason_and_message() {
        assert_eq!(
            decide(
                "CLM-1",
                ClaimAnswer::Found {
                    claim: "row",
                    claim_amount: amount(12, 1)
                }
            ),
            Decision::Enrich {
                claim: "row",
                claim_amount: amount(120, 2)
            }
        );
        let fail = |reason: &'static str, message: &str| Decision::<&str>::Fail {
            reason,
            message: message.to_owned(),
        };
        assert_eq!(
            decide("CLM-1", ClaimAnswer::NotFound),
            fail("CLAIM_NOT_FOUND", "claim CLM-1 not found")
        );
        assert_eq!(
            decide("CLM-1", ClaimAnswer::Unavailable("IO Error")),
            fail("DB_ERROR", "claims store unavailable: IO Error")
        );
        assert_eq!(
            decide("CLM-1", ClaimAnswer::Timeout("after 50ms")),
            fail("DB_TIMEOUT", "claims lookup timed out: after 50ms")
        );
        assert_eq!(
            decide(
                "CLM-9",
                ClaimAnswer::Found {
                    claim: "row",
                    claim_amount: amount(i64::MAX, 0)
                }
            ),
            fail(
                "INVALID_CLAIM_AMOUNT",
                "claim CLM-9 has amount 9223372036854775807e-0, which cannot be written exactly with 2 decimal places"
            )
        );
    }
}
