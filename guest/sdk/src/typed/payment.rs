//! What a typed plugin is handed for one payment: the [`Payment`] as the host
//! read it and its [`ClaimAnswer`], every text borrowed from the batch's text
//! (no copies), every amount an exact [`Decimal`].

use rust_decimal::Decimal;

use super::outcome::Failure;

/// One payment event, as the host read and validated it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Payment<'t> {
    pub payment_id: &'t str,
    pub claim_id: &'t str,
    /// Exact, scale 2 (`DECIMAL(10,2)`).
    pub payment_amount: Decimal,
    /// An ISO-8601 date-time, as sent.
    pub payment_date: &'t str,
    pub processor_id: Option<&'t str>,
    pub payment_method: Option<&'t str>,
    pub payment_status: Option<&'t str>,
}

/// One row of the `claims` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClaimRow<'t> {
    pub member_id: &'t str,
    /// Exact (`DECIMAL(10,2)` in the table).
    pub claim_amount: Decimal,
    pub claim_status: Option<&'t str>,
    /// `created_date` as microseconds since the Unix epoch (UTC), when set.
    pub created_at_micros: Option<i64>,
}

/// The claim of a payment, as the host resolved it for the batch (one cached
/// lookup of the batch's distinct ids, before the plugin is called).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClaimAnswer<'t> {
    Found(ClaimRow<'t>),
    NotFound,
    /// The claims store failed after the host's retries: why.
    Unavailable(&'t str),
    /// The claims store did not answer within the lookup timeout: why.
    Timeout(&'t str),
}

impl<'t> ClaimAnswer<'t> {
    /// The found claim, or the failure the built-in plugin gives a payment of
    /// `claim_id` without one: `CLAIM_NOT_FOUND` ("claim X not found"),
    /// `DB_ERROR` or `DB_TIMEOUT` (with the store's reason). Made for `?` in
    /// [`TypedPlugin::enrich`](super::TypedPlugin::enrich).
    pub fn require(self, claim_id: &str) -> Result<ClaimRow<'t>, Failure> {
        match self {
            ClaimAnswer::Found(row) => Ok(row),
            ClaimAnswer::NotFound => Err(Failure::new(
                "CLAIM_NOT_FOUND",
                format!("claim {claim_id} not found"),
            )),
            ClaimAnswer::Unavailable(why) => Err(Failure::new(
                "DB_ERROR",
                format!("claims store unavailable: {why}"),
            )),
            ClaimAnswer::Timeout(why) => Err(Failure::new(
                "DB_TIMEOUT",
                format!("claims lookup timed out: {why}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_gives_the_built_in_plugins_reasons_and_messages() {
        let row = ClaimRow {
            member_id: "MBR-1",
            claim_amount: Decimal::new(1000, 2),
            claim_status: None,
            created_at_micros: None,
        };
        assert_eq!(ClaimAnswer::Found(row).require("CLM-1"), Ok(row));
        let failure = |answer: ClaimAnswer<'_>| {
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
    }
}
