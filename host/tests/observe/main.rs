//! `/metrics` and the status page of a running `enricher` process: in file
//! mode (events piped in at a steady rate) and in Kafka mode (the nisshi test
//! broker), the counters equal the records actually written, per output and
//! status; histograms have counts; labels carry no ids. The status page,
//! loaded in a real headless Chromium, shows the numbers `/metrics` shows.

#[path = "../support/mod.rs"]
mod support;

mod kafka;
mod page;
mod text_file;

use support::{host, prom};
