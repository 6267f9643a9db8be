//! Live claims: the claims changelog, a compacted topic (`claims-changelog`
//! by default) every host applies into its own DuckDB file while it runs.
//!
//! - `codec`: a record ↔ a change (key = `claim_id`, value = the claim as
//!   JSON, a tombstone deletes);
//! - `apply`: a batch into DuckDB in one transaction with the offsets it
//!   reached, then the lookup told exactly which ids changed;
//! - `debezium`: a Debezium change event ↔ a change (`claims.changelog-format = debezium`);
//! - `consumer`: the `claims-apply` thread (manual assignment from the stored
//!   offsets, batches, lag, the bad-change policy);
//! - `publish`: `enricher claims publish`, and `POST /v1/claims` in Kafka mode;
//! - `local`: `POST /v1/claims` without Kafka (file mode): the same apply,
//!   on this host's `claims-apply` thread.
//!
//! The guarantee: once a host has applied the changelog up to offset X (the
//! batch's transaction committed, then the cache told), every lookup that
//! starts afterwards answers from X or later: the store's connection sees the
//! committed rows, the partial cache has dropped the changed ids, and a lookup
//! that read an id before the commit cannot put its older answer back into
//! the cache (see `lookup/cache.rs`). A lookup running during the apply
//! answers the row before or after it, never a mix: each row changes inside
//! one DuckDB transaction, and the full cache's table under its write lock.

mod apply;
mod codec;
mod consumer;
mod debezium;
mod local;
mod publish;

pub use apply::{Batch, ClaimsWriter, OFFSETS_DDL};
pub use codec::{change_of, decode, encode};
pub use consumer::{ChangelogApplier, topic_exists};
pub use debezium::decode as decode_debezium;
pub use local::{ADMIN_SOURCE, LocalClaims};
pub use publish::{Publisher, create_topic, publish};
