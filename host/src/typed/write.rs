//! A typed call's outcomes as output records, byte for byte what the raw
//! build of the enrichment writes (`guest/src/enrich.rs`): the payment's fields, the
//! claim's (or nulls), `enrichment_status`, `error` on failures, the batch's
//! timestamp; bad input as the shared failure record with its payload.
//! Outputs keep their input's key and headers; failures add the status header.

use enricher_model::json_out::ObjectWriter;
use enricher_model::{FailureRecord, Status, format_utc_millis, header};
use rust_decimal::Decimal;

use super::{Slot, TypedBatch};
use crate::bindings::claims_api::Decimal as WitDecimal;
use crate::bindings::typed_api::{
    EnrichedPayment, Failure, FieldValue, Outcome, Payment, Span, TextRef,
};
use crate::bindings::{Header, InputRecord, Output, OutputRecord};

/// The status of an outcome the host cannot write (a span outside the text, a bad decimal).
const INVALID_OUTPUT: &str = Status::PluginInvalidOutput.as_str();

impl TypedBatch {
    /// The output records of `records` (the batch last [`read`](Self::read))
    /// given the plugin's `outcomes`, in input order. A payment the plugin
    /// left without an outcome gets no output (the pipeline answers it as
    /// PLUGIN_DROPPED_RECORD); outcomes beyond the payments are ignored.
    pub fn write(
        &self,
        records: &[InputRecord],
        outcomes: &[Outcome],
        processing_time_ms: i64,
    ) -> Vec<OutputRecord> {
        if outcomes.len() > self.payments.len() {
            tracing::warn!(
                outcomes = outcomes.len(),
                payments = self.payments.len(),
                "typed plugin returned more outcomes than payments; the extra ones are dropped"
            );
        }
        let timestamp = format_utc_millis(processing_time_ms);
        let mut out = Vec::with_capacity(records.len());
        for (i, (slot, record)) in self.slots.iter().zip(records).enumerate() {
            let mut value = Vec::with_capacity(record.value.len() + 160);
            let status = match slot {
                Slot::Invalid(invalid) => {
                    let status = invalid.kind.status().as_str();
                    FailureRecord {
                        payment_id: invalid.payment_id.as_deref(),
                        status,
                        error: &invalid.message,
                        timestamp: &timestamp,
                        payload: &record.value,
                        keep_prefix: None,
                    }
                    .write(&mut value);
                    Some(status)
                }
                Slot::Payment(k) => {
                    let Some(outcome) = outcomes.get(*k as usize) else {
                        continue;
                    };
                    let payment = &self.payments[*k as usize].payment;
                    match self.write_outcome(&mut value, payment, outcome, &timestamp) {
                        Ok(status) => status,
                        Err(why) => {
                            value.clear();
                            FailureRecord {
                                payment_id: self.span_text(payment.payment_id).ok(),
                                status: INVALID_OUTPUT,
                                error: &why,
                                timestamp: &timestamp,
                                payload: &record.value,
                                keep_prefix: None,
                            }
                            .write(&mut value);
                            Some(INVALID_OUTPUT)
                        }
                    }
                }
            };
            let mut headers = record.headers.clone();
            if let Some(status) = status {
                headers.push(Header {
                    key: header::STATUS.to_owned(),
                    value: status.as_bytes().to_vec(),
                });
            }
            out.push(OutputRecord {
                input_index: i as u32,
                output: if status.is_some() {
                    Output::Failed
                } else {
                    Output::Enriched
                },
                key: record.key.clone(),
                value,
                headers,
            });
        }
        out
    }

    /// Write one outcome; its failure status (`None`: enriched).
    fn write_outcome<'o>(
        &self,
        value: &mut Vec<u8>,
        payment: &Payment,
        outcome: &'o Outcome,
        timestamp: &str,
    ) -> Result<Option<&'o str>, String> {
        let mut w = ObjectWriter::new(value);
        self.payment_fields(&mut w, payment)?;
        match outcome {
            Outcome::Enriched(e) => {
                self.enriched_fields(&mut w, e)?;
                w.str("enrichment_status", Status::Success.as_str())
                    .str("enrichment_timestamp", timestamp)
                    .finish();
                Ok(None)
            }
            Outcome::Failed(Failure { reason, message }) => {
                w.null("member_id")
                    .null("claim_amount")
                    .null("claim_status")
                    .str("enrichment_status", reason)
                    .str("error", message)
                    .str("enrichment_timestamp", timestamp)
                    .finish();
                Ok(Some(reason))
            }
        }
    }

    fn payment_fields(&self, w: &mut ObjectWriter<'_>, p: &Payment) -> Result<(), String> {
        let opt = |s: Option<Span>| s.map(|s| self.span_text(s)).transpose();
        w.str("payment_id", self.span_text(p.payment_id)?)
            .str("claim_id", self.span_text(p.claim_id)?)
            .decimal("payment_amount", &decimal(p.payment_amount)?)
            .str("payment_date", self.span_text(p.payment_date)?)
            .opt_str("processor_id", opt(p.processor_id)?)
            .opt_str("payment_method", opt(p.payment_method)?)
            .opt_str("payment_status", opt(p.payment_status)?);
        Ok(())
    }

    fn enriched_fields(&self, w: &mut ObjectWriter<'_>, e: &EnrichedPayment) -> Result<(), String> {
        let status = e
            .claim_status
            .as_ref()
            .map(|t| self.text_ref(t))
            .transpose()?;
        w.str("member_id", self.text_ref(&e.member_id)?)
            .decimal("claim_amount", &decimal(e.claim_amount)?)
            .opt_str("claim_status", status);
        for field in &e.extra_fields {
            match &field.value {
                FieldValue::Null => w.null(&field.name),
                FieldValue::Number(d) => w.decimal(&field.name, &decimal(*d)?),
                FieldValue::Text(t) => w.str(&field.name, self.text_ref(t)?),
            };
        }
        Ok(())
    }

    /// A span of the batch's text; the plugin may have made it up.
    fn span_text(&self, s: Span) -> Result<&str, String> {
        let end = s.start as usize + s.len as usize;
        self.text.get(s.start as usize..end).ok_or_else(|| {
            format!(
                "the plugin answered with span {}+{} of a {}-byte batch text (outside it, or not on a character boundary)",
                s.start,
                s.len,
                self.text.len()
            )
        })
    }

    fn text_ref<'t>(&'t self, t: &'t TextRef) -> Result<&'t str, String> {
        match t {
            TextRef::Batch(s) => self.span_text(*s),
            TextRef::Owned(s) => Ok(s),
        }
    }
}

/// A WIT decimal as an exact `Decimal` (scale at most 28).
pub(crate) fn decimal(d: WitDecimal) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(i128::from(d.unscaled), u32::from(d.scale)).map_err(|e| {
        format!(
            "the plugin answered with decimal {}e-{}: {e}",
            d.unscaled, d.scale
        )
    })
}
