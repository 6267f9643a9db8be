//! The fuzz targets' bodies: each takes arbitrary bytes, runs one parser or
//! writer of ours on them, and panics only if a property is broken (the
//! parsers themselves must never panic). `fuzz/fuzz_targets/*.rs` are one-line
//! wrappers of these for cargo-fuzz; `tests/smoke.rs` runs them over the seed
//! corpus (`fuzz/corpus/<target>/`) and seeded mutations in `cargo test`.
//!
//! | target              | what it drives                                                 |
//! |---------------------|----------------------------------------------------------------|
//! | `event_batch`       | the plugin's event parser and record writer (`enrich_batch`)   |
//! | `json_writer`       | `enricher-model`'s JSON writer and failure record           |
//! | `claims_csv`        | the claims CSV reader and row validation (`enricher-parse`)    |
//! | `claims_json_lines` | the claims JSON-lines reader and row validation                |
//! | `admin_query`       | the admin API's query string (`enricher-parse::query`)         |

mod claims;
mod event;
mod query;
mod writer;

pub use claims::{claims_csv, claims_json_lines};
pub use event::event_batch;
pub use query::admin_query;
pub use writer::json_writer;

/// A fuzz target's body: arbitrary bytes in, a panic only for a broken property.
pub type Body = fn(&[u8]);

/// The targets by name (the corpus folders have these names).
pub const TARGETS: [(&str, Body); 5] = [
    ("event_batch", event_batch),
    ("json_writer", json_writer),
    ("claims_csv", claims_csv),
    ("claims_json_lines", claims_json_lines),
    ("admin_query", admin_query),
];

/// A message shown to a person about hostile input: at most `bound`
/// characters, and no control character that could drive a terminal (a line
/// break is allowed).
fn assert_printable(message: &str, bound: usize) {
    let chars = message.chars().count();
    assert!(
        chars <= bound,
        "a message of {chars} characters: {:?}",
        message.chars().take(200).collect::<String>()
    );
    assert!(
        !message.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in the message {message:?}"
    );
}
