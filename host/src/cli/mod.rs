//! The subcommands of the `enricher` binary (argument structs and the glue
//! from the library to the terminal). Benchmarks and load tools are another
//! binary, `enricher-bench` (host/bench/).

pub mod claims;
pub mod claims_sync;
pub mod commands;
pub mod config_check;
pub mod demo;
pub mod file_outputs;
mod file_resume;
pub mod file_run;
pub mod interrupt;
pub mod kafka;
pub mod logging;
pub mod named_io;
pub mod plugin;
pub mod plugin_build;
pub mod plugin_expect;
pub mod plugin_new;
pub mod plugin_sign;
pub mod plugin_test;
pub mod progress;
pub mod redrive;
pub mod report;
pub mod settings;
pub mod summary;
