//! What the stream path measures for `/metrics` and the status page, kept
//! apart from both: [`StreamMeter`] (records in and out per status, plugin
//! trouble, commits, backpressure, consumer lag, pipeline state) and the
//! lock-free [`AtomicHistogram`]. The stream thread only adds to atomics;
//! the admin thread reads them when scraped (`admin::metrics_route`),
//! and a Kafka-mode run logs a one-line [`StatusLine`] from them (`status`).

mod histogram;
mod meter;
pub(crate) mod openmetrics;
mod status;

pub use histogram::{AtomicHistogram, HistogramSnapshot, IO_BUCKETS, LATENCY_BUCKETS};
pub use meter::{Lag, OTHER_STATUS, OUTPUTS, PipelineState, StreamMeter};
pub use status::{ChangelogLag, StatusLine, StatusLog};
