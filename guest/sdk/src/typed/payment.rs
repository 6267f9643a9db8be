//! What a typed plugin is handed for one payment: the [`Payment`] as the host
//! read it and its [`ClaimAnswer`], every text borrowed from the batch's text
//! (no copies), every amount an exact [`Decimal`]. The claim types are
//! `enricher-model`'s (the host's), with borrowed texts.

use rust_decimal::Decimal;

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

/// One row of the `claims` table, its texts borrowed from the batch's text
/// (`enricher-model`'s [`Claim`](enricher_model::Claim), the host's type).
pub type ClaimRow<'t> = enricher_model::Claim<&'t str>;

/// The claim of a payment, as the host resolved it for the batch (one cached
/// lookup of the batch's distinct ids, before the plugin is called):
/// `enricher-model`'s [`ClaimAnswer`](enricher_model::ClaimAnswer), the
/// host's type. [`require`](enricher_model::ClaimAnswer::require) gives the
/// found claim, or the failure the built-in plugin gives a payment without
/// one (`CLAIM_NOT_FOUND`, `DB_ERROR`, `DB_TIMEOUT`, with the host's
/// messages): made for `?` in [`TypedPlugin::enrich`](super::TypedPlugin::enrich).
pub type ClaimAnswer<'t> = enricher_model::ClaimAnswer<ClaimRow<'t>, &'t str>;
