//! The host's half of the typed world (`typed-transform`, WIT 1.2.0): what a
//! raw plugin does itself in WASM, done natively around a typed plugin's call.
//!
//! - `read`: parse each event of a batch (with the parser the raw plugin uses,
//!   `enricher_model::event`, so bad input gets the same reason and message), resolve the
//!   batch's distinct claim ids in ONE call of the cached [`ClaimsLookup`],
//!   and lay the batch out as the call's arguments: one `text` buffer and one
//!   list of flat `payment-record`s whose text fields are spans of it;
//! - `write`: each `outcome` (and each event that never reached the plugin)
//!   as the output record the raw build of the enrichment (`guest/`) writes
//!   for it, byte for byte.
//!
//! A [`TypedBatch`] keeps its buffers from batch to batch: after the first
//! batches, reading allocates nothing per record (writing allocates each
//! output's value, which the output record owns).

mod read;
mod write;

use enricher_model::event::Invalid;

use crate::bindings::typed_api::PaymentRecord;

/// The buffers of one typed call, reused across batches.
#[derive(Default)]
pub struct TypedBatch {
    /// The batch's text: every text field of `payments` is a span of it.
    text: String,
    /// The call's payments, one per input that parsed.
    payments: Vec<PaymentRecord>,
    /// One per input: a payment or why it is not one.
    slots: Vec<Slot>,
    /// The batch's distinct claim ids (the strings keep their capacity).
    ids: Vec<String>,
    /// Which distinct id each input's payment names.
    id_of: Vec<u32>,
    /// Claim ids answered from an expired cache row (serve-stale).
    stale: Vec<String>,
}

/// What became of one input before the call.
enum Slot {
    /// It is `payments[i]`.
    Payment(u32),
    /// It never reaches the plugin: INVALID_JSON or INVALID_EVENT.
    Invalid(Invalid),
}

impl TypedBatch {
    /// The call's `text` argument.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The call's `payments` argument.
    pub fn payments(&self) -> &[PaymentRecord] {
        &self.payments
    }

    /// The claim ids the last [`read`](Self::read) answered from expired
    /// cache rows (serve-stale), so their outputs can be marked.
    pub fn take_stale(&mut self) -> impl Iterator<Item = String> + '_ {
        self.stale.drain(..)
    }
}
