//! What a typed plugin answers for one payment: an [`Outcome`], either
//! [`Enriched`] (the claim's fields and any extra fields, which the host
//! writes after the payment's own) or a [`Failure`] (reason and message).
//!
//! Texts are `Cow<'t, str>`: hand back a `&str` the plugin was given (a
//! member id, a status) and the glue answers with a span of the batch's text,
//! no copy; a `String` of the plugin's own crosses as owned text.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::payment::ClaimRow;

/// What became of one payment: `Ok` enriches it, `Err` sends it to `failed`.
pub type Outcome<'t> = Result<Enriched<'t>, Failure>;

/// An enriched payment. The host writes the payment's fields as it read
/// them, then `member_id`, `claim_amount`, `claim_status`, the extra fields
/// in order, `enrichment_status` SUCCESS and the batch's timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Enriched<'t> {
    pub member_id: Cow<'t, str>,
    /// Written as is: its scale is the number of decimals written (`1500.00`).
    pub claim_amount: Decimal,
    pub claim_status: Option<Cow<'t, str>>,
    /// `"name": value` pairs, written after `claim_status` in this order.
    pub extra_fields: Vec<(Cow<'static, str>, FieldValue<'t>)>,
}

impl<'t> Enriched<'t> {
    /// An enriched payment with this member and claim amount, no status.
    pub fn new(member_id: impl Into<Cow<'t, str>>, claim_amount: Decimal) -> Self {
        Enriched {
            member_id: member_id.into(),
            claim_amount,
            claim_status: None,
            extra_fields: Vec::new(),
        }
    }

    /// The claim's member id, amount and status as found (spans of the batch's text).
    pub fn from_claim(claim: &ClaimRow<'t>) -> Self {
        Enriched {
            member_id: Cow::Borrowed(claim.member_id),
            claim_amount: claim.claim_amount,
            claim_status: claim.claim_status.map(Cow::Borrowed),
            extra_fields: Vec::new(),
        }
    }

    /// Set (or clear) `claim_status`.
    pub fn with_status<S: Into<Cow<'t, str>>>(mut self, status: Option<S>) -> Self {
        self.claim_status = status.map(Into::into);
        self
    }

    /// Add an extra field after the ones already added.
    pub fn with_field(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FieldValue<'t>>,
    ) -> Self {
        self.extra_fields.push((name.into(), value.into()));
        self
    }

    /// The value of the first extra field named `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue<'t>> {
        self.extra_fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

impl<'t> From<ClaimRow<'t>> for Enriched<'t> {
    fn from(claim: ClaimRow<'t>) -> Self {
        Enriched::from_claim(&claim)
    }
}

/// The value of an extra output field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'t> {
    Null,
    /// Written exactly, with its own scale.
    Number(Decimal),
    Text(Cow<'t, str>),
}

impl From<Decimal> for FieldValue<'_> {
    fn from(d: Decimal) -> Self {
        FieldValue::Number(d)
    }
}

impl<'t> From<&'t str> for FieldValue<'t> {
    fn from(s: &'t str) -> Self {
        FieldValue::Text(Cow::Borrowed(s))
    }
}

impl From<String> for FieldValue<'_> {
    fn from(s: String) -> Self {
        FieldValue::Text(Cow::Owned(s))
    }
}

impl<'t, T: Into<FieldValue<'t>>> From<Option<T>> for FieldValue<'t> {
    fn from(value: Option<T>) -> Self {
        value.map_or(FieldValue::Null, Into::into)
    }
}

/// A payment that could not be enriched: the host writes it to `failed`
/// with `enrichment_status` = `reason` and `error` = `message`
/// (`enricher-model`'s type: the built-in plugins' failures too).
pub use enricher_model::Failure;
