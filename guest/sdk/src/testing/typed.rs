//! Native tests of a [`TypedPlugin`]: JSON payloads in, one [`TypedOutput`]
//! per payload out, the way the host feeds a typed component. Each payload is
//! read by the host's own parser (`enricher_model::event`: bad ones are
//! answered INVALID_JSON / INVALID_EVENT with the host's messages and never
//! reach the plugin), the batch's distinct claim ids
//! are looked up in ONE call of the stub, the texts are laid out in one batch
//! text, and the component's own glue ([`crate::typed::glue`]) runs the plugin.
//!
//! ```
//! use enricher_sdk::testing::{ClaimsStub, typed::process_payments};
//! # use enricher_sdk::Batch;
//! # use enricher_sdk::typed::{ClaimAnswer, Enriched, Outcome, Payment, TypedPlugin};
//! # struct Tag;
//! # impl TypedPlugin for Tag {
//! #     const NAME: &'static str = "tag";
//! #     const VERSION: &'static str = "0.1.0";
//! #     fn enrich<'t>(_: &Batch, p: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
//! #         Ok(Enriched::from(claim.require(p.claim_id)?))
//! #     }
//! # }
//! let mut claims = ClaimsStub::new().claim("CLM-1", "MBR-1", "12.50");
//! let out = process_payments::<Tag>(0, &[
//!     r#"{"payment_id":"P1","claim_id":"CLM-1","payment_amount":1,"payment_date":"2024-01-15T10:30:00"}"#,
//!     "not json",
//! ], &mut claims);
//! assert_eq!(out[0].status(), "SUCCESS");
//! assert_eq!(out[0].enriched().map(|e| e.member_id.as_ref()), Some("MBR-1"));
//! assert_eq!(out[1].status(), "INVALID_JSON");
//! assert_eq!(claims.calls(), [vec!["CLM-1".to_owned()]]);
//! ```

use std::borrow::Cow;

use enricher_model::Status;
use enricher_model::event::{PaymentEvent, parse_event};

use crate::claims::{Answer, Claims};
use crate::record::Batch;
use crate::typed::glue::{self, wit_decimal};
use crate::typed::{Enriched, Failure, FieldValue, TypedPlugin, wire};

/// What became of one payload, its texts owned.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedOutput {
    /// The payload's `payment_id`, when it could be read.
    pub payment_id: Option<String>,
    /// `Ok`: enriched; `Err`: failed, with the plugin's reason, or the host's
    /// (INVALID_JSON, INVALID_EVENT, PLUGIN_ERROR, PLUGIN_INVALID_OUTPUT).
    pub outcome: Result<Enriched<'static>, Failure>,
}

impl TypedOutput {
    /// `enrichment_status`: SUCCESS or the failure's reason.
    pub fn status(&self) -> &str {
        match &self.outcome {
            Ok(_) => Status::Success.as_str(),
            Err(f) => &f.reason,
        }
    }

    pub fn enriched(&self) -> Option<&Enriched<'static>> {
        self.outcome.as_ref().ok()
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.outcome.as_ref().err()
    }
}

/// Run typed plugin `P` over one batch of JSON payloads at `processing_time_ms`.
pub fn process_payments<P: TypedPlugin + ?Sized>(
    processing_time_ms: i64,
    payloads: &[&str],
    claims: &mut dyn Claims,
) -> Vec<TypedOutput> {
    let read: Vec<_> = payloads.iter().map(|p| parse_event(p.as_bytes())).collect();
    let events: Vec<&PaymentEvent<'_>> = read.iter().filter_map(|r| r.as_ref().ok()).collect();

    // One lookup of the distinct ids, in first-seen order (as the host).
    let mut distinct: Vec<&str> = Vec::new();
    for e in &events {
        if !distinct.contains(&e.claim_id.as_ref()) {
            distinct.push(&e.claim_id);
        }
    }
    let answers = if distinct.is_empty() {
        Vec::new()
    } else {
        claims.lookup(&distinct)
    };

    let mut text = String::new();
    let results: Vec<wire::ClaimResult> = (0..distinct.len())
        .map(|i| claim_result(&mut text, answers.get(i)))
        .collect();
    let records: Vec<wire::PaymentRecord> = events
        .iter()
        .map(|e| {
            let at = distinct
                .iter()
                .position(|id| *id == e.claim_id.as_ref())
                .unwrap_or(usize::MAX);
            wire::PaymentRecord {
                payment: payment(&mut text, e),
                claim: results
                    .get(at)
                    .copied()
                    .unwrap_or(wire::ClaimResult::NotFound),
            }
        })
        .collect();

    let batch = Batch::new(processing_time_ms);
    let outcomes = glue::process_payments::<P>(&batch, &text, &records);
    let mut outcomes = match outcomes {
        Ok(o) => o.into_iter().map(|o| owned(&text, o)).collect(),
        Err(wire::BatchError::Internal(why)) => {
            vec![Err(Failure::new(Status::PluginError, why)); records.len()]
        }
    }
    .into_iter();
    read.into_iter()
        .map(|r| match r {
            Ok(e) => TypedOutput {
                payment_id: Some(e.payment_id.into_owned()),
                outcome: outcomes.next().unwrap_or_else(|| {
                    Err(Failure::new(Status::PluginDroppedRecord, "no outcome"))
                }),
            },
            Err(invalid) => TypedOutput {
                payment_id: invalid.payment_id,
                outcome: Err(Failure::new(invalid.kind.status(), invalid.message)),
            },
        })
        .collect()
}

fn put(text: &mut String, s: &str) -> wire::Span {
    let span = wire::Span {
        start: u32::try_from(text.len()).unwrap_or(u32::MAX),
        len: u32::try_from(s.len()).unwrap_or(u32::MAX),
    };
    text.push_str(s);
    span
}

/// A test amount as the host sends it (test data: a 96-bit mantissa is a bug of the test).
fn decimal(d: &rust_decimal::Decimal) -> wire::WitDecimal {
    match wit_decimal(d) {
        Some(w) => w,
        None => panic!("test amount {d} does not fit a WIT decimal"),
    }
}

fn claim_result(text: &mut String, answer: Option<&Answer>) -> wire::ClaimResult {
    let failed = |text: &mut String, kind, why: &str| {
        wire::ClaimResult::Failed(wire::LookupFailure {
            kind,
            message: put(text, why),
        })
    };
    match answer {
        Some(Answer::Found(c)) => wire::ClaimResult::Found(wire::Claim {
            member_id: put(text, &c.member_id),
            claim_amount: decimal(&c.claim_amount),
            claim_status: c.claim_status.as_deref().map(|s| put(text, s)),
            created_at_micros: c.created_at_micros,
        }),
        Some(Answer::NotFound) => wire::ClaimResult::NotFound,
        Some(Answer::Unavailable(why)) => failed(text, wire::LookupFailureKind::Unavailable, why),
        Some(Answer::Timeout(why)) => failed(text, wire::LookupFailureKind::Timeout, why),
        None => failed(
            text,
            wire::LookupFailureKind::Unavailable,
            "claims lookup returned fewer results than ids asked for",
        ),
    }
}

fn payment(text: &mut String, e: &PaymentEvent<'_>) -> wire::Payment {
    wire::Payment {
        payment_id: put(text, &e.payment_id),
        claim_id: put(text, &e.claim_id),
        payment_amount: decimal(&e.payment_amount),
        payment_date: put(text, &e.payment_date),
        processor_id: e.processor_id.as_deref().map(|s| put(text, s)),
        payment_method: e.payment_method.as_deref().map(|s| put(text, s)),
        payment_status: e.payment_status.as_deref().map(|s| put(text, s)),
    }
}

/// A wire outcome with its spans read back, as the host writes it (a span
/// outside the text is PLUGIN_INVALID_OUTPUT there too).
fn owned(text: &str, outcome: wire::Outcome) -> Result<Enriched<'static>, Failure> {
    let invalid = |why: String| Failure::new(Status::PluginInvalidOutput, why);
    let text_of = |t: wire::TextRef| -> Result<Cow<'static, str>, Failure> {
        match t {
            wire::TextRef::Batch(s) => glue::slice(text, s)
                .map(|s| Cow::Owned(s.to_owned()))
                .map_err(invalid),
            wire::TextRef::Owned(s) => Ok(Cow::Owned(s)),
        }
    };
    let amount = |d| glue::decimal(d).map_err(invalid);
    match outcome {
        wire::Outcome::Failed(f) => Err(Failure::new(f.reason, f.message)),
        wire::Outcome::Enriched(e) => {
            let mut extra_fields = Vec::with_capacity(e.extra_fields.len());
            for field in e.extra_fields {
                let value = match field.value {
                    wire::FieldValue::Null => FieldValue::Null,
                    wire::FieldValue::Number(d) => FieldValue::Number(amount(d)?),
                    wire::FieldValue::Text(t) => FieldValue::Text(text_of(t)?),
                };
                extra_fields.push((Cow::Owned(field.name), value));
            }
            Ok(Enriched {
                member_id: text_of(e.member_id)?,
                claim_amount: amount(e.claim_amount)?,
                claim_status: e.claim_status.map(text_of).transpose()?,
                extra_fields,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decimal;
    use crate::testing::ClaimsStub;
    use crate::typed::{ClaimAnswer, Outcome, Payment};

    /// Flags large payments, refuses cancelled ones with a code of its own.
    struct Flag;

    impl TypedPlugin for Flag {
        const NAME: &'static str = "flag";
        const VERSION: &'static str = "0.0.1";

        fn enrich<'t>(_: &Batch, p: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
            if p.payment_status == Some("CANCELLED") {
                return Err(Failure::new(
                    "CANCELLED",
                    format!("payment {} was cancelled", p.payment_id),
                ));
            }
            let claim = claim.require(p.claim_id)?;
            let large = p.payment_amount > Decimal::new(1000, 0);
            Ok(Enriched::from_claim(&claim)
                .with_field("large", if large { "yes" } else { "no" })
                .with_field("processor", p.processor_id))
        }
    }

    const P: &str = r#""payment_date":"2024-01-15T10:30:00""#;

    #[test]
    fn every_payload_answered_in_order_with_one_lookup_of_the_distinct_ids() {
        let mut claims = ClaimsStub::new()
            .claim("CLM-1", "MBR-1", "2000.00")
            .unavailable("CLM-DOWN", "IO Error")
            .timeout("CLM-SLOW", "after 50ms");
        let payloads = [
            format!(
                r#"{{"payment_id":"P1","claim_id":"CLM-1","payment_amount":1500,"processor_id":"STRIPE",{P}}}"#
            ),
            format!(r#"{{"payment_id":"P2","claim_id":"CLM-404","payment_amount":1,{P}}}"#),
            "{oops".to_owned(),
            format!(r#"{{"payment_id":"P4","claim_id":"CLM-DOWN","payment_amount":1,{P}}}"#),
            format!(r#"{{"payment_id":"P5","claim_id":"CLM-SLOW","payment_amount":1,{P}}}"#),
            format!(
                r#"{{"payment_id":"P6","claim_id":"CLM-1","payment_amount":2,"payment_status":"CANCELLED",{P}}}"#
            ),
            format!(r#"{{"payment_id":"P7","claim_id":"CLM-1","payment_amount":0.5,{P}}}"#),
        ];
        let payloads: Vec<&str> = payloads.iter().map(String::as_str).collect();
        let out = process_payments::<Flag>(0, &payloads, &mut claims);
        let statuses: Vec<&str> = out.iter().map(TypedOutput::status).collect();
        assert_eq!(
            statuses,
            [
                "SUCCESS",
                "CLAIM_NOT_FOUND",
                "INVALID_JSON",
                "DB_ERROR",
                "DB_TIMEOUT",
                "CANCELLED",
                "SUCCESS"
            ]
        );
        assert_eq!(
            claims.calls(),
            [vec!["CLM-1", "CLM-404", "CLM-DOWN", "CLM-SLOW"]]
        );
        let first = out[0].enriched().expect("P1 enriched");
        assert_eq!(first.member_id, "MBR-1");
        assert_eq!(first.claim_amount.to_string(), "2000.00");
        assert_eq!(first.claim_status.as_deref(), Some("APPROVED"));
        assert_eq!(first.field("large"), Some(&FieldValue::from("yes")));
        assert_eq!(first.field("processor"), Some(&FieldValue::from("STRIPE")));
        let last = out[6].enriched().expect("P7 enriched");
        assert_eq!(last.field("large"), Some(&FieldValue::from("no")));
        assert_eq!(last.field("processor"), Some(&FieldValue::Null));
        assert_eq!(out[2].payment_id, None);
        assert_eq!(out[3].payment_id.as_deref(), Some("P4"));
        assert_eq!(
            out[3].failure().map(|f| f.message.as_str()),
            Some("claims store unavailable: IO Error")
        );
        assert_eq!(
            out[5].failure().map(|f| f.message.as_str()),
            Some("payment P6 was cancelled")
        );
    }

    #[test]
    fn a_batch_of_only_bad_input_never_calls_the_plugin_or_the_store() {
        let mut claims = ClaimsStub::new();
        let out = process_payments::<Flag>(
            0,
            &[r#"{"payment_id":"P1","claim_id":"C","payment_amount":1,"payment_date":"soon"}"#],
            &mut claims,
        );
        assert_eq!(out[0].status(), "INVALID_EVENT");
        assert!(claims.calls().is_empty());
    }
}
