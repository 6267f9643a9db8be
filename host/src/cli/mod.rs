//! The subcommands of the `enricher` binary (argument structs and the glue
//! from the library to the terminal).

pub mod bench;
pub mod bench_kafka;
pub mod commands;
pub mod demo;
pub mod kafka;
