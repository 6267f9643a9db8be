//! `enricher-sdk`: write an enrichment plugin as one function per record.
//!
//! A plugin implements [`Plugin`] (or [`BatchPlugin`] to see whole batches)
//! and calls [`export!`]; a plugin on the typed world implements
//! [`typed::TypedPlugin`] and calls [`export_typed!`] instead. The SDK owns
//! what every plugin otherwise writes by hand against the WIT world
//! `payments:enrichment/enricher`:
//! - the batched lookup: it collects the batch's distinct claim ids, makes ONE
//!   `claims.lookup` call, and hands each record its own answer;
//! - the "answer every input" rule and `input-index` bookkeeping: a record gets
//!   exactly the one [`Output`] your function returns, routed to `enriched` or
//!   `failed` with its status header, and keeps its input key and headers;
//! - exact decimals ([`Decimal`]), [`config::get`] and [`log`].
//!
//! Layout:
//! - [`record`]: what a plugin reads ([`Record`], [`Batch`]) and returns ([`Output`]);
//! - [`claims`]: the lookup's answers ([`Claim`], [`Answer`]: `enricher-model`'s,
//!   the host's own types; [`Lookup`]: one record's) and the [`Claims`] trait;
//! - [`batch`]: the per-batch driver ([`run`]) behind every [`Plugin`];
//! - [`config`], [`log`]: the host's parameters and log stream (in-memory natively);
//! - [`typed`]: plugins on the typed world ([`typed::TypedPlugin`], exported
//!   with [`export_typed!`]): the host parses and looks up, the plugin decides;
//! - [`testing`]: run a plugin in `cargo test` against an in-memory claims stub
//!   ([`testing::typed`] for typed plugins, over JSON payloads);
//! - `wasm`, `wasm_typed` (wasm32 only): the wit-bindgen glue of the two
//!   worlds and what [`export!`] and [`export_typed!`] expand to.
//!
//! The same plugin code compiles natively (tests) and to `wasm32-wasip2` (the
//! component the host runs): only `wasm` and the backends of `config`/`log` differ.
//!
//! A minimal plugin (the one in docs/plugins.md), tested natively:
//!
//! ```
//! //! Tags each record with its claim's member: the record's key is the claim id.
//! use enricher_sdk::{Batch, Lookup, Output, Plugin, Record};
//!
//! struct Tag;
//!
//! impl Plugin for Tag {
//!     const NAME: &'static str = "tag";
//!     const VERSION: &'static str = "0.1.0";
//!     type Event<'a> = &'a str;
//!
//!     fn read<'a>(_: &Batch, record: &Record<'a>) -> Result<&'a str, Output> {
//!         let key = record.key.and_then(|k| std::str::from_utf8(k).ok());
//!         key.ok_or_else(|| Output::failed("INVALID_EVENT", record.value))
//!     }
//!
//!     fn claim_id<'e>(claim_id: &'e &str) -> Option<&'e str> {
//!         Some(claim_id)
//!     }
//!
//!     fn enrich(_: &Batch, record: &Record<'_>, _: &str, claim: Lookup<'_>) -> Output {
//!         match claim {
//!             Lookup::Found(c) => Output::enriched(record.value).with_header("member-id", c.member_id.as_str()),
//!             Lookup::NotFound => Output::failed("CLAIM_NOT_FOUND", record.value),
//!             _ => Output::failed("DB_ERROR", record.value),
//!         }
//!     }
//! }
//!
//! enricher_sdk::export!(Tag);
//! # use enricher_sdk::testing::{ClaimsStub, process_records};
//! # let mut claims = ClaimsStub::new().claim("CLM-1", "MBR-7", "10.00");
//! # let (a, b) = (Record { key: Some(b"CLM-1"), ..Record::from_value(b"{}") }, Record::from_value(b"{}"));
//! # let out = process_records::<Tag>(0, &[a, b], &mut claims);
//! # assert_eq!(out[0].extra_headers(), [("member-id".to_owned(), b"MBR-7".to_vec())]);
//! # assert_eq!(out[1].status(), "INVALID_EVENT");
//! ```

pub mod batch;
pub mod claims;
pub mod config;
pub mod log;
pub mod record;
pub mod testing;
pub mod typed;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm_typed;

pub use batch::run;
pub use claims::{Answer, Claim, Claims, Lookup};
/// What the host and plugins share (`enricher-model`): the status codes
/// ([`model::Status`]), header names, the record format (a JSON object writer
/// with exact decimals, the failure record, the `enrichment_timestamp` text).
pub use enricher_model as model;
pub use enricher_model::Status;
pub use record::{Batch, Header, Output, Record, Route};
pub use rust_decimal::Decimal;

/// A plugin written one record at a time.
///
/// For each batch the SDK calls [`read`](Plugin::read) on every record, looks up
/// the distinct [`claim_id`](Plugin::claim_id)s of what was read in one call,
/// then calls [`enrich`](Plugin::enrich) with each record's event and answer.
pub trait Plugin {
    /// Reported by `info` and stamped on every output record by the host.
    const NAME: &'static str;
    /// The plugin's version (semver), stamped beside the name.
    const VERSION: &'static str;

    /// What [`read`](Plugin::read) makes of a record; it may borrow the record's bytes.
    type Event<'a>;

    /// Parse one record. `Err(output)` answers the record right away (bad input
    /// goes to `failed` with a status); `Ok(event)` goes on to the lookup.
    fn read<'a>(batch: &Batch, record: &Record<'a>) -> Result<Self::Event<'a>, Output>;

    /// The claim id to look up for this event, or `None` for no lookup
    /// ([`enrich`](Plugin::enrich) then gets [`Lookup::NotAsked`]).
    fn claim_id<'e>(event: &'e Self::Event<'_>) -> Option<&'e str>;

    /// Build the one output of a record from its event and its claim's answer.
    fn enrich(
        batch: &Batch,
        record: &Record<'_>,
        event: Self::Event<'_>,
        claim: Lookup<'_>,
    ) -> Output;
}

/// A plugin that sees whole batches (for cross-record logic). Every
/// [`Plugin`] is one; implement this instead of [`Plugin`] only to take over
/// the batch yourself.
pub trait BatchPlugin {
    const NAME: &'static str;
    const VERSION: &'static str;

    /// One output per record, in input order. Returning a different count
    /// fails the whole batch (the host routes every record to `failed` as
    /// PLUGIN_ERROR): no record is ever dropped silently.
    fn process_batch(batch: &Batch, records: &[Record<'_>], claims: &mut dyn Claims)
    -> Vec<Output>;
}

impl<P: Plugin> BatchPlugin for P {
    const NAME: &'static str = P::NAME;
    const VERSION: &'static str = P::VERSION;

    fn process_batch(
        batch: &Batch,
        records: &[Record<'_>],
        claims: &mut dyn Claims,
    ) -> Vec<Output> {
        run::<P>(batch, records, claims)
    }
}

/// Export a [`Plugin`] or [`BatchPlugin`] type as the component's `transform`.
/// Expands to nothing outside wasm32, so the same crate runs in `cargo test`.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct EnricherSdkExport;
            impl $crate::wasm::Guest for EnricherSdkExport {
                fn info() -> $crate::wasm::PluginInfo {
                    $crate::wasm::info::<$plugin>()
                }
                fn process_batch(
                    context: $crate::wasm::BatchContext,
                    records: ::std::vec::Vec<$crate::wasm::InputRecord>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::wasm::OutputRecord>,
                    $crate::wasm::BatchError,
                > {
                    $crate::wasm::process_batch::<$plugin>(context, records)
                }
            }
    $crate::wasm::__export_world!(EnricherSdkExport with_types_in $crate::wasm);
        };
    };
}
