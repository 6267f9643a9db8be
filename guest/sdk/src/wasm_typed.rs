//! The wit-bindgen glue of the world `payments:enrichment/typed-enricher`
//! (wasm32 only): its bindings, and the `typed-transform` export that
//! [`crate::export_typed!`] wires to a [`TypedPlugin`].
//!
//! Two worlds in one crate: each `generate!` here and in `wasm` emits, in the
//! SDK, only its world's imports (the same three interfaces in both, so the
//! component's merged world is unchanged), and its export section only where
//! its export macro is expanded, in the plugin's crate. A component built
//! with `export!` exports `transform`, one built with `export_typed!`
//! `typed-transform`. The imports (`config`, `logging`) are called through
//! `wasm`'s bindings; they are the same functions. (wit-bindgen 0.46 cannot
//! put two worlds that export the same interface in one crate with
//! `pub_export_macro`, wit-bindgen#1502: the export macros' names clash.
//! These two export different ones, `transform` and `typed-transform`.)

wit_bindgen::generate!({
    path: "../../wit",
    world: "typed-enricher",
    pub_export_macro: true,
    export_macro_name: "__export_typed_world",
    default_bindings_module: "enricher_sdk::wasm_typed",
});

pub use exports::payments::enrichment::typed_transform::{
    BatchError, Claim, ClaimResult, EnrichedPayment, Failure, Field, FieldValue, Guest,
    LookupFailure, LookupFailureKind, Outcome, Payment, PaymentRecord, Span, TextRef,
};
pub use payments::enrichment::claims::Decimal as WitDecimal;
pub use payments::enrichment::types::{BatchContext, PluginInfo};

use crate::record::Batch;
use crate::typed::{TypedPlugin, glue};

/// `info` of plugin `P`.
pub fn info<P: TypedPlugin + ?Sized>() -> PluginInfo {
    PluginInfo {
        name: P::NAME.to_owned(),
        version: P::VERSION.to_owned(),
    }
}

/// `process-payments` of plugin `P`.
pub fn process_payments<P: TypedPlugin + ?Sized>(
    context: BatchContext,
    text: &str,
    payments: &[PaymentRecord],
) -> Result<Vec<Outcome>, BatchError> {
    glue::process_payments::<P>(&Batch::new(context.processing_time_ms), text, payments)
}
