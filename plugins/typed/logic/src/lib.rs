//! The built-in typed plugin's decision over the shapes the typed world
//! carries (a claim record of the caller's, its amount as a WIT `decimal`),
//! for the host's native typed step (`enricher run --native-step typed`),
//! which runs it in place of the component. The rules and messages are
//! `enricher-model`'s ([`ClaimAnswer::check`], [`claim::at_scale_2`],
//! [`claim::invalid_amount_message`]), the ones the plugin (`plugins/typed`)
//! applies through the SDK, so the two cannot drift: a found claim enriches
//! the payment (the claim amount at scale 2), a missing one is
//! CLAIM_NOT_FOUND, a failed lookup DB_ERROR or DB_TIMEOUT, and a claim
//! amount that cannot be written exactly at scale 2 INVALID_CLAIM_AMOUNT.

use enricher_model::{Status, claim};
use rust_decimal::Decimal;

pub use enricher_model::ClaimAnswer;

/// An exact decimal as the WIT `decimal` carries it: `unscaled * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub unscaled: i64,
    pub scale: u8,
}

/// A found claim: the caller's own record (handed back on success) and its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced<C> {
    pub claim: C,
    pub claim_amount: Amount,
}

/// What the plugin answers for one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<C> {
    /// Enrich with the claim (member id and status as found); the amount at scale 2.
    Enrich { claim: C, claim_amount: Amount },
    /// Route to `failed` with this `enrichment_status` and message.
    Fail { reason: Status, message: String },
}

/// The decision for a payment of `claim_id` whose claim lookup answered `claim`.
pub fn decide<C>(claim_id: &str, claim: ClaimAnswer<Priced<C>, &str>) -> Decision<C> {
    match claim.check(claim_id) {
        Err((reason, message)) => Decision::Fail { reason, message },
        Ok(Priced {
            claim,
            claim_amount,
        }) => match at_scale_2(claim_amount) {
            Some(claim_amount) => Decision::Enrich {
                claim,
                claim_amount,
            },
            None => Decision::Fail {
                reason: Status::InvalidClaimAmount,
                message: claim::invalid_amount_message(
                    claim_id,
                    claim_amount.unscaled,
                    claim_amount.scale,
                ),
            },
        },
    }
}

/// `amount` at scale 2, exactly: `None` if that would round away digits
/// (`1.005`), overflow an `i64` of cents, or the scale is beyond 28.
pub fn at_scale_2(amount: Amount) -> Option<Amount> {
    let exact =
        Decimal::try_from_i128_with_scale(i128::from(amount.unscaled), u32::from(amount.scale))
            .ok()?;
    let cents = claim::at_scale_2(exact)?;
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
    fn amounts_are_read_as_wit_decimals_then_written_at_scale_2() {
        // The rule itself is enricher-model's (tested there).
        assert_eq!(at_scale_2(amount(1500, 0)), Some(amount(150_000, 2)));
        assert_eq!(at_scale_2(amount(1005, 3)), None);
        // Beyond any decimal's scale.
        assert_eq!(at_scale_2(amount(1, 29)), None);
    }

    #[test]
    fn each_answer_gets_its_reason_and_message() {
        let found = |claim_amount| {
            ClaimAnswer::Found(Priced {
                claim: "row",
                claim_amount,
            })
        };
        assert_eq!(
            decide("CLM-1", found(amount(12, 1))),
            Decision::Enrich {
                claim: "row",
                claim_amount: amount(120, 2)
            }
        );
        let fail = |reason, message: &str| Decision::<&str>::Fail {
            reason,
            message: message.to_owned(),
        };
        assert_eq!(
            decide("CLM-1", ClaimAnswer::NotFound),
            fail(Status::ClaimNotFound, "claim CLM-1 not found")
        );
        assert_eq!(
            decide("CLM-1", ClaimAnswer::Unavailable("IO Error")),
            fail(Status::DbError, "claims store unavailable: IO Error")
        );
        assert_eq!(
            decide("CLM-1", ClaimAnswer::Timeout("after 50ms")),
            fail(Status::DbTimeout, "claims lookup timed out: after 50ms")
        );
        assert_eq!(
            decide("CLM-9", found(amount(i64::MAX, 0))),
            fail(
                Status::InvalidClaimAmount,
                "claim CLM-9 has amount 9223372036854775807e-0, which cannot be written exactly with 2 decimal places"
            )
        );
    }
}
