//! A batch laid out for a typed call: events parsed, claims resolved, text
//! fields as spans of one buffer.

use enricher_model::event::{Invalid, InvalidKind, PaymentEvent, parse_event};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::{Slot, TypedBatch};
use crate::bindings::InputRecord;
use crate::bindings::claims_api::Decimal as WitDecimal;
use crate::bindings::typed_api::{
    Claim, ClaimResult, LookupFailure, LookupFailureKind, Payment, PaymentRecord, Span,
};
use crate::lookup::{ClaimRow, ClaimsLookup, LookupAnswer};

/// Marks an input without a claim id (it did not parse).
const NO_ID: u32 = u32::MAX;

impl TypedBatch {
    /// Parse `records`, resolve their claims through `lookup` (without one,
    /// every claim is unavailable) and lay out the call's arguments.
    pub fn read(&mut self, records: &[InputRecord], lookup: Option<&ClaimsLookup>) {
        self.text.clear();
        self.payments.clear();
        self.slots.clear();
        self.id_of.clear();
        self.stale.clear();
        let events: Vec<_> = records.iter().map(|r| parse_event(&r.value)).collect();

        // The distinct claim ids, in first-seen order.
        let mut index: FxHashMap<&str, u32> =
            FxHashMap::with_capacity_and_hasher(events.len(), Default::default());
        for event in &events {
            let Ok(event) = event else {
                self.id_of.push(NO_ID);
                continue;
            };
            let next = index.len() as u32;
            let ids = &mut self.ids;
            let at = *index.entry(&event.claim_id).or_insert_with(|| {
                if ids.len() <= next as usize {
                    ids.push(String::new());
                }
                let id = &mut ids[next as usize];
                id.clear();
                id.push_str(&event.claim_id);
                next
            });
            self.id_of.push(at);
        }
        let distinct = index.len();
        drop(index);
        let claims = self.resolve(distinct, lookup);

        for (event, &id) in events.into_iter().zip(&self.id_of) {
            match event {
                Ok(event) => {
                    let claim = claims
                        .get(id as usize)
                        .cloned()
                        .unwrap_or(ClaimResult::NotFound);
                    match payment(&mut self.text, &event) {
                        Some(payment) => {
                            self.slots.push(Slot::Payment(self.payments.len() as u32));
                            self.payments.push(PaymentRecord { payment, claim });
                        }
                        None => self.slots.push(Slot::Invalid(Invalid {
                            kind: InvalidKind::Event,
                            message: format!(
                                "payment_amount {} is beyond a 64-bit decimal",
                                event.payment_amount
                            ),
                            payment_id: Some(event.payment_id.to_string()),
                        })),
                    }
                }
                Err(invalid) => self.slots.push(Slot::Invalid(invalid)),
            }
        }
    }

    /// One lookup of the first `distinct` ids; each answer's text goes into the text once.
    fn resolve(&mut self, distinct: usize, lookup: Option<&ClaimsLookup>) -> Vec<ClaimResult> {
        let ids = &self.ids[..distinct];
        if ids.is_empty() {
            return Vec::new();
        }
        let Some(lookup) = lookup else {
            let why = span(
                &mut self.text,
                "no claims store is attached to this instance",
            );
            let failed = ClaimResult::Failed(LookupFailure {
                kind: LookupFailureKind::Unavailable,
                message: why,
            });
            return vec![failed; ids.len()];
        };
        let answers = lookup.lookup(ids);
        let text = &mut self.text;
        answers
            .into_iter()
            .zip(ids)
            .map(|(answer, id)| match answer {
                LookupAnswer::Found(row) => {
                    if row.stale {
                        self.stale.push(id.clone());
                    }
                    claim(text, id, &row)
                }
                LookupAnswer::NotFound => ClaimResult::NotFound,
                LookupAnswer::Unavailable(why) => ClaimResult::Failed(LookupFailure {
                    kind: LookupFailureKind::Unavailable,
                    message: span(text, &why),
                }),
                LookupAnswer::Timeout(why) => ClaimResult::Failed(LookupFailure {
                    kind: LookupFailureKind::Timeout,
                    message: span(text, &why),
                }),
            })
            .collect()
    }
}

/// Append `s` to `text`; its span there. (A batch's text stays far below
/// 4 GiB: its records are capped by `max-record-bytes`.)
fn span(text: &mut String, s: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(s);
    Span {
        start,
        len: s.len() as u32,
    }
}

/// `d` as a WIT decimal (a 64-bit unscaled value), trailing zeros dropped
/// if that is what it takes; `None` when it does not fit even then.
pub(crate) fn wit_decimal(d: &Decimal) -> Option<WitDecimal> {
    let exact = |d: &Decimal| {
        Some(WitDecimal {
            unscaled: i64::try_from(d.mantissa()).ok()?,
            scale: u8::try_from(d.scale()).ok()?,
        })
    };
    exact(d).or_else(|| exact(&d.normalize()))
}

/// A found claim for the call. A `claims` row is `DECIMAL(10,2)`, so its
/// amount always fits; a store that breaks that gets DB_ERROR with the
/// reason, never a made-up amount.
fn claim(text: &mut String, id: &str, row: &ClaimRow) -> ClaimResult {
    let Some(claim_amount) = wit_decimal(&row.claim_amount) else {
        let why = format!(
            "claim {id} has amount {}, beyond a 64-bit decimal",
            row.claim_amount
        );
        return ClaimResult::Failed(LookupFailure {
            kind: LookupFailureKind::Unavailable,
            message: span(text, &why),
        });
    };
    ClaimResult::Found(Claim {
        member_id: span(text, &row.member_id),
        claim_amount,
        claim_status: row.claim_status.as_deref().map(|s| span(text, s)),
        created_at_micros: row.created_at_micros,
    })
}

/// The event's payment for the call. The parser accepts `DECIMAL(10,2)`
/// amounts only, so the amount always fits; `None` if it did not.
fn payment(text: &mut String, e: &PaymentEvent<'_>) -> Option<Payment> {
    let payment_amount = wit_decimal(&e.payment_amount)?;
    Some(Payment {
        payment_id: span(text, &e.payment_id),
        claim_id: span(text, &e.claim_id),
        payment_amount,
        payment_date: span(text, &e.payment_date),
        processor_id: e.processor_id.as_deref().map(|s| span(text, s)),
        payment_method: e.payment_method.as_deref().map(|s| span(text, s)),
        payment_status: e.payment_status.as_deref().map(|s| span(text, s)),
    })
}
