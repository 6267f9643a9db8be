//! Typed plugins (world `typed-enricher`, WIT 1.2.0): the host parses each
//! payment event, resolves the batch's claims in one cached lookup and writes
//! the output JSON itself; the plugin decides each payment's [`Outcome`].
//!
//! A plugin implements [`TypedPlugin`] and calls [`crate::export_typed!`]:
//!
//! ```
//! //! Adds what is left of the claim after each payment.
//! use enricher_sdk::Batch;
//! use enricher_sdk::typed::{ClaimAnswer, Enriched, Outcome, Payment, TypedPlugin};
//!
//! struct Remaining;
//!
//! impl TypedPlugin for Remaining {
//!     const NAME: &'static str = "remaining";
//!     const VERSION: &'static str = "0.1.0";
//!
//!     fn enrich<'t>(_: &Batch, payment: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t> {
//!         let claim = claim.require(payment.claim_id)?; // CLAIM_NOT_FOUND, DB_ERROR, DB_TIMEOUT
//!         let remaining = claim.claim_amount - payment.payment_amount;
//!         Ok(Enriched::from_claim(&claim).with_field("remaining_claim_amount", remaining))
//!     }
//! }
//!
//! enricher_sdk::export_typed!(Remaining);
//! # use enricher_sdk::testing::{ClaimsStub, typed::process_payments};
//! # let mut claims = ClaimsStub::new().claim("CLM-1", "MBR-7", "100.00");
//! # let out = process_payments::<Remaining>(0, &[
//! #     r#"{"payment_id":"P1","claim_id":"CLM-1","payment_amount":40.5,"payment_date":"2024-01-15T10:30:00"}"#,
//! #     r#"{"payment_id":"P2","claim_id":"CLM-2","payment_amount":1,"payment_date":"2024-01-15T10:30:00"}"#,
//! # ], &mut claims);
//! # let enriched = out[0].enriched().expect("P1 enriched");
//! # assert_eq!(enriched.member_id, "MBR-7");
//! # assert_eq!(enriched.field("remaining_claim_amount"), Some(&"59.50".parse::<enricher_sdk::Decimal>().expect("d").into()));
//! # assert_eq!(out[1].status(), "CLAIM_NOT_FOUND");
//! ```
//!
//! Layout:
//! - [`payment`]: what the plugin is handed ([`Payment`], [`ClaimAnswer`], [`ClaimRow`]);
//! - [`outcome`]: what it answers ([`Outcome`] = `Result<`[`Enriched`]`, `[`Failure`]`>`);
//! - [`glue`]: spans of the batch's text to borrowed views and back (the
//!   `process-payments` export's body, natively tested);
//! - [`wire`]: the WIT records the glue speaks (wit-bindgen's in wasm, mirrors natively).

pub mod glue;
pub mod outcome;
pub mod payment;
pub mod wire;

pub use outcome::{Enriched, Failure, FieldValue, Outcome};
pub use payment::{ClaimAnswer, ClaimRow, Payment};

use crate::record::Batch;

/// A plugin on the typed world: one payment and its claim in, one outcome out.
///
/// The host has already parsed the event (bad input never gets here) and
/// resolved its claim. Texts borrow the batch's text: hand them back (in
/// [`Enriched`]) and they cross back without a copy.
pub trait TypedPlugin {
    /// Reported by `info` and stamped on every output record by the host.
    const NAME: &'static str;
    /// The plugin's version (semver), stamped beside the name.
    const VERSION: &'static str;

    /// What becomes of `payment`, given its `claim`: `Ok` enriches it, `Err`
    /// sends it to `failed` with the failure's reason and message.
    fn enrich<'t>(batch: &Batch, payment: Payment<'t>, claim: ClaimAnswer<'t>) -> Outcome<'t>;
}

/// Export a [`TypedPlugin`] type as the component's `typed-transform` (world
/// `typed-enricher`). Expands to nothing outside wasm32, so the same crate
/// runs in `cargo test`. A component exports one world: use this or
/// [`crate::export!`], not both.
#[macro_export]
macro_rules! export_typed {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct EnricherSdkTypedExport;
            impl $crate::wasm_typed::Guest for EnricherSdkTypedExport {
                fn info() -> $crate::wasm_typed::PluginInfo {
                    $crate::wasm_typed::info::<$plugin>()
                }
                fn process_payments(
                    context: $crate::wasm_typed::BatchContext,
                    text: ::std::string::String,
                    payments: ::std::vec::Vec<$crate::wasm_typed::PaymentRecord>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::wasm_typed::Outcome>,
                    $crate::wasm_typed::BatchError,
                > {
                    $crate::wasm_typed::process_payments::<$plugin>(context, &text, &payments)
                }
            }
            $crate::wasm_typed::__export_typed_world!(
                EnricherSdkTypedExport with_types_in $crate::wasm_typed
            );
        };
    };
}
