//! The shapes of `typed-transform`'s arguments and results. In a component
//! they ARE the wit-bindgen types (`crate::wasm_typed`), so the glue converts
//! nothing twice; natively they are the same records, field for field, so the
//! glue that runs in wasm is the glue `cargo test` runs.

#[cfg(target_arch = "wasm32")]
pub use crate::wasm_typed::{
    BatchError, Claim, ClaimResult, EnrichedPayment, Failure, Field, FieldValue, LookupFailure,
    LookupFailureKind, Outcome, Payment, PaymentRecord, Span, TextRef, WitDecimal,
};

#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    /// Bytes `start .. start + len` of the batch's `text`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Span {
        pub start: u32,
        pub len: u32,
    }

    /// `unscaled * 10^-scale`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WitDecimal {
        pub unscaled: i64,
        pub scale: u8,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Payment {
        pub payment_id: Span,
        pub claim_id: Span,
        pub payment_amount: WitDecimal,
        pub payment_date: Span,
        pub processor_id: Option<Span>,
        pub payment_method: Option<Span>,
        pub payment_status: Option<Span>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Claim {
        pub member_id: Span,
        pub claim_amount: WitDecimal,
        pub claim_status: Option<Span>,
        pub created_at_micros: Option<i64>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum LookupFailureKind {
        Unavailable,
        Timeout,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct LookupFailure {
        pub kind: LookupFailureKind,
        pub message: Span,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ClaimResult {
        Found(Claim),
        NotFound,
        Failed(LookupFailure),
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PaymentRecord {
        pub payment: Payment,
        pub claim: ClaimResult,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum TextRef {
        Batch(Span),
        Owned(String),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum FieldValue {
        Null,
        Number(WitDecimal),
        Text(TextRef),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Field {
        pub name: String,
        pub value: FieldValue,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EnrichedPayment {
        pub member_id: TextRef,
        pub claim_amount: WitDecimal,
        pub claim_status: Option<TextRef>,
        pub extra_fields: Vec<Field>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Failure {
        pub reason: String,
        pub message: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Outcome {
        Enriched(EnrichedPayment),
        Failed(Failure),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum BatchError {
        Internal(String),
    }
}
