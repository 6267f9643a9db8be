//! The subcommands of the `enricher` binary (argument structs and the glue
//! from the library to the terminal).

pub mod bench;
pub mod bench_kafka;
pub mod bench_swap;
pub mod commands;
pub mod demo;
pub mod kafka;
pub mod plugin;
