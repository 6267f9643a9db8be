//! `process-payments` for a [`TypedPlugin`]: spans of the batch's text in,
//! borrowed views to the plugin, outcomes out as spans or owned text.
//!
//! A text the plugin hands back that lies inside the batch's text (a member
//! id, a status, any `&str` it was given) crosses back as a span: found by
//! address, never copied. Anything else (a literal, a `String`) crosses as
//! owned text. The same code runs in the component and in `cargo test`.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::TypedPlugin;
use super::outcome::{Enriched, FieldValue as Value};
use super::payment::{ClaimAnswer, ClaimRow, Payment};
use super::wire;
use crate::record::Batch;

/// The reason of a payment whose outcome cannot cross the boundary (an
/// amount beyond the WIT `decimal`): the host's code for an output it cannot write.
pub const INVALID_OUTPUT: &str = enricher_model::Status::PluginInvalidOutput.as_str();

/// Run plugin `P` over one call's payments: one outcome per payment, in
/// order. A span or decimal from the host that does not fit its text fails
/// the whole batch (a host fault, not the payment's).
pub fn process_payments<P: TypedPlugin + ?Sized>(
    batch: &Batch,
    text: &str,
    payments: &[wire::PaymentRecord],
) -> Result<Vec<wire::Outcome>, wire::BatchError> {
    let mut outcomes = Vec::with_capacity(payments.len());
    for (i, record) in payments.iter().enumerate() {
        let (payment, claim) = read(text, record).map_err(|why| {
            wire::BatchError::Internal(format!("{}: payment {i} of the batch: {why}", P::NAME))
        })?;
        outcomes.push(write(text, P::enrich(batch, payment, claim)));
    }
    Ok(outcomes)
}

/// The plugin's view of one payment record.
pub fn read<'t>(
    text: &'t str,
    record: &wire::PaymentRecord,
) -> Result<(Payment<'t>, ClaimAnswer<'t>), String> {
    let p = &record.payment;
    let opt = |s: Option<wire::Span>| s.map(|s| slice(text, s)).transpose();
    let payment = Payment {
        payment_id: slice(text, p.payment_id)?,
        claim_id: slice(text, p.claim_id)?,
        payment_amount: decimal(p.payment_amount)?,
        payment_date: slice(text, p.payment_date)?,
        processor_id: opt(p.processor_id)?,
        payment_method: opt(p.payment_method)?,
        payment_status: opt(p.payment_status)?,
    };
    let claim = match &record.claim {
        wire::ClaimResult::Found(c) => ClaimAnswer::Found(ClaimRow {
            member_id: slice(text, c.member_id)?,
            claim_amount: decimal(c.claim_amount)?,
            claim_status: opt(c.claim_status)?,
            created_at_micros: c.created_at_micros,
        }),
        wire::ClaimResult::NotFound => ClaimAnswer::NotFound,
        wire::ClaimResult::Failed(f) => {
            let why = slice(text, f.message)?;
            match f.kind {
                wire::LookupFailureKind::Unavailable => ClaimAnswer::Unavailable(why),
                wire::LookupFailureKind::Timeout => ClaimAnswer::Timeout(why),
            }
        }
    };
    Ok((payment, claim))
}

/// One outcome as `typed-transform` carries it.
pub fn write(text: &str, outcome: super::Outcome<'_>) -> wire::Outcome {
    match outcome.and_then(|e| enriched(text, e)) {
        Ok(e) => wire::Outcome::Enriched(e),
        Err(f) => wire::Outcome::Failed(wire::Failure {
            reason: f.reason.into_owned(),
            message: f.message,
        }),
    }
}

fn enriched(text: &str, e: Enriched<'_>) -> Result<wire::EnrichedPayment, super::Failure> {
    let amount = |name: &str, d: &Decimal| {
        wit_decimal(d).ok_or_else(|| {
            super::Failure::new(
                INVALID_OUTPUT,
                format!("{name} {d} does not fit a WIT decimal (a 64-bit unscaled value)"),
            )
        })
    };
    let mut extra_fields = Vec::with_capacity(e.extra_fields.len());
    for (name, value) in e.extra_fields {
        let value = match value {
            Value::Null => wire::FieldValue::Null,
            Value::Number(d) => wire::FieldValue::Number(amount(&name, &d)?),
            Value::Text(t) => wire::FieldValue::Text(text_ref(text, t)),
        };
        extra_fields.push(wire::Field {
            name: name.into_owned(),
            value,
        });
    }
    Ok(wire::EnrichedPayment {
        claim_amount: amount("claim_amount", &e.claim_amount)?,
        member_id: text_ref(text, e.member_id),
        claim_status: e.claim_status.map(|s| text_ref(text, s)),
        extra_fields,
    })
}

/// A span of `text` if `s` lies inside it (by address: then it IS those
/// bytes), else `s` as owned text.
pub fn text_ref(text: &str, s: Cow<'_, str>) -> wire::TextRef {
    match s {
        Cow::Borrowed(b) => span_of(text, b)
            .map_or_else(|| wire::TextRef::Owned(b.to_owned()), wire::TextRef::Batch),
        Cow::Owned(o) => wire::TextRef::Owned(o),
    }
}

/// Where `part` lies in `text`, when it is a slice of it.
pub fn span_of(text: &str, part: &str) -> Option<wire::Span> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    if start.checked_add(part.len())? > text.len() {
        return None;
    }
    Some(wire::Span {
        start: u32::try_from(start).ok()?,
        len: u32::try_from(part.len()).ok()?,
    })
}

/// Bytes `s` of `text`: whole characters inside it, or why not.
pub fn slice(text: &str, s: wire::Span) -> Result<&str, String> {
    let start = s.start as usize;
    text.get(start..start.saturating_add(s.len as usize))
        .ok_or_else(|| {
            format!(
                "span {}+{} is not text of the {}-byte batch text",
                s.start,
                s.len,
                text.len()
            )
        })
}

/// A WIT decimal as an exact `Decimal`, or why not (a scale beyond 28).
pub fn decimal(d: wire::WitDecimal) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(i128::from(d.unscaled), u32::from(d.scale))
        .map_err(|e| format!("decimal {}e-{}: {e}", d.unscaled, d.scale))
}

/// `d` as a WIT decimal, at its own scale: `None` if its unscaled value
/// needs more than 64 bits.
pub fn wit_decimal(d: &Decimal) -> Option<wire::WitDecimal> {
    Some(wire::WitDecimal {
        unscaled: i64::try_from(d.mantissa()).ok()?,
        scale: u8::try_from(d.scale()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed::{Failure, Outcome};

    /// Enriches found claims with the member id as given, a remaining
    /// amount, the payment method (given) and a note of its own.
    struct Remaining;

    impl TypedPlugin for Remaining {
        const NAME: &'static str = "remaining";
        const VERSION: &'static str = "0.0.1";

        fn enrich<'t>(_: &Batch, p: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
            let claim = claim.require(p.claim_id)?;
            if p.payment_id == "HUGE" {
                return Ok(Enriched::new(claim.member_id, Decimal::MAX));
            }
            Ok(Enriched::from_claim(&claim)
                .with_field("remaining", claim.claim_amount - p.payment_amount)
                .with_field("method", p.payment_method)
                .with_field("note", format!("paid by {}", p.payment_id))
                .with_field("source", "sdk"))
        }
    }

    /// A batch text and its payment records, laid out as the host lays them.
    struct Layout {
        text: String,
        records: Vec<wire::PaymentRecord>,
    }

    impl Layout {
        fn put(&mut self, s: &str) -> wire::Span {
            let span = wire::Span {
                start: self.text.len() as u32,
                len: s.len() as u32,
            };
            self.text.push_str(s);
            span
        }

        fn payment(&mut self, id: &str, claim: wire::ClaimResult) {
            let payment = wire::Payment {
                payment_id: self.put(id),
                claim_id: self.put("CLM-1"),
                payment_amount: wire::WitDecimal {
                    unscaled: 25_050,
                    scale: 2,
                },
                payment_date: self.put("2024-01-15T10:30:00"),
                processor_id: None,
                payment_method: Some(self.put("ACH")),
                payment_status: None,
            };
            self.records.push(wire::PaymentRecord { payment, claim });
        }

        fn found(&mut self) -> wire::ClaimResult {
            wire::ClaimResult::Found(wire::Claim {
                member_id: self.put("MBR-7"),
                claim_amount: wire::WitDecimal {
                    unscaled: 100_000,
                    scale: 2,
                },
                claim_status: Some(self.put("APPROVED")),
                created_at_micros: None,
            })
        }
    }

    fn layout() -> Layout {
        let mut l = Layout {
            text: String::new(),
            records: Vec::new(),
        };
        let found = l.found();
        l.payment("P1", found);
        l.payment("P2", wire::ClaimResult::NotFound);
        let why = l.put("disk on fire");
        l.payment(
            "P3",
            wire::ClaimResult::Failed(wire::LookupFailure {
                kind: wire::LookupFailureKind::Timeout,
                message: why,
            }),
        );
        l.payment("HUGE", found);
        l
    }

    fn failed(reason: &str, message: &str) -> wire::Outcome {
        wire::Outcome::Failed(wire::Failure {
            reason: reason.to_owned(),
            message: message.to_owned(),
        })
    }

    #[test]
    fn given_text_goes_back_as_spans_and_the_plugins_own_as_owned_text() {
        let l = layout();
        let out = process_payments::<Remaining>(&Batch::new(0), &l.text, &l.records)
            .expect("a good batch");
        assert_eq!(out.len(), 4, "one outcome per payment");
        let wire::Outcome::Enriched(e) = &out[0] else {
            panic!("P1 is enriched: {:?}", out[0]);
        };
        let wire::ClaimResult::Found(claim) = l.records[0].claim else {
            panic!("laid out as found");
        };
        // The member id, status and payment method are the host's bytes, handed back.
        assert_eq!(e.member_id, wire::TextRef::Batch(claim.member_id));
        assert_eq!(e.claim_status, claim.claim_status.map(wire::TextRef::Batch));
        assert_eq!(
            e.claim_amount,
            wire::WitDecimal {
                unscaled: 100_000,
                scale: 2
            }
        );
        let field = |name: &str, value: wire::FieldValue| wire::Field {
            name: name.to_owned(),
            value,
        };
        let method = l.records[0].payment.payment_method.expect("laid out");
        assert_eq!(
            e.extra_fields,
            [
                field(
                    "remaining",
                    wire::FieldValue::Number(wire::WitDecimal {
                        unscaled: 74_950,
                        scale: 2
                    })
                ),
                field(
                    "method",
                    wire::FieldValue::Text(wire::TextRef::Batch(method))
                ),
                field(
                    "note",
                    wire::FieldValue::Text(wire::TextRef::Owned("paid by P1".into()))
                ),
                // A literal is not the batch's text: it crosses as owned.
                field(
                    "source",
                    wire::FieldValue::Text(wire::TextRef::Owned("sdk".into()))
                ),
            ]
        );
        assert_eq!(out[1], failed("CLAIM_NOT_FOUND", "claim CLM-1 not found"));
        assert_eq!(
            out[2],
            failed("DB_TIMEOUT", "claims lookup timed out: disk on fire")
        );
        assert_eq!(
            out[3],
            failed(
                INVALID_OUTPUT,
                "claim_amount 79228162514264337593543950335 does not fit a WIT decimal (a 64-bit unscaled value)"
            )
        );
    }

    #[test]
    fn a_span_outside_the_text_fails_the_batch_not_one_payment() {
        let mut l = layout();
        l.records[1].payment.claim_id = wire::Span {
            start: l.text.len() as u32 - 2,
            len: 5,
        };
        let err = process_payments::<Remaining>(&Batch::new(0), &l.text, &l.records)
            .expect_err("a host fault");
        let wire::BatchError::Internal(why) = err;
        assert!(
            why.starts_with("remaining: payment 1 of the batch: span "),
            "{why}"
        );
    }

    #[test]
    fn a_span_is_found_only_for_slices_of_the_text() {
        let text = String::from("MBR-7APPROVED");
        assert_eq!(
            span_of(&text, &text[5..]),
            Some(wire::Span { start: 5, len: 8 })
        );
        assert_eq!(
            span_of(&text, &text[13..]),
            Some(wire::Span { start: 13, len: 0 })
        );
        let copy = text.clone();
        assert_eq!(span_of(&text, &copy[5..]), None, "equal bytes elsewhere");
        assert_eq!(
            text_ref(&text, Cow::Borrowed("APPROVED")),
            wire::TextRef::Owned("APPROVED".into())
        );
        let failure = Failure::new("X", "y");
        assert_eq!(failure.reason, "X");
    }

    #[test]
    fn decimals_cross_exactly_at_their_own_scale() {
        let d = decimal(wire::WitDecimal {
            unscaled: 150_000,
            scale: 2,
        })
        .expect("fits");
        assert_eq!(d.to_string(), "1500.00");
        assert_eq!(
            wit_decimal(&d),
            Some(wire::WitDecimal {
                unscaled: 150_000,
                scale: 2
            })
        );
        assert!(
            decimal(wire::WitDecimal {
                unscaled: 1,
                scale: 29
            })
            .is_err()
        );
        assert_eq!(wit_decimal(&Decimal::MAX), None);
    }
}
